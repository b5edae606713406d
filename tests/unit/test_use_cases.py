"""deploy, promote, rollback (plan, journal, resume, adopt) and drill against the fakes of
their ports: no Docker engine, no Pulumi; the state database is real SQLite in a temp dir.
The integration tests run the same use cases against the real engine and ``pulumi up``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from soakgate.adapters.docker import throttle_launcher
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.deploy import DeployRequest, deploy
from soakgate.app.drill import drill
from soakgate.app.ports import World
from soakgate.app.promote import promote
from soakgate.app.rollback import (
    RollbackRequest,
    journal_path,
    pending_runbook_flip,
    rollback,
    write_journal,
)
from soakgate.core.config import DrillConfig, ProjectConfig
from soakgate.core.evidence import Evidence
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.core.rollback import RollbackPlan
from soakgate.core.rollout import Rollout
from soakgate.core.throttle import throttle_lines
from soakgate.errors import (
    BadRelease,
    ConfigError,
    DeployFailed,
    GateFailed,
    LockHeld,
    RollbackFailed,
)
from soakgate.testing import FakeStacks, FakeStageEngine, FakeStages

ROOT = Path("/nonexistent-project")
CONFIG = ProjectConfig()
OLD = Release("sha256:" + "1" * 64, "3.12.8", "1.0.0", "r1", "2026-11-01", 10, "svc:1.0.0")
NEW = Release("sha256:" + "2" * 64, "3.14.2", "2.0.0", "r2", "2026-12-01", 10, "svc:2.0.0")
NEWER = Release("sha256:" + "3" * 64, "3.14.2", "2.1.0", "r3", "2026-12-02", 10, "svc:2.1.0")


class Setup:
    """A state dir with the releases recorded, fakes for the stages and their stacks."""

    def __init__(self, state: Path, fail: str | None = None) -> None:
        self.state = state
        with StateDB.open(state) as db:
            for release in (OLD, NEW, NEWER):
                db.record_release(release)
        self.engines = {stage: FakeStageEngine(stage) for stage in ("dev", "staging")}
        self.stages = FakeStages(self.engines, {OLD.digest, NEW.digest, NEWER.digest})
        self.stacks = FakeStacks(self.stages, fail)
        self.world = World(self.stages, self.stacks)

    def deploy(self, stage: str, release: Release, **options: object) -> None:
        """Deploy as a fixture: staging's gates are bypassed on the record unless the test
        names its own ``overrides``; the gate tests below judge them for real."""
        options.setdefault("overrides", {"all": "unit test fixture"})
        request = DeployRequest(stage, release=release.digest, **options)  # type: ignore[arg-type]
        deploy(Project(ROOT, CONFIG, self.state), request, world=self.world)

    def rollback(self, stage: str, **options: object):  # type: ignore[no-untyped-def]
        request = RollbackRequest(stage, **options)  # type: ignore[arg-type]
        return rollback(Project(ROOT, CONFIG, self.state), request, world=self.world)

    def events(self, kind: str | None = None) -> list:  # type: ignore[type-arg]
        with LedgerStore.open(self.state) as ledger:
            return [event for event in ledger.events() if kind is None or event.kind == kind]

    def active(self, stage: str) -> str | None:
        slot = self.engines[stage].read_slots().active_slot
        return slot.digest if slot else None


# --- deploy ------------------------------------------------------------------------------------


def test_deploy_runs_up_under_the_lock_and_records_it(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    assert world.active("staging") == NEW.digest
    assert world.stacks.ups == [("staging", OLD.digest), ("staging", NEW.digest)]
    assert world.stages.locks == ["soakgate deploy staging"] * 2 and not world.stages.held
    (first, second) = world.events("deploy")
    assert (first.from_release, first.to_release) == (None, OLD.digest)
    assert (second.from_release, second.to_release) == (OLD.digest, NEW.digest)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda w: w.stages.images.discard(NEW.digest), "is not present on this Docker host"),
        (lambda w: w.stages.taken.update(staging=18081), "port 18081 of stage staging is taken"),
        (lambda w: w.stages.held.add("staging"), "stage staging is locked"),
    ],
    ids=["image-missing", "port-taken", "lock-held"],
)
def test_a_deploy_refused_before_up_changes_nothing(tmp_path: Path, spoil, message) -> None:  # type: ignore[no-untyped-def]
    world = Setup(tmp_path)
    spoil(world)
    with pytest.raises((ConfigError, LockHeld)) as raised:
        world.deploy("staging", NEW)
    assert message.replace(" is taken", " is already taken") in raised.value.message
    assert world.stacks.ups == [] and world.events() == []


def test_a_failed_up_is_a_refusal_on_the_ledger_and_the_stack_unchanged(tmp_path: Path) -> None:
    world = Setup(tmp_path, fail="the health gate timed out")
    with pytest.raises(DeployFailed, match="health gate timed out"):
        world.deploy("staging", NEW)
    (refusal,) = world.events("refusal")
    assert refusal.data["action"] == "deploy" and world.events("deploy") == []
    assert world.stacks.config("staging") == {} and world.active("staging") is None


def test_a_quarantined_release_needs_allow_bad_with_a_reason(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    world.rollback("staging", emergency=True)  # NEW is now quarantined
    with pytest.raises(BadRelease, match="is quarantined"):
        world.deploy("staging", NEW)
    with pytest.raises(ConfigError, match="--allow-bad needs --reason"):
        world.deploy("staging", NEW, allow_bad=True)
    world.deploy("staging", NEW, allow_bad=True, reason="hotfix verified by hand")
    assert world.active("staging") == NEW.digest
    (lifted,) = [e for e in world.events("override") if e.data["gate"] == "quarantine"]
    assert lifted.data["reason"] == "hotfix verified by hand"


# --- rollback ----------------------------------------------------------------------------------


def test_emergency_rollback_flips_to_the_warm_slot_and_finishes(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    result = world.rollback("staging", emergency=True)
    assert world.active("staging") == OLD.digest
    assert result.plan.path == "emergency" and result.reconciled
    assert result.budget is not None and result.budget.within
    assert world.stacks.config("staging")["release"] == OLD.digest  # reconciled
    (event,) = world.events("rollback")
    assert (event.from_release, event.to_release) == (NEW.digest, OLD.digest)
    assert not journal_path(tmp_path, "staging").exists()
    assert NEW.digest in (tmp_path / "bad-releases").read_text()


def test_a_second_rollback_never_restores_the_release_rolled_back_from(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    world.rollback("staging", emergency=True)  # OLD active, NEW warm and quarantined
    with pytest.raises(RollbackFailed) as raised:
        world.rollback("staging", emergency=True)
    assert world.active("staging") == OLD.digest  # traffic stays
    assert "no rollback of staging" in raised.value.message or "quarantined" in (
        raised.value.message
    )


def test_a_cold_rollback_deploys_the_named_release(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    world.deploy("staging", NEWER)  # slots: NEW (warm) and NEWER; OLD is in neither
    result = world.rollback("staging", to=OLD.digest)
    assert result.plan.path == "cold" and world.active("staging") == OLD.digest
    # every host at once, whatever rollout the stack config names (a rollback races its budget)
    assert world.stacks.rollouts[-1] == Rollout() and world.stacks.rollouts[0] is None


def test_an_unhealthy_warm_slot_switches_nothing_and_leaves_no_journal(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    world.engines["staging"].unhealthy.add("blue")
    with pytest.raises(Exception, match="not healthy"):
        world.rollback("staging", emergency=True)
    assert world.active("staging") == NEW.digest
    assert not journal_path(tmp_path, "staging").exists() and world.events("rollback") == []


def test_a_rollback_killed_after_its_flip_is_finished_not_redone(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    # the state a kill leaves right after the switch: journal written, traffic on OLD
    plan = RollbackPlan("staging", "emergency", NEW.digest, OLD.digest, "manual rollback", ())
    write_journal(tmp_path, plan, 1000.0, fast=True, restored_at=1000.4)
    world.engines["staging"].activate("blue")
    switches = len(world.engines["staging"].switches)
    result = world.rollback("staging", emergency=True)
    assert len(world.engines["staging"].switches) == switches  # no second flip
    assert result.seconds_to_restored == pytest.approx(0.4)
    (event,) = world.events("rollback")
    assert event.to_release == OLD.digest and not journal_path(tmp_path, "staging").exists()


def test_a_journal_of_a_rollback_killed_before_its_flip_is_dropped(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    plan = RollbackPlan("staging", "emergency", NEW.digest, OLD.digest, "manual rollback", ())
    write_journal(tmp_path, plan, 1000.0)  # traffic still on NEW: nothing happened
    result = world.rollback("staging", emergency=True)
    assert not result.resumed and world.active("staging") == OLD.digest
    assert len(world.events("rollback")) == 1


def test_a_failed_reconcile_keeps_the_journal_and_the_rerun_finishes(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    world.stacks.fail = "the stack is locked"
    with pytest.raises(RollbackFailed) as raised:
        world.rollback("staging", emergency=True)
    assert raised.value.message.startswith(f"traffic is on {OLD.digest[:19]}")
    assert "Pulumi reconcile of staging failed" in raised.value.message
    assert journal_path(tmp_path, "staging").exists()
    world.stacks.fail = None
    world.rollback("staging", emergency=True)
    assert world.stacks.config("staging")["release"] == OLD.digest
    assert not journal_path(tmp_path, "staging").exists()
    assert [event.to_release for event in world.events("rollback")] == [OLD.digest] * 2


def test_a_flip_made_by_the_host_side_runbook_is_adopted(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    world.engines["staging"].activate("blue")  # the runbook flipped to OLD
    entry = {
        "stage": "staging",
        "from_release": NEW.digest,
        "to_release": OLD.digest,
        "time": "2026-12-04T03:00:00+00:00",
        "seconds": 0.8,
        "via": "ansible",
    }
    (tmp_path / "runbook.log").write_text(json.dumps(entry) + "\n")
    result = world.rollback("staging", emergency=True)
    assert result.plan.path == "runbook (ansible)"
    assert world.stacks.config("staging")["release"] == OLD.digest
    (event,) = world.events("rollback")
    assert event.data["path"] == "runbook (ansible)"
    assert pending_runbook_flip(tmp_path, "staging") is None  # adopted once, never again


# --- promote and drill -------------------------------------------------------------------------


def test_promotion_refused_by_its_gates_changes_nothing_but_the_ledger(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("dev", NEW)
    deployed: list[Release] = []
    with pytest.raises(GateFailed, match="from dev to staging refused") as refused:
        promote(
            Project(ROOT, CONFIG, tmp_path),
            "dev",
            "staging",
            deploy_release=deployed.append,
            load_evidence=lambda state, digest: Evidence(),
            world=world.world,
        )
    assert deployed == []
    report = refused.value.report  # what the CLI prints: the gates are judged once
    assert report is not None and report.release == NEW and not report.passed
    (refusal,) = world.events("refusal")
    assert refusal.data["action"] == "promote" and refusal.to_release == NEW.digest
    assert world.active("staging") is None


def test_promotion_moves_the_running_digest(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("dev", NEW)
    overrides = {
        gate: "accepted for the test"
        for gate in ("tests", "coverage", "mutation", "vulnerabilities", "performance")
    }
    deployed: list[Release] = []
    promote(
        Project(ROOT, CONFIG, tmp_path),
        "dev",
        "staging",
        overrides=overrides,
        deploy_release=deployed.append,
        load_evidence=lambda state, digest: Evidence(),
        world=world.world,
    )
    assert [release.digest for release in deployed] == [NEW.digest]
    assert world.events("promote")[0].to_release == NEW.digest


def test_an_ungated_release_is_refused_by_a_gated_stage_and_nothing_changes(
    tmp_path: Path,
) -> None:
    world = Setup(tmp_path)
    world.deploy("dev", NEW)
    with pytest.raises(GateFailed, match="may not enter staging") as refused:
        world.deploy("staging", NEW, overrides={})
    assert "soakgate promote dev staging" in refused.value.hint
    assert world.stacks.ups == [("dev", NEW.digest)] and world.active("staging") is None
    (refusal,) = world.events("refusal")
    assert refusal.stage == "staging" and refusal.data["action"] == "deploy"
    assert world.events("gate") == []


def test_a_promoted_release_enters_through_its_gate_decision(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("dev", NEW)
    gates = ("tests", "coverage", "mutation", "vulnerabilities", "performance")
    promote(
        Project(ROOT, CONFIG, tmp_path),
        "dev",
        "staging",
        overrides=dict.fromkeys(gates, "accepted for the test"),
        deploy_release=lambda chosen: world.deploy("staging", chosen, overrides={}),
        load_evidence=lambda state, digest: Evidence(),
        world=world.world,
    )
    assert world.active("staging") == NEW.digest
    kinds = [event.kind for event in world.events() if event.stage == "staging"]
    # performance passes: nothing runs in staging, so there is nothing to regress from
    assert kinds == ["override"] * 4 + ["gate", "deploy", "promote"]
    (decision,) = world.events("gate")
    assert decision.data["via"] == "promote"
    assert sorted(decision.data["overrides"]) == sorted(set(gates) - {"performance"})


def test_a_release_that_ran_in_the_stage_comes_back_without_new_gates(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    world.deploy("staging", OLD, overrides={})  # a rollback target: it ran here
    assert world.active("staging") == OLD.digest


def test_a_rollback_to_a_release_that_never_passed_into_the_stage_is_refused(
    tmp_path: Path,
) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("dev", NEWER)
    with pytest.raises(RollbackFailed, match="no passing gate decision") as refused:
        world.rollback("staging", to=NEWER.digest)
    assert "soakgate promote dev staging" in refused.value.hint
    assert world.active("staging") == OLD.digest and world.events("rollback") == []


def test_a_drill_deploys_a_slow_copy_and_rolls_it_back(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.deploy("staging", NEW)
    world.stages.commands[NEW.digest] = (["/entry"], ["serve", "--fast"])
    config = replace(CONFIG, service=replace(CONFIG.service, drill=DrillConfig(cpus=0.2)))

    def deploy_copy(bad: Release) -> None:
        world.stacks.up("staging", bad)

    result = drill(
        Project(ROOT, config, tmp_path),
        "staging",
        deploy_release=deploy_copy,
        world=world.world,
    )
    (base, lines, tag) = world.stages.built[0]
    assert base == NEW.digest and ":drill-" in tag
    # the image's own command, run by the throttle launcher at [service.drill] cpus
    assert lines == throttle_lines(throttle_launcher.source(), ["/entry"], ["serve", "--fast"], 0.2)
    assert world.active("staging") == NEW.digest  # rolled back to the good release
    (event,) = world.events("drill")
    assert (event.from_release, event.to_release) == (result.drill_release.digest, NEW.digest)
    assert (event.data["drill_degrade"], event.data["drill_cpus"]) == ("cpu", 0.2)
    (admitted,) = [e for e in world.events("gate") if e.data["via"] == "drill"]
    assert admitted.to_release == result.drill_release.digest
    with pytest.raises((GateFailed, BadRelease)):  # a finished drill admits its copy no more
        world.deploy("staging", result.drill_release, overrides={})


def test_drill_stats_are_percentiles_of_the_recorded_drills_against_the_budget() -> None:
    from soakgate.app.drill import drill_stats
    from soakgate.core.ledger import Event

    def drilled(stage: str, seconds: float) -> Event:
        return Event(
            0,
            "drill",
            "2026-12-04T00:00:00Z",
            "me",
            stage,
            NEW.digest,
            OLD.digest,
            {"seconds_to_restored": seconds},
        )

    events = [drilled("staging", s) for s in (0.4, 0.2, 0.3, 0.5, 20000.0)]
    events.append(drilled("dev", 1.0))
    events.append(
        Event(0, "rollback", "t", "me", "staging", None, None, {"seconds_to_restored": 1})
    )
    by_stage = {stats.stage: stats for stats in drill_stats(events, CONFIG)}
    staging = by_stage["staging"]
    assert (staging.drills, staging.p50, staging.worst) == (5, 0.4, 20000.0)
    assert staging.p90 == pytest.approx(0.5 + 0.6 * (20000.0 - 0.5))  # linear, as numpy
    assert staging.within is False  # the worst drill (5.6 h) is over staging's 4 h budget
    assert by_stage["dev"].drills == 1 and "production" not in by_stage


def test_decide_rollback_says_why_there_is_no_rollback() -> None:
    from soakgate.core.rollback import RollbackAsk, decide_rollback
    from soakgate.core.slots import EMPTY, Slot, SlotTable

    running = SlotTable(Slot("blue", "c1", NEW.digest, "s", True), Slot("green"), "blue")
    warm = running.with_slot(Slot("green", "c2", OLD.digest, "s", True))
    cases = [
        (RollbackAsk("dev"), EMPTY, "was never deployed"),
        (RollbackAsk("dev", emergency=True), running, "no previous good release"),
        (RollbackAsk("dev", to=NEW.digest), running, f"dev already runs {NEW.digest[:19]}"),
        (RollbackAsk("dev", to=NEWER.digest, emergency=True), warm, "no emergency flip possible"),
    ]
    for ask, table, why in cases:
        with pytest.raises(RollbackFailed, match=why):
            decide_rollback(ask, table, [], [])
    plan = decide_rollback(RollbackAsk("dev", emergency=True), warm, [], [])
    assert (plan.path, plan.from_release, plan.to_release) == ("emergency", NEW.digest, OLD.digest)
    cold = decide_rollback(RollbackAsk("dev", to=NEWER.digest), warm, [], [])
    assert cold.path == "cold" and cold.to_release == NEWER.digest
