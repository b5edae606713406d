"""A few Docker Engine API calls over the engine's socket with the standard library only.

The emergency path (flip the proxy to the warm slot) needs three calls: inspect two
containers and send the proxy a SIGHUP. The Docker SDK costs ~0.5 s of imports (requests,
urllib3 …) before the first call; this costs ~10 ms, so a rollback restores traffic sooner.

    engine = LightDocker()
    engine.inspect("app-production-blue")["State"]["Status"]     # "running", or None if absent
    engine.kill("proxy-production", "SIGHUP")
"""

from __future__ import annotations

import http.client
import json
import os
import socket
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

    def request(self, method: str, path: str) -> tuple[int, bytes]:
        connection = self._connection()
        try:
            connection.request(method, path, headers={"Host": "docker"})
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
            raise DockerError(f"inspecting {name} failed ({status}): {body[:200]!r}")
        data: dict[str, Any] = json.loads(body)
        return data

    def kill(self, name: str, signal: str) -> None:
        """Send ``signal`` to the container's main process."""
        status, body = self.request("POST", f"/containers/{quote(name)}/kill?signal={signal}")
        if status != 204:
            raise DockerError(f"signalling {name} ({signal}) failed ({status}): {body[:200]!r}")
