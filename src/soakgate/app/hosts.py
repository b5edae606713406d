"""``soakgate hosts``: a stage's Docker hosts over SSH — are they fit to deploy to, and do they
hold the release images (sent from this machine when they do not).

    readings = check_hosts(project, "production", engines, releases)
    sent = send_releases(project, "production", engines, releases, on_progress)

Hosts are read and sent to in parallel (at most ``parallel.PARALLEL`` at once); a host that fails is
reported with its reason and the others still complete.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from soakgate.adapters.parallel import each
from soakgate.core.host_health import HostReading
from soakgate.core.hosts import Host
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.errors import ConfigError, HostUnreachable, SoakgateError

# (host, release, bytes sent so far, the image's size)
SendProgress = Callable[[Host, Release, int, int], None]


class HostEngines(Protocol):
    """The Docker engines of remote hosts."""

    def read(self, host: Host, digests: Sequence[str]) -> HostReading: ...

    def send(
        self, host: Host, release: Release, progress: Callable[[int, int], None] | None = None
    ) -> int: ...


@dataclass(frozen=True)
class Delivery:
    """One release's image on one host: bytes sent (0: it was there), or why it failed."""

    host: Host
    release: Release
    bytes: int = 0
    error: str | None = None


def stage_hosts(project: Project, stage: str, hosts: Sequence[Host]) -> tuple[Host, ...]:
    """The stage's SSH hosts; a clear refusal when the stage runs on this machine's engine."""
    if stage not in project.config.stages:
        known = ", ".join(project.config.stages)
        raise ConfigError(f"unknown stage {stage!r}", hint=f"known stages: {known}")
    if not hosts:
        raise ConfigError(
            f"stage {stage} runs on this machine's engine: it has no SSH hosts",
            hint=f"name them: pulumi config set --path 'soakgate:hosts[0]' ssh://USER@HOST"
            f" --stack {stage}",
        )
    return tuple(hosts)


def check_hosts(
    hosts: Sequence[Host], engines: HostEngines, releases: Sequence[Release]
) -> list[HostReading]:
    """Read every host (in parallel), in the stage's order."""
    digests = [release.digest for release in releases]
    return each(lambda host: engines.read(host, digests), hosts)


def send_releases(
    hosts: Sequence[Host],
    engines: HostEngines,
    releases: Sequence[Release],
    progress: SendProgress | None = None,
) -> list[Delivery]:
    """Make every host hold every release's image (hosts in parallel, releases in turn)."""

    def deliver(host: Host) -> list[Delivery]:
        done = []
        for release in releases:

            def step(sent: int, size: int, release: Release = release) -> None:
                if progress is not None:
                    progress(host, release, sent, size)

            try:
                done.append(Delivery(host, release, engines.send(host, release, step)))
            except SoakgateError as exc:
                done.append(Delivery(host, release, error=exc.one_line()))
                if isinstance(exc, HostUnreachable):  # its other releases would fail too
                    break
        return done

    return [delivery for found in each(deliver, hosts) for delivery in found]
