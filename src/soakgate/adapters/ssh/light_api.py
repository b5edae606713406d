"""The engine API calls of the flip path (inspect, exec, top) over one SSH connection, with
the standard library's HTTP client: each host's ``docker system dial-stdio`` in one channel,
kept open between calls (HTTP keep-alive). The Docker SDK's client costs ~0.4 s of imports
(requests, urllib3 …) before its first call; an emergency rollback on SSH hosts pays none.

    api = SshLightDocker(connection)          # connection: an SshConnection
    api.inspect("app-staging-blue")           # as LightDocker, on that host
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from typing import TYPE_CHECKING, Any

from soakgate.adapters.docker.light import LightDocker
from soakgate.adapters.ssh.connection import ssh_failure
from soakgate.errors import HostUnreachable, SoakgateError

if TYPE_CHECKING:
    from soakgate.adapters.ssh.connection import SshConnection

TIMEOUT = 30.0


class _DialStdio(http.client.HTTPConnection):
    """HTTP to the host's engine through ``docker system dial-stdio`` in an SSH channel (as
    the docker CLI and SDK reach an ssh:// engine)."""

    def __init__(self, transport: Any, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)
        self.transport = transport

    def connect(self) -> None:
        channel = self.transport.open_session(timeout=self.timeout)
        channel.settimeout(self.timeout)
        channel.exec_command("docker system dial-stdio")
        self.sock = channel


class SshLightDocker(LightDocker):
    """LightDocker on an SSH host: one dial-stdio channel, reused while its transport lives.
    A failure is one line naming the host (:func:`ssh_failure`), or the engine's refusal of
    this user; the next call dials again."""

    def __init__(self, connection: SshConnection) -> None:
        super().__init__(host=f"ssh://{connection.host.address}", timeout=TIMEOUT)
        self.connection = connection
        self.where = f" on {connection.host.address}:{connection.host.port}"
        self._lock = threading.Lock()
        self._http: _DialStdio | None = None

    @property
    def local(self) -> bool:
        return False

    def _dialled(self) -> _DialStdio:
        transport = self.connection.ssh().get_transport()
        if transport is None:
            raise EOFError("the SSH transport closed")
        if self._http is None or self._http.transport is not transport:
            self._drop()
            self._http = _DialStdio(transport, self.timeout)
        return self._http

    def _drop(self) -> None:
        if self._http is not None:
            self._http.close()
        self._http = None

    def _send(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        with self._lock:
            reused = self._http is not None and self._http.sock is not None
            try:
                return self._exchange(method, path, data, headers)
            except SoakgateError:
                self._drop()
                raise
            except Exception as exc:  # SSH, socket and HTTP failures alike: the channel is gone
                self._drop()
                if reused and method == "GET" and not isinstance(exc, TimeoutError):
                    # a kept channel the host closed meanwhile: a read is asked once more, on
                    # a new one (a POST is not: it may have been done; the flip's come right
                    # after a read, on the channel that read dialled)
                    with contextlib.suppress(Exception):
                        return self._exchange(method, path, data, headers)
                    self._drop()
                if not isinstance(exc, TimeoutError):
                    self._explain()  # the engine refusing this user says why, not "closed"
                    if self.connection.is_open():
                        exc = EOFError(f"dial-stdio's channel closed: {exc}")
                raise ssh_failure(self.connection.host, exc) from exc

    def _exchange(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        connection = self._dialled()
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        answer = response.status, response.read()
        if response.will_close:
            self._drop()
        return answer

    def _explain(self) -> None:
        """When dial-stdio failed because the host's engine does not answer this user, raise
        that (the CLI's own reason); return when it answers, or SSH itself is gone."""
        try:
            self.connection.check_engine()
        except HostUnreachable:
            if self.connection.is_open():
                raise  # SSH answers, the engine refuses: that is the line to show

    def close(self) -> None:
        with self._lock:
            self._drop()
