"""What ``soakgate hosts check`` reads from each Docker host of a stage, and its verdict.

    reading = HostReading(host, engine_version="20.10.24", api_version="1.41",
                          free_bytes=40 * GIB, clock_skew=0.01, images={"sha256:…": True})
    problems(reading)   # [] when the host can take a deploy

A host that could not be reached has ``error`` (the one-line reason and its fix) and nothing
else. Thresholds: a release image is 100 to 200 MB and a deploy keeps two slots plus the
previous images, so less than 2 GiB free is refused; a clock more than 2 s off makes the
ledger's and the soak's times of that host disagree with this machine's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from soakgate.core.hosts import Host
from soakgate.core.names import short_digest

GIB = 1024**3
MIN_FREE_BYTES = 2 * GIB
MAX_CLOCK_SKEW = 2.0  # seconds
MIN_API_VERSION = (1, 41)  # Debian's docker.io 20.10


@dataclass(frozen=True)
class HostReading:
    """One host as read over SSH (or the reason it could not be)."""

    host: Host
    engine_version: str | None = None
    api_version: str | None = None
    free_bytes: int | None = None  # on the engine's data root
    clock_skew: float | None = None  # seconds the host's clock is ahead of this machine's
    images: Mapping[str, bool] = field(default_factory=dict)  # release digest → present
    error: str | None = None
    seconds: float = 0.0  # how long reading it took, connecting included


def _api(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def problems(reading: HostReading) -> list[str]:
    """What keeps this host from taking a deploy, one short phrase each ([] when none)."""
    if reading.error is not None:
        return [reading.error]
    found = []
    if reading.api_version is None or _api(reading.api_version) < MIN_API_VERSION:
        wanted = ".".join(map(str, MIN_API_VERSION))
        found.append(f"engine API {reading.api_version or 'unknown'} < {wanted}")
    if reading.free_bytes is None:
        found.append("free disk unknown")
    elif reading.free_bytes < MIN_FREE_BYTES:
        found.append(f"{reading.free_bytes / GIB:.1f} GiB free < {MIN_FREE_BYTES // GIB} GiB")
    if reading.clock_skew is None:
        found.append("clock unknown")
    elif abs(reading.clock_skew) > MAX_CLOCK_SKEW:
        found.append(f"clock {reading.clock_skew:+.1f} s off (> {MAX_CLOCK_SKEW:.0f} s)")
    return found


def missing_images(reading: HostReading) -> list[str]:
    """The release digests the host lacks (short form), in the order asked."""
    return [short_digest(digest) for digest, present in reading.images.items() if not present]
