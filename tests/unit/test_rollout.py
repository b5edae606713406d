"""A deploy over a stage's hosts in groups (``--limit N --wait S``) and all at once, over
in-memory hosts: which host switched when, and what goes back when a group or a watched host
fails (the real hosts: tests/faults/test_ssh_deploy.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from soakgate.adapters.stage.engine import AppSpec
from soakgate.adapters.stage.hosts_engine import HostsEngine
from soakgate.core.proxy_conf import Switch
from soakgate.core.rollout import Rollout, parse_rollout
from soakgate.core.validation import ConfigInvalid
from soakgate.errors import DeployFailed
from soakgate.pulumi import all_hosts
from soakgate.pulumi.all_hosts import converge_hosts
from soakgate.testing import FakeHostIO, FakeStageEngine

from .test_use_cases import NEW, OLD

SPEC = AppSpec(port=8000, health_path="/health", health_timeout=5)


@dataclass
class Answer:
    status: int
    slot: str | None


@dataclass
class HostIO(FakeHostIO):
    """A host whose proxy answers from the engine's active slot (unless ``broken``)."""

    engine: Any = None
    label: str = ""
    broken: bool = False
    events: list[str] = field(default_factory=list)

    def proxy_get(self, port: int, path: str) -> Answer | None:
        if self.broken:
            return Answer(502, None)
        return Answer(200, self.engine.read_slots().active)


class Host(FakeStageEngine):
    """OLD active in blue; a candidate of NEW starts in green (``sick``: never healthy)."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__("production")
        self.io = HostIO(engine=self, label=name, events=log)
        self.name, self.log, self.sick = name, log, False
        self.run("blue", OLD.digest)
        self.activate("blue")

    def start_candidate(self, slot: str, digest: str, spec: AppSpec) -> str:
        self.log.append(f"{self.name} start")
        self.candidate = (slot, digest)
        return f"{slot}-next"

    def wait_healthy(self, name: str, spec: AppSpec) -> float:
        if self.sick:
            raise DeployFailed(f"{name} did not answer {spec.health_path} within 5 s")
        return 0.1

    def adopt_candidate(self, slot: str) -> str:
        self.run(*self.candidate)
        return "id"

    def remove_candidate(self, slot: str) -> None:
        self.log.append(f"{self.name} candidate removed")

    def switch(self, move: Switch) -> float:
        seconds = super().switch(move)
        self.log.append(f"{self.name} -> {move.slot}")
        return seconds


def three_hosts() -> tuple[HostsEngine, list[Host], list[str]]:
    log: list[str] = []
    hosts = [Host(name, log) for name in ("h1", "h2", "h3")]
    return HostsEngine("production", 18082, {h.name: h for h in hosts}), hosts, log  # type: ignore[misc]


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(all_hosts, "WATCH_EVERY", 0.0)


def test_groups_of_limit_hosts_in_the_stages_order() -> None:
    assert Rollout(limit=2).groups(["a", "b", "c"]) == [["a", "b"], ["c"]]
    assert Rollout().groups(["a", "b", "c"]) == [["a", "b", "c"]]
    assert Rollout(limit=5).groups([]) == []


def test_one_group_at_a_time_each_switched_before_the_next_starts() -> None:
    engine, hosts, log = three_hosts()
    converge_hosts(engine, NEW.digest, SPEC, Rollout(limit=2, wait=0.01))
    assert log == ["h1 start", "h2 start", "h1 -> green", "h2 -> green", "h3 start", "h3 -> green"]
    assert [h.read_slots().active_slot.digest for h in hosts] == [NEW.digest] * 3  # type: ignore[union-attr]


def test_a_later_group_that_fails_puts_the_switched_groups_back() -> None:
    engine, hosts, log = three_hosts()
    hosts[2].sick = True
    with pytest.raises(DeployFailed) as failed:
        converge_hosts(engine, NEW.digest, SPEC, Rollout(limit=1))
    message = failed.value.message
    assert message.startswith("the rollout of production stopped at group 3 of 3 (h3): ")
    assert "did not start healthy on 1 of 3 hosts" in message and "no host switched" in message
    assert message.endswith("the 2 host(s) switched before (h1, h2) went back")
    assert [h.read_slots().active for h in hosts] == ["blue"] * 3
    assert "h3 -> green" not in log and "h3 candidate removed" in log


def test_a_watched_host_that_stops_answering_stops_the_rollout_and_all_go_back() -> None:
    engine, hosts, log = three_hosts()

    def breaks_once_switched(move: Switch, host: Host = hosts[0]) -> float:
        seconds = Host.switch(host, move)
        host.io.broken = move.slot == "green"  # its proxy answers 502 from now on
        return seconds

    hosts[0].switch = breaks_once_switched  # type: ignore[method-assign]
    with pytest.raises(DeployFailed) as failed:
        converge_hosts(engine, NEW.digest, SPEC, Rollout(limit=1, wait=5))
    assert "stopped at group 1 of 3 (h1): h1 stopped serving the new release while watched:" in (
        failed.value.message
    )
    assert "/health answered 502" in failed.value.message
    assert [h.read_slots().active for h in hosts] == ["blue"] * 3
    assert "h2 start" not in log  # the next group never started


def test_all_at_once_a_failed_host_switches_none() -> None:
    engine, hosts, log = three_hosts()
    hosts[1].sick = True
    with pytest.raises(DeployFailed) as failed:
        converge_hosts(engine, NEW.digest, SPEC)
    assert "no host switched" in failed.value.message and "rollout" not in failed.value.message
    assert not [line for line in log if "->" in line]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"limit": 0.5}, "limit should be a whole number of hosts >= 1"),
        ({"limit": -1}, "limit should be a whole number of hosts >= 1"),
        ({"limit": 1, "wait": 7200}, "wait should be 0 to 3600 seconds"),
        ({"wait": 10}, "wait needs a limit"),
        ({"limit": 1, "pause": 3}, "unknown key 'pause' (limit, wait)"),
        ({"limit": True}, "limit should be a number, got True"),
        ("inf:0", "limit should be a finite number, got 'inf'"),
        ({"limit": 1, "wait": float("nan")}, "wait should be a finite number"),
        ("x:1", "limit should be a number, got 'x'"),
        ([1, 2], "expected {limit: N, wait: SECONDS}"),
    ],
)
def test_a_bad_rollout_is_named(value: Any, message: str) -> None:
    with pytest.raises(ConfigInvalid) as refused:
        parse_rollout("soakgate:rollout", value)
    assert message in str(refused.value)


def test_a_rollout_reads_from_config_and_from_the_environment() -> None:
    assert parse_rollout("p", {"limit": 1, "wait": 30}) == Rollout(1, 30.0)
    assert parse_rollout("p", Rollout(2, 5).as_env()) == Rollout(2, 5.0)
    assert parse_rollout("p", "3") == Rollout(3, 0.0)


@pytest.mark.parametrize("wait", [0.0, 0.05, 0.3])
def test_a_host_that_fails_only_at_the_end_of_a_short_watch_is_caught(
    monkeypatch: pytest.MonkeyPatch, wait: float
) -> None:
    """Two looks at least, and a miss at the very end is looked at again: a host that breaks
    just as its watch ends does not let the next group start."""
    monkeypatch.setattr(all_hosts, "WATCH_EVERY", 0.02)
    engine, hosts, log = three_hosts()
    looks = {"h1": 0}
    answer = hosts[0].io.proxy_get

    def breaking(port: int, path: str) -> Answer | None:
        looks["h1"] += 1
        hosts[0].io.broken = looks["h1"] >= 2 and hosts[0].read_slots().active == "green"
        return answer(port, path)

    hosts[0].io.proxy_get = breaking  # type: ignore[method-assign]
    with pytest.raises(DeployFailed, match="h1 stopped serving the new release while watched"):
        converge_hosts(engine, NEW.digest, SPEC, Rollout(limit=1, wait=wait))
    assert "h2 start" not in log and [h.read_slots().active for h in hosts] == ["blue"] * 3
