"""The Docker hosts of a stage, reached over SSH: read each one, send it release images.
Implements ``app.hosts.HostEngines``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from soakgate.adapters.docker import engine
from soakgate.adapters.docker.image_transfer import Progress, image_id, send_image
from soakgate.adapters.ssh.connection import Connections, connections, translated
from soakgate.core.host_health import HostReading
from soakgate.core.hosts import Host
from soakgate.core.release import Release
from soakgate.errors import SoakgateError

# The host's clock, then the free KiB of the file system holding the engine's data root.
_CLOCK_AND_DISK = "date +%s.%N && df -Pk \"$1\" | awk 'NR == 2 { print $4 }'"


class SshHostEngines:
    """Hosts through this process's SSH connections; images come from the local engine."""

    def __init__(self, pool: Connections | None = None) -> None:
        self._pool = pool or connections()

    def read(self, host: Host, digests: Sequence[str]) -> HostReading:
        began = time.monotonic()
        try:
            with translated(host):
                connection = self._pool.get(host)
                client = connection.docker
                version = client.version()
                root = str(client.info().get("DockerRootDir") or "/var/lib/docker")
                asked = time.time()
                status, out, err = connection.run(["sh", "-c", _CLOCK_AND_DISK, "sh", root])
                answered = time.time()
                images = {digest: image_id(client, digest) == digest for digest in digests}
        except SoakgateError as exc:
            return HostReading(host, error=exc.one_line(), seconds=time.monotonic() - began)
        lines = out.split()
        skew = free = None
        if status == 0 and len(lines) == 2:
            skew = float(lines[0]) - (asked + answered) / 2
            free = int(lines[1]) * 1024
        return HostReading(
            host,
            engine_version=str(version.get("Version")),
            api_version=str(version.get("ApiVersion")),
            free_bytes=free,
            clock_skew=skew,
            images=images,
            error=None if status == 0 else f"date/df on the host failed: {err.strip()[:200]}",
            seconds=time.monotonic() - began,
        )

    def send(self, host: Host, release: Release, progress: Progress | None = None) -> int:
        with translated(host):
            target = self._pool.get(host).docker
            sent = send_image(engine.client(), target, release.image, release.digest, progress)
        return sent.bytes

    def close(self) -> None:
        self._pool.close()
