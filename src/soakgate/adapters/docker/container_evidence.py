"""A container's evidence for an incident — its inspect document and its last log lines —
over the engine's API with the standard library (:class:`LightDocker`), each call bounded by
the client's socket timeout; no Docker SDK import on the rollback path.

    containers = EngineContainers()                     # DOCKER_HOST, 5 s per call
    containers.inspect_container("app-dev-green")      # the inspect document, or None
    containers.log_tail("app-dev-green", 200)           # ["2026-12-05T00:45:12.1Z …", …]
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import quote

from soakgate.adapters.docker.light import LightDocker
from soakgate.errors import DockerError

TIMEOUT = 5.0  # seconds per engine call


def demultiplex(raw: bytes) -> str:
    """The text of a logs response: the engine frames the stdout and stderr of a container
    without a TTY (8-byte headers: stream, 0, 0, 0, big-endian length); a TTY's is raw."""
    if len(raw) < 8 or raw[0] not in (0, 1, 2) or raw[1:4] != b"\0\0\0":
        return raw.decode(errors="replace")
    parts, at = [], 0
    while at + 8 <= len(raw):
        size = int.from_bytes(raw[at + 4 : at + 8], "big")
        parts.append(raw[at + 8 : at + 8 + size])
        at += 8 + size
    return b"".join(parts).decode(errors="replace")


class EngineContainers:
    """Read-only evidence of containers on the engine named by DOCKER_HOST."""

    def __init__(self, host: str | None = None, timeout: float = TIMEOUT) -> None:
        self.light = LightDocker(host, timeout=timeout)

    def inspect_container(self, name: str) -> dict[str, Any] | None:
        return self.light.inspect(name)

    def log_tail(self, name: str, lines: int) -> list[str]:
        """The container's last ``lines`` log lines (stdout and stderr, with the engine's
        timestamps); DockerError when the engine refuses."""
        query = f"stdout=1&stderr=1&timestamps=1&tail={int(lines)}"
        status, body = self.light.request("GET", f"/containers/{quote(name)}/logs?{query}")
        if status != 200:
            message = body[:200].decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                message = str(json.loads(body).get("message", message))
            raise DockerError(f"logs of {name} failed ({status}): {message}")
        return demultiplex(body).splitlines()[-lines:] if lines > 0 else []
