"""``soakgate logs``: every container of the stage on every host, a missing container and an
unreachable host each said in their place (over a fake log source)."""

from __future__ import annotations

from soakgate.app.logs import stage_containers, stage_logs
from soakgate.core.hosts import Host
from soakgate.core.names import StageNames
from soakgate.errors import HostUnreachable

NAMES = StageNames("production", "t1")
UP = Host("deploy", "10.0.0.21")
DOWN = Host("deploy", "10.0.0.22")


class FakeLogs:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, int]] = []

    def tail(self, host: Host | None, container: str, lines: int) -> list[str] | None:
        where = "local" if host is None else host.address
        self.asked.append((where, container, lines))
        if host == DOWN:
            raise HostUnreachable("10.0.0.22:22 does not answer SSH", hint="check it")
        if container.endswith("green"):
            return None
        return [f"{where} {container} line {n}" for n in range(lines)]


def test_a_local_stage_reads_proxy_blue_and_green_on_this_machine() -> None:
    found = stage_logs(NAMES, (), FakeLogs(), 2)
    assert [(log.where, log.container) for log in found] == [
        ("local", name) for name in stage_containers(NAMES)
    ]
    assert stage_containers(NAMES) == [
        "t1-proxy-production",
        "t1-app-production-blue",
        "t1-app-production-green",
    ]
    assert found[1].lines == [
        "local t1-app-production-blue line 0",
        "local t1-app-production-blue line 1",
    ]
    assert found[2].lines is None and found[2].error is None  # no green container


def test_a_host_that_cannot_be_read_is_said_and_the_others_are_read() -> None:
    source = FakeLogs()
    found = stage_logs(NAMES, (UP, DOWN), source, 1)
    up = [log for log in found if log.where == "10.0.0.21"]
    down = [log for log in found if log.where == "10.0.0.22"]
    assert len(up) == 3 and all(log.error is None for log in up)
    assert len(down) == 1  # the first failure ends that host's reading
    assert down[0].error == "10.0.0.22:22 does not answer SSH (hint: check it)"
    assert sum(1 for where, _, _ in source.asked if where == "10.0.0.22") == 1
