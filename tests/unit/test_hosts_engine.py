"""A stage on several hosts seen as one (HostsEngine) over in-memory engines: what the hosts
agree on, a split named host by host, a switch that reaches only some hosts, and the re-run of
an emergency rollback that converges them (the real thing: tests/faults/test_ssh_deploy.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.stage.hosts_engine import HostsEngine
from soakgate.app.rollback import journal_path
from soakgate.core.proxy_conf import Switch
from soakgate.core.slots import SlotTable
from soakgate.errors import HostUnreachable, PartialSwitch, StageSplit, SwitchRefused
from soakgate.testing import FakeStageEngine

from .test_use_cases import NEW, OLD, Setup


class HostEngine(FakeStageEngine):
    """A fake engine whose host can be down (its SSH does not answer)."""

    def __init__(self, stage: str, host: str) -> None:
        super().__init__(stage)
        self.host = host
        self.down = False

    def _reachable(self) -> None:
        if self.down:
            raise HostUnreachable(f"{self.host}:22 does not answer (connection refused)")

    def read_slots(self) -> SlotTable:
        self._reachable()
        return super().read_slots()

    def upstream(self) -> Any:
        self._reachable()
        return super().upstream()

    def switch(self, move: Switch) -> float:
        self._reachable()
        return super().switch(move)


def two_hosts(stage: str = "staging") -> tuple[HostsEngine, HostEngine, HostEngine]:
    """Two hosts serving OLD in blue with NEW warm in green."""
    one, two = HostEngine(stage, "h1"), HostEngine(stage, "h2")
    for engine in (one, two):
        engine.run("blue", OLD.digest)
        engine.run("green", NEW.digest)
        engine.activate("blue")
    return HostsEngine(stage, 18080, {"h1": one, "h2": two}), one, two  # type: ignore[dict-item]


def to_green() -> Switch:
    return Switch("green", NEW.digest, 8000, "/health")


def test_hosts_that_agree_read_as_one_table() -> None:
    engine, one, _ = two_hosts()
    table = engine.read_slots()
    assert table.active == "blue" and table.blue.digest == OLD.digest
    assert engine.upstream() == one.upstream()


def test_hosts_that_serve_different_slots_are_a_split_named_host_by_host() -> None:
    engine, _, two = two_hosts()
    two.activate("green")
    with pytest.raises(StageSplit) as split:
        engine.read_slots()
    assert split.value.message == (
        f"the hosts of staging are split: h1 serves blue ({OLD.digest[:19]}), warm green"
        f" ({NEW.digest[:19]}), h2 serves green ({NEW.digest[:19]}), warm blue"
        f" ({OLD.digest[:19]})"
    )


def test_a_slot_stopped_on_one_host_is_no_split_but_not_running_for_the_stage() -> None:
    engine, _, two = two_hosts()
    two.run("green", NEW.digest, running=False)  # the warm slot stopped on h2 only
    table = engine.read_slots()
    assert table.active == "blue" and table.blue.running and not table.green.running
    assert table.green.digest == NEW.digest


def test_a_switch_moves_every_host() -> None:
    engine, one, two = two_hosts()
    engine.read_slots()
    engine.switch(to_green())
    assert one.switches == two.switches == [("green", NEW.digest)]


def test_a_host_that_is_down_is_named_and_the_others_still_switch() -> None:
    engine, one, two = two_hosts()
    two.down = True
    assert engine.read_slots().active == "blue"  # read from the host that answers
    with pytest.raises(PartialSwitch) as partial:
        engine.switch(to_green())
    assert partial.value.message.startswith("1 of 2 hosts of staging switched to green")
    assert "h2: h2:22 does not answer" in partial.value.message
    assert one.table.active == "green" and two.table.active == "blue"
    two.down = False
    with pytest.raises(StageSplit):  # until converged, the stage reads as split
        engine.read_slots()
    assert engine.converge(NEW.digest, 8000, "/health") == ["h2"]
    assert engine.read_slots().active == "green"


def test_when_no_host_switches_the_first_refusal_is_raised_as_it_is() -> None:
    engine, one, two = two_hosts()
    engine.read_slots()
    one.unhealthy.add("green")
    two.unhealthy.add("green")
    with pytest.raises(SwitchRefused, match="the green slot of staging is not healthy"):
        engine.switch(to_green())
    assert one.table.active == two.table.active == "blue"


def test_converge_switches_nothing_when_no_host_serves_the_release_yet() -> None:
    engine, one, two = two_hosts()
    assert engine.converge(NEW.digest, 8000, "/health") == []
    assert one.switches == two.switches == []


def test_a_host_without_the_release_in_a_running_slot_is_not_converged() -> None:
    engine, one, two = two_hosts()
    one.activate("green")
    two.run("green", NEW.digest, running=False)
    with pytest.raises(PartialSwitch, match="h2: no running slot holds"):
        engine.converge(NEW.digest, 8000, "/health")
    assert two.table.active == "blue"


def test_an_emergency_rollback_with_a_host_down_converges_on_the_rerun(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)  # NEW active, OLD warm
    single = world.engines["staging"]
    one, two = HostEngine("staging", "h1"), HostEngine("staging", "h2")
    for engine in (one, two):
        engine.table = copy.deepcopy(single.table)
    hosts = HostsEngine("staging", 18080, {"h1": one, "h2": two})  # type: ignore[dict-item]
    world.engines["staging"] = hosts  # type: ignore[assignment]
    two.down = True
    with pytest.raises(PartialSwitch) as partial:
        world.rollback("staging", emergency=True)
    assert "h2: h2:22 does not answer" in partial.value.message
    assert one.table.active_slot.digest == OLD.digest  # type: ignore[union-attr]
    assert two.table.active_slot.digest == NEW.digest  # type: ignore[union-attr]
    assert journal_path(tmp_path, "staging").exists()  # the target is kept for the re-run
    assert world.events("rollback") == []  # not on the ledger until every host is back
    with pytest.raises(PartialSwitch):  # still down: the re-run says so and keeps the journal
        world.rollback("staging", emergency=True)
    assert journal_path(tmp_path, "staging").exists()
    two.down = False
    result = world.rollback("staging", emergency=True)
    assert result.plan.to_release == OLD.digest and result.resumed
    assert two.table.active_slot.digest == OLD.digest  # type: ignore[union-attr]
    assert two.switches == [("blue", OLD.digest)]  # OLD went into blue, NEW into green
    (event,) = world.events("rollback")
    assert (event.from_release, event.to_release) == (NEW.digest, OLD.digest)
    assert not journal_path(tmp_path, "staging").exists()


def test_a_host_whose_api_is_away_but_ssh_is_up_is_flipped_by_the_runbook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """h2's engine reads fail while its SSH connection is up: h1 switches, h2 is handed to
    the host-side runbook with the release every host flips from and to; it counts as done."""
    from soakgate.adapters.stage import api_fallback

    engine, one, two = two_hosts()
    warned: list[str] = []
    engine.warn = warned.append
    two.down = True  # its reads (the Docker API) fail
    asked: list[tuple[str, str, str | None]] = []

    def runbook(host: Any, move: Switch, expect_from: str | None) -> dict[str, Any]:
        asked.append((host.host, move.digest, expect_from))
        host.activate("green")
        return {"from": "blue", "to": "green", "seconds": 0.9, "flip_seconds": 0.4}

    monkeypatch.setattr(api_fallback, "ssh_of", lambda host: host is two or None)
    monkeypatch.setattr(api_fallback, "fallback_flip", runbook)
    engine.read_slots()
    assert engine.switch(to_green()) >= 0.4
    assert asked == [("h2", NEW.digest, OLD.digest)]
    assert one.table.active == two.table.active == "green"
    assert warned and warned[0].startswith("h2: its Docker API did not answer, so the host-side")


def test_a_host_whose_ssh_is_down_too_is_not_handed_to_the_runbook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from soakgate.adapters.stage import api_fallback

    engine, one, two = two_hosts()
    two.down = True
    monkeypatch.setattr(api_fallback, "ssh_of", lambda host: None)
    monkeypatch.setattr(api_fallback, "fallback_flip", lambda *a: pytest.fail("not called"))
    engine.read_slots()
    with pytest.raises(PartialSwitch) as partial:
        engine.switch(to_green())
    assert "h2: h2:22 does not answer" in partial.value.message
    assert one.table.active == "green" and two.table.active == "blue"
