"""``soakgate logs STAGE``: the last lines of a stage's proxy and both slots, on every host of
the stage (this machine's engine, or each SSH host in parallel). A container that is not there
is said so; a host that cannot be reached is said so and the others are still read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from soakgate.adapters.parallel import each
from soakgate.core.hosts import Host
from soakgate.core.names import StageNames
from soakgate.core.slots import SLOTS
from soakgate.errors import SoakgateError

LOCAL = "local"


class LogSource(Protocol):
    """Containers' logs on this machine's engine (``host`` None) or on an SSH host."""

    def tail(self, host: Host | None, container: str, lines: int) -> list[str] | None:
        """The last ``lines`` lines (timestamped), or None when there is no such container."""
        ...


@dataclass(frozen=True)
class ContainerLog:
    """One container's tail on one host; ``lines`` None: no such container; ``error``: the
    host could not be read."""

    where: str
    container: str
    lines: list[str] | None = None
    error: str | None = None


def stage_containers(names: StageNames) -> list[str]:
    """The proxy, then the blue and green slots."""
    return [names.proxy, *(names.app(slot) for slot in SLOTS)]


def stage_logs(
    names: StageNames, hosts: Sequence[Host], source: LogSource, lines: int
) -> list[ContainerLog]:
    """Every container's tail on every host (``hosts`` empty: this machine's engine)."""
    places: list[Host | None] = list(hosts) or [None]

    def read(host: Host | None) -> list[ContainerLog]:
        where = LOCAL if host is None else host.name
        found = []
        for container in stage_containers(names):
            try:
                found.append(ContainerLog(where, container, source.tail(host, container, lines)))
            except SoakgateError as exc:
                return [*found, ContainerLog(where, container, error=exc.one_line())]
        return found

    return [log for logs in each(read, places) for log in logs]
