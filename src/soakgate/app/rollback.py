"""Use case: roll a stage back — to the warm slot in about a second (emergency), or by a
health-gated deploy of the last known-good release (cold), or to the last good Python 3.12
release — timed from the command's start to the first verified-healthy response of the
restored release through the proxy, against the stage's RTO budget, verified, on record.

Nothing before the switch imports Pulumi: the flip is a file write and a SIGHUP to nginx.
A journal file written before the switch lets a re-run finish a rollback that was killed
between the switch and the Pulumi reconcile.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from soakgate.adapters.ledger_store import LedgerStore
from soakgate.adapters.stack_file import stack_config
from soakgate.adapters.stage_engine import StageEngine
from soakgate.adapters.stage_lock import stage_lock
from soakgate.adapters.state_db import StateDB
from soakgate.app.stages import stage_engine
from soakgate.core.config import STAGES, ProjectConfig
from soakgate.core.rollback import (
    BudgetCheck,
    RollbackPlan,
    check_budget,
    last_known_good,
    plan_rollback,
)
from soakgate.errors import ConfigError, RollbackFailed

LOCK_WAIT = 5.0


@dataclass(frozen=True)
class RollbackRequest:
    stage: str
    to: str | None = None  # a release (digest, prefix or tag)
    python: str | None = None  # "3.12": the last good release of that Python
    emergency: bool = False  # only the warm-slot flip; refuse when the warm slot can't serve
    reason: str = "manual rollback"
    actor: str = ""


@dataclass
class RollbackResult:
    plan: RollbackPlan
    seconds_to_restored: float = 0.0
    seconds_total: float = 0.0
    budget: BudgetCheck | None = None
    reconciled: bool = False
    verified: bool | None = None
    verify_failures: list[str] = field(default_factory=list)
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.plan.path,
            "reason": self.plan.reason,
            "seconds_to_restored": round(self.seconds_to_restored, 3),
            "seconds_total": round(self.seconds_total, 3),
            "budget_seconds": self.budget.budget_seconds if self.budget else None,
            "margin_seconds": self.budget.margin_seconds if self.budget else None,
            "within_budget": self.budget.within if self.budget else None,
            "reconciled": self.reconciled,
            "verified": self.verified,
            "verify_failures": self.verify_failures,
            "resumed": self.resumed,
        }


def journal_path(state: Path, stage: str) -> Path:
    return state / "stages" / stage / "rollback.json"


def write_journal(state: Path, plan: RollbackPlan, started: float, **extra: Any) -> Path:
    """Record the rollback under way (its plan and start) before anything changes, so a
    re-run can finish it; ``extra`` adds ``fast`` and ``restored_at`` once they are known."""
    journal = journal_path(state, plan.stage)
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text(json.dumps({**asdict(plan), "started": started, **extra}))
    return journal


def _flip(engine: StageEngine, config: ProjectConfig, plan: RollbackPlan) -> None:
    """Switch the proxy to the warm slot (the emergency path's one change)."""
    slot = engine.read_slots().inactive_name
    engine.switch(slot, plan.to_release, config.service.port, config.service.health_path)


RUNBOOK_LOG = "runbook.log"


def adopt_runbook_flips(state: Path, stage: str) -> int:
    """Take over flips the host-side runbooks (Ansible, Fabric) made while soakgate's control
    machine was away: each new line of ``runbook.log`` for ``stage`` becomes a rollback to
    finish — the newest as a journal that :func:`rollback` completes (reconcile, verify,
    ledger), older ones straight onto the ledger. Returns how many lines were adopted."""
    log = state / RUNBOOK_LOG
    marker = state / f"{RUNBOOK_LOG}.{stage}.adopted"
    if not log.is_file():
        return 0
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    done = int(marker.read_text() or 0) if marker.is_file() else 0
    fresh = []
    for line in lines[done:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("stage") == stage and entry.get("to_release"):
            fresh.append(entry)
    for entry in fresh[:-1]:
        ledger = LedgerStore.open(state)
        try:
            ledger.append(
                "rollback",
                stage=stage,
                from_release=entry.get("from_release"),
                to_release=entry["to_release"],
                data={
                    "path": f"runbook ({entry.get('via', 'host')})",
                    "seconds_to_restored": entry.get("seconds"),
                    "reconciled": False,
                },
            )
        finally:
            ledger.close()
    if fresh:
        entry = fresh[-1]
        restored_at = datetime.fromisoformat(entry["time"]).timestamp()
        via = entry.get("via", "host")
        plan = RollbackPlan(stage, f"runbook ({via})", entry.get("from_release"),
                            entry["to_release"], "host-side runbook", ())  # fmt: skip
        started = restored_at - float(entry.get("seconds", 0))
        write_journal(state, plan, started, fast=True, restored_at=restored_at)
    marker.write_text(str(len(lines)))
    return len(fresh)


def choose_plan(
    project: Path, config: ProjectConfig, state: Path, request: RollbackRequest, engine: StageEngine
) -> RollbackPlan:
    """Decide target and path from the slot table, the ledger and the releases; change nothing."""
    if request.stage not in STAGES:
        raise ConfigError(
            f"unknown stage {request.stage!r}", hint=f"use one of: {', '.join(STAGES)}"
        )
    table = engine.read_slots()
    active = table.active_slot
    if active is None or active.empty:
        raise RollbackFailed(
            f"stage {request.stage} was never deployed: there is nothing to roll back",
            hint=f"deploy it first: soakgate deploy {request.stage} --release DIGEST",
        )
    warm = table.slot(table.inactive_name)
    db = StateDB.open(state)
    ledger = LedgerStore.open(state)
    try:
        if request.to:
            target = db.require_release(request.to).digest
        else:
            python_of = {r.digest: r.python_series for r in db.releases()}
            target_or_none = last_known_good(
                ledger.events(),
                request.stage,
                active.digest,
                python=request.python,
                python_of=python_of,
            )
            if target_or_none is None and request.python:
                newest = [
                    r
                    for r in db.releases()
                    if r.python_series == request.python and r.digest != active.digest
                ]
                target_or_none = newest[0].digest if newest else None
            if target_or_none is None and not request.python and warm.running and warm.digest:
                target_or_none = (
                    warm.digest
                )  # no history yet: the warm slot is the previous release
            if target_or_none is None:
                what = f"Python {request.python} release" if request.python else "good release"
                raise RollbackFailed(
                    f"no previous {what} for {request.stage} (current: {str(active.digest)[:19]})",
                    hint="name one: soakgate rollback STAGE --to RELEASE (see soakgate releases)",
                )
            target = target_or_none
    finally:
        db.close()
        ledger.close()
    if target == active.digest:
        raise RollbackFailed(
            f"{request.stage} already runs {target[:19]}",
            hint="nothing to roll back to; see soakgate status",
        )
    plan = plan_rollback(
        request.stage,
        target,
        active=active.digest,
        warm=warm.digest,
        warm_running=warm.running,
        reason=request.reason,
    )
    if request.emergency and plan.path != "emergency":
        raise RollbackFailed(
            f"no warm slot of {request.stage} runs {target[:19]}: no emergency flip possible",
            hint=f"run a cold rollback: soakgate rollback {request.stage} --to {target[:19]}",
        )
    return plan


def rollback(
    project: Path,
    config: ProjectConfig,
    state: Path,
    request: RollbackRequest,
    *,
    started: float | None = None,
    dry_run: bool = False,
    verify: Callable[[str], tuple[bool, list[str]]] | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> RollbackResult:
    """Roll the stage back; ``started`` is the command's start (epoch seconds)."""
    began = time.time() if started is None else started
    if request.stage not in STAGES:
        raise ConfigError(
            f"unknown stage {request.stage!r}", hint=f"use one of: {', '.join(STAGES)}"
        )
    engine = stage_engine(project, config, state, request.stage)
    adopt_runbook_flips(state, request.stage)
    journal = journal_path(state, request.stage)
    if dry_run and journal.is_file():
        pending = _journal_plan(json.loads(journal.read_text()))
        steps = ("finish it: reconcile the Pulumi stack, verify, record it on the ledger",)
        return RollbackResult(replace(pending, steps=steps), resumed=True)
    resumed = _resume(project, config, state, request, engine, began, verify, warn)
    if resumed is not None:
        return resumed
    plan = choose_plan(project, config, state, request, engine)
    if dry_run:
        return RollbackResult(plan)
    budget = config.stages[request.stage].rto_seconds
    with stage_lock(
        state, request.stage, f"soakgate rollback {request.stage}", wait=LOCK_WAIT, warn=warn
    ):
        result = RollbackResult(plan)
        journal = write_journal(state, plan, began)
        if plan.path == "emergency":
            _flip(engine, config, plan)
        else:
            _reconcile(project, state, plan)  # a health-gated deploy into the idle slot
        result.seconds_to_restored = time.time() - began
        result.budget = check_budget(result.seconds_to_restored, budget)
        _finish(project, config, state, result, began, verify, request.actor)
        journal.unlink(missing_ok=True)
    return result


def _reconcile(project: Path, state: Path, plan: RollbackPlan) -> None:
    """Set the stack config to the restored release and run ``up``: after an emergency flip it
    finds the slots as wanted and only records outputs; for a cold rollback it deploys."""
    from soakgate.app.deploy import up_with_release

    db = StateDB.open(state)
    try:
        release = db.find_release(plan.to_release)
    finally:
        db.close()
    if release is None:
        raise RollbackFailed(
            f"release {plan.to_release[:19]} is not recorded", hint="see soakgate releases"
        )
    up_with_release(project, plan.stage, release, None)


def _finish(
    project: Path,
    config: ProjectConfig,
    state: Path,
    result: RollbackResult,
    began: float,
    verify: Callable[[str], tuple[bool, list[str]]] | None,
    actor: str = "",
) -> None:
    plan = result.plan
    if (
        plan.path == "emergency"
        or stack_config(project, plan.stage).get("release") != plan.to_release
    ):
        _reconcile(project, state, plan)
    result.reconciled = True
    if verify is not None:
        result.verified, result.verify_failures = verify(plan.stage)
    result.seconds_total = time.time() - began
    ledger = LedgerStore.open(state)
    try:
        ledger.append(
            "rollback",
            actor=actor or None,  # None: the login name
            stage=plan.stage,
            from_release=plan.from_release,
            to_release=plan.to_release,
            data=result.as_dict(),
        )
    finally:
        ledger.close()
    if result.verified is False:
        raise RollbackFailed(
            f"rolled {plan.stage} back to {plan.to_release[:19]}, but verification failed:"
            f" {', '.join(result.verify_failures[:3])}",
            hint=f"see reports/verify-{plan.stage}.xml",
        )


def _journal_plan(data: dict[str, Any]) -> RollbackPlan:
    fields = {key: data[key] for key in RollbackPlan.__dataclass_fields__ if key in data}
    return RollbackPlan(**{**fields, "steps": tuple(fields.get("steps", ()))})


def _resume(
    project: Path,
    config: ProjectConfig,
    state: Path,
    request: RollbackRequest,
    engine: StageEngine,
    began: float,
    verify: Callable[[str], tuple[bool, list[str]]] | None,
    warn: Callable[[str], None],
) -> RollbackResult | None:
    """Finish a rollback that was killed after its switch (its journal is still there)."""
    journal = journal_path(state, request.stage)
    if not journal.is_file():
        return None
    data = json.loads(journal.read_text())
    started = float(data.pop("started", began))
    restored_at = data.pop("restored_at", None)
    plan = _journal_plan(data)
    active = engine.read_slots().active_slot
    if active is None or active.digest != plan.to_release:
        journal.unlink()  # killed before its switch: nothing happened, start afresh
        return None
    fast = restored_at is not None and data.get("fast", False)
    if not fast:
        warn(f"finishing the interrupted rollback of {request.stage} to {plan.to_release[:19]}")
    with stage_lock(
        state, request.stage, f"soakgate rollback {request.stage}", wait=LOCK_WAIT, warn=warn
    ):
        result = RollbackResult(plan, resumed=not fast)
        restored = float(restored_at) if restored_at is not None else time.time()
        result.budget = check_budget(restored - started, config.stages[request.stage].rto_seconds)
        result.seconds_to_restored = result.budget.seconds
        _finish(project, config, state, result, began, verify, request.actor)
        journal.unlink(missing_ok=True)
    return result


def flip_now(
    project: Path, config: ProjectConfig, state: Path, request: RollbackRequest, started: float
) -> bool:
    """The first half of an emergency rollback, for the CLI's fast path: when the plan is the
    warm-slot flip, switch now and leave the journal for :func:`rollback` to finish (reconcile,
    verify, ledger). Returns False, changing nothing, when the plan is not a flip."""
    if request.stage not in STAGES:
        return False
    adopt_runbook_flips(state, request.stage)
    journal = journal_path(state, request.stage)
    if journal.exists():
        return False  # an interrupted rollback is finished by the full command, never redone
    engine = stage_engine(project, config, state, request.stage)
    plan = choose_plan(project, config, state, request, engine)
    if plan.path != "emergency":
        return False
    with stage_lock(state, request.stage, f"soakgate rollback {request.stage}", wait=LOCK_WAIT):
        write_journal(state, plan, started, fast=True)
        _flip(engine, config, plan)
        write_journal(state, plan, started, fast=True, restored_at=time.time())
    return True


def emergency_rollback(
    project: Path, config: ProjectConfig, state: Path, stage: str, *, reason: str, actor: str = ""
) -> RollbackResult:
    """Flip the stage to its warm slot now (the soak policy's path); verify-less, on record."""
    return rollback(
        project, config, state, RollbackRequest(stage, emergency=True, reason=reason, actor=actor)
    )
