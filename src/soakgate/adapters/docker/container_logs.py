"""Containers' logs through the Docker SDK, on this machine's engine or over an SSH host's
connection (implements ``app.logs.LogSource``)."""

from __future__ import annotations

from soakgate.adapters.docker import engine
from soakgate.adapters.ssh.connection import Connections, connections, translated
from soakgate.core.hosts import Host


class DockerLogs:
    def __init__(self, pool: Connections | None = None) -> None:
        self._pool = pool

    def tail(self, host: Host | None, container: str, lines: int) -> list[str] | None:
        import docker.errors

        if host is None:
            client = engine.client()
            try:
                found = client.containers.get(container)
            except docker.errors.NotFound:
                return None
            raw = found.logs(tail=lines, timestamps=True)
        else:
            pool = self._pool or connections()
            with translated(host):
                try:
                    found = pool.get(host).docker.containers.get(container)
                except docker.errors.NotFound:
                    return None
                raw = found.logs(tail=lines, timestamps=True)
        text = bytes(raw).decode(errors="replace")
        return text.splitlines()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
