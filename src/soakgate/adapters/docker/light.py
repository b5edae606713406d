"""A few Docker Engine API calls over the engine's socket with the standard library only.

The emergency path (flip the proxy to the warm slot) needs three calls: inspect two
containers and send the proxy a SIGHUP (``reload``: never through the engine's kill API, which
Docker 20.10 counts as a manual stop, after which a crashed proxy is not restarted). The
Docker SDK costs ~0.5 s of imports (requests, urllib3 …) before the first call; this costs
~10 ms, so a rollback restores traffic sooner.

    engine = LightDocker()
    engine.inspect("app-production-blue")["State"]["Status"]     # "running", or None if absent
    engine.reload("proxy-production")     # SIGHUP to its main process
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from soakgate.errors import DockerError

DEFAULT_HOST = "unix:///var/run/docker.sock"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class LightDocker:
    """Inspect and signal containers; enough for reading a stage and flipping its proxy."""

    def __init__(self, host: str | None = None, timeout: float = 10.0) -> None:
        self.host = host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        self.timeout = timeout
        self.where = ""  # " on HOST:PORT" for a remote host's engine, in messages

    def _connection(self) -> http.client.HTTPConnection:
        url = urlparse(self.host)
        if url.scheme == "unix":
            return _UnixConnection(url.path, self.timeout)
        if url.scheme in ("tcp", "http"):
            return http.client.HTTPConnection(
                url.hostname or "localhost", url.port or 2375, timeout=self.timeout
            )
        raise DockerError(
            f"DOCKER_HOST={self.host}: only unix:// and tcp:// engines are supported here"
        )

    @property
    def local(self) -> bool:
        """A unix-socket engine runs on this host: its containers' PIDs are ours to see."""
        return urlparse(self.host).scheme == "unix"

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of one API call; ``body`` is sent as JSON."""
        headers = {"Host": "docker"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return self._send(method, path, data, headers)

    def _send(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        connection = self._connection()
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        except OSError as exc:
            raise DockerError(
                f"the Docker engine does not answer at {self.host} ({exc})", hint="run ./bootstrap"
            ) from exc
        finally:
            connection.close()

    def inspect(self, name: str) -> dict[str, Any] | None:
        """The container's inspect document, or None when there is no such container."""
        status, body = self.request("GET", f"/containers/{quote(name)}/json")
        if status == 404:
            return None
        if status != 200:
            raise DockerError(f"inspecting {name}{self.where} failed ({status}): {body[:200]!r}")
        data: dict[str, Any] = json.loads(body)
        return data

    def reload(self, name: str) -> None:
        """SIGHUP the container's main process (nginx re-reads its files), keeping its restart
        policy in force: from this host when the engine is local and the PID is the
        container's (its cgroup names the container), else by ``kill -HUP 1`` exec'd inside."""
        data = self.inspect(name)
        if data is None or not data.get("State", {}).get("Running"):
            raise DockerError(f"{name}{self.where} is not running: it cannot be reloaded")
        pid = int(data["State"].get("Pid") or 0)
        if self.local and pid > 0 and _process_of(pid, str(data.get("Id", ""))):
            try:
                os.kill(pid, signal.SIGHUP)
                return
            except (PermissionError, ProcessLookupError):
                pass  # another user's process, or it just ended: ask the engine
        self.exec_detached(name, ["sh", "-c", "kill -HUP 1"])

    def accepting_workers(self, name: str) -> frozenset[int] | None:
        """PIDs of the nginx workers in the container that still accept connections: a worker
        told to quit by a reload retitles itself "... is shutting down" as it closes its
        listening socket. None when the processes cannot be seen from here (a remote engine)."""
        if not self.local:
            return None
        data = self.inspect(name)
        pid = int(((data or {}).get("State") or {}).get("Pid") or 0)
        if pid <= 0 or not _process_of(pid, str((data or {}).get("Id", ""))):
            return None
        return frozenset(
            child
            for child in _children(pid)
            if (title := _title(child)).startswith("nginx: worker process")
            and "shutting down" not in title
        )

    def exec_detached(self, name: str, command: list[str]) -> None:
        """Start ``command`` in the running container, without waiting for it."""
        status, body = self.request(
            "POST",
            f"/containers/{quote(name)}/exec",
            {"Cmd": command, "AttachStdout": False, "AttachStderr": False},
        )
        if status != 201:
            raise DockerError(f"exec in {name}{self.where} failed ({status}): {body[:200]!r}")
        exec_id = json.loads(body)["Id"]
        status, body = self.request("POST", f"/exec/{quote(exec_id)}/start", {"Detach": True})
        if status != 200:
            raise DockerError(f"exec in {name}{self.where} failed ({status}): {body[:200]!r}")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc/*/stat: field 4 is the parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        fields = stat[stat.rfind(")") + 2 :].split()  # the command name may hold spaces
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def _title(pid: int) -> str:
    """A process's command line as it shows it (nginx rewrites its own to name its role)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _process_of(pid: int, container_id: str) -> bool:
    """Is ``pid`` (as this host sees it) a process of the container ``container_id``?"""
    if not container_id:
        return False
    try:
        return container_id in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False
