"""What a stage's blue/green operations need of the Docker host they run on, in two kinds:
this machine (``LocalHost``: the engine's socket, files, loopback) and a host reached over SSH
(``SshHost``: the same through one SSH connection).

    io = LocalHost()                       # or SshHost(connections().get(host))
    io.inspect("proxy-staging")            # the container's inspect document, or None
    io.write_text(conf_dir / "upstream.conf", text)   # atomically, on that host
    io.get("172.18.0.3", 8000, "/health")  # an HTTP GET as that host sees the address
    io.proxy_get(18081, "/health")         # through the stage's proxy on that host

On an SSH host, paths relative to the login directory are kept relative (the remote shell
starts there); ``absolute`` resolves them for the engine's bind mounts. HTTP to a container's
address rides a ``direct-tcpip`` channel of the connection (sshd's ``AllowTcpForwarding``,
on by default), so the control machine never needs a route into the host's networks.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.docker.light import LightDocker
from soakgate.core.proxy_conf import SLOT_HEADER, UPSTREAM_HEADER
from soakgate.errors import DockerError, HostUnreachable

if TYPE_CHECKING:
    import docker

    from soakgate.adapters.ssh.connection import SshConnection


@dataclass(frozen=True)
class Answer:
    """One response through (or around) a proxy: status, slot header, address that answered."""

    status: int
    slot: str | None
    upstream: str | None  # "172.18.0.3:8000": the address nginx connected to


def read_answer(connection: http.client.HTTPConnection, path: str) -> Answer | None:
    """One GET on ``connection`` (closed afterwards); None when nothing answers."""
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return Answer(
            response.status, response.getheader(SLOT_HEADER), response.getheader(UPSTREAM_HEADER)
        )
    except (OSError, EOFError, http.client.HTTPException, ValueError):
        return None
    finally:
        connection.close()


def http_answer(host: str, port: int, path: str, timeout: float = 2.0) -> Answer | None:
    """One GET from this machine on a fresh connection; None when nothing answers."""
    return read_answer(http.client.HTTPConnection(host, port, timeout=timeout), path)


class HostIO(Protocol):
    """The host side of a stage's operations."""

    @property
    def label(self) -> str:
        """ "" for this machine, else the host's name (for messages)."""
        ...

    @property
    def local(self) -> bool: ...

    def docker(self) -> docker.DockerClient: ...

    def inspect(self, name: str) -> dict[str, Any] | None: ...

    def reload(self, name: str) -> None: ...

    def accepting_workers(self, name: str) -> frozenset[int] | None: ...

    def read_text(self, path: Path) -> str | None: ...

    def exists(self, path: Path) -> bool: ...

    def write_text(self, path: Path, text: str) -> None: ...

    def absolute(self, path: Path) -> Path: ...

    def get(self, address: str, port: int, path: str, timeout: float = 2.0) -> Answer | None: ...

    def proxy_get(self, port: int, path: str, timeout: float = 2.0) -> Answer | None: ...

    def guarded(self) -> AbstractContextManager[None]:
        """Failures reaching the host inside the block as one-line SoakgateErrors."""
        ...


class LocalHost:
    """This machine: the engine's socket (LightDocker for the flip path), files, loopback."""

    label = ""
    local = True

    def __init__(self) -> None:
        self.light = LightDocker()

    def docker(self) -> docker.DockerClient:
        from soakgate.adapters.docker import engine as docker_engine

        return docker_engine.client()

    def inspect(self, name: str) -> dict[str, Any] | None:
        return self.light.inspect(name)

    def reload(self, name: str) -> None:
        self.light.reload(name)

    def accepting_workers(self, name: str) -> frozenset[int] | None:
        return self.light.accepting_workers(name)

    def read_text(self, path: Path) -> str | None:
        try:
            return path.read_text()
        except (OSError, UnicodeDecodeError):
            return None

    def exists(self, path: Path) -> bool:
        return path.exists()

    def write_text(self, path: Path, text: str) -> None:
        """Atomically, readable by the proxy's unprivileged nginx (0644: no secret in it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text, mode=0o644)

    def absolute(self, path: Path) -> Path:
        return path.absolute()

    def get(self, address: str, port: int, path: str, timeout: float = 2.0) -> Answer | None:
        return http_answer(address, port, path, timeout)

    def proxy_get(self, port: int, path: str, timeout: float = 2.0) -> Answer | None:
        return http_answer("127.0.0.1", port, path, timeout)

    def guarded(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


MAX_ANSWER = 1 << 20  # bytes of a probe's answer read at most (health answers are small)


class _Recorded:
    """A whole HTTP response already read, for http.client to parse."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def parse_answer(data: bytes) -> Answer | None:
    """The Answer in a whole HTTP response (as read to the connection's end), or None."""
    response = http.client.HTTPResponse(_Recorded(data))  # type: ignore[arg-type]
    try:
        response.begin()
        response.read()
    except (http.client.HTTPException, ValueError):
        return None
    return Answer(
        response.status, response.getheader(SLOT_HEADER), response.getheader(UPSTREAM_HEADER)
    )


def _read_to_end(channel: Any, deadline: float) -> bytes:
    """Everything the channel sends until it closes (the request said Connection: close)."""
    data = bytearray()
    while len(data) < MAX_ANSWER:
        if time.monotonic() > deadline:
            raise TimeoutError("no end of the answer in time")
        chunk = channel.recv(65536)
        if not chunk:
            break
        data += chunk
    return bytes(data)


# Written to a temporary name beside the file, then renamed: a reader sees the old or the new.
_WRITE = (
    'umask 022; mkdir -p -- "$(dirname -- "$1")" && cat > "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"'
)


class SshHost:
    """A Docker host reached over one SSH connection."""

    local = False

    def __init__(self, connection: SshConnection) -> None:
        self.connection = connection
        self._home: str | None = None

    @property
    def label(self) -> str:
        return self.connection.host.name

    def _where(self) -> str:
        return f"{self.connection.host.address}:{self.connection.host.port}"

    def docker(self) -> docker.DockerClient:
        return self.connection.docker

    def inspect(self, name: str) -> dict[str, Any] | None:
        return self.connection.light.inspect(name)

    def reload(self, name: str) -> None:
        """SIGHUP to the container's main process, from inside it (the engine's kill API
        would count as a manual stop: see LightDocker.reload)."""
        self.connection.light.reload(name)

    def accepting_workers(self, name: str) -> frozenset[int] | None:
        """The nginx workers still accepting, from the engine's process list of the container
        (``docker top``: ps on the host); None when it cannot be read."""
        data = self.inspect(name)
        master = int(((data or {}).get("State") or {}).get("Pid") or 0)
        if master <= 0:
            return None
        status, body = self.connection.light.request(
            "GET", f"/containers/{quote(name)}/top?ps_args={quote('-o pid,ppid,args')}"
        )
        if status != 200:
            return None
        top = json.loads(body)
        titles = [str(title).upper() for title in top.get("Titles") or []]
        if not {"PID", "PPID"} <= set(titles):
            return None
        pid_at, ppid_at, args_at = titles.index("PID"), titles.index("PPID"), len(titles) - 1
        return frozenset(
            int(row[pid_at])
            for row in top.get("Processes") or []
            if str(row[ppid_at]) == str(master)
            and str(row[args_at]).startswith("nginx: worker process")
            and "shutting down" not in str(row[args_at])
        )

    def _run(self, argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
        return self.connection.run(argv, timeout=30.0, stdin=stdin)

    def read_text(self, path: Path) -> str | None:
        status, out, _ = self._run(["cat", "--", str(path)])
        return out if status == 0 else None

    def exists(self, path: Path) -> bool:
        status, _, _ = self._run(["test", "-e", str(path)])
        return status == 0

    def write_text(self, path: Path, text: str) -> None:
        status, _, err = self._run(["sh", "-c", _WRITE, "sh", str(path)], text.encode())
        if status != 0:
            raise DockerError(
                f"cannot write {path} on {self._where()}: {' '.join(err.split())[:200]}",
                hint=f"let {self.connection.host.user} write there (playbooks/docker-host.yml)",
            )

    def home(self) -> str:
        """The login directory of the host's user (asked once)."""
        if self._home is None:
            status, out, err = self._run(["sh", "-c", 'printf %s "$HOME"'])
            if status != 0 or not out.startswith("/"):
                raise HostUnreachable(
                    f"{self._where()} did not tell its login directory ({err.strip() or out!r})",
                    hint="check the user's shell and HOME on that host",
                )
            self._home = out
        return self._home

    def absolute(self, path: Path) -> Path:
        return path if path.is_absolute() else Path(PurePosixPath(self.home()) / path)

    def get(self, address: str, port: int, path: str, timeout: float = 2.0) -> Answer | None:
        """A GET to ``address:port`` as the host reaches it, through a direct-tcpip channel;
        None when nothing answers (or SSH does not carry it)."""
        try:
            transport = self.connection.ssh().get_transport()
            if transport is None:
                return None
            channel = transport.open_channel(
                "direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=timeout
            )
        except Exception:  # paramiko's ChannelException, SSH and socket errors alike
            return None
        try:
            channel.settimeout(timeout)
            request = f"GET {path} HTTP/1.1\r\nHost: {address}:{port}\r\nConnection: close"
            channel.sendall(f"{request}\r\n\r\n".encode())
            data = _read_to_end(channel, time.monotonic() + timeout)
        except (OSError, EOFError):
            return None
        finally:
            channel.close()
        return parse_answer(data)

    def proxy_get(self, port: int, path: str, timeout: float = 2.0) -> Answer | None:
        return self.get("127.0.0.1", port, path, timeout)

    def guarded(self) -> AbstractContextManager[None]:
        """SSH, connection and engine failures inside the block as ssh_failure lines (the
        Docker SDK's calls over a cut connection raise paramiko's and requests' errors)."""
        from soakgate.adapters.ssh.connection import translated

        return translated(self.connection.host)
