"""Use case: roll a stage back — to the warm slot in about a second (emergency), or by a
health-gated deploy of the last known-good release (cold), or to the last good Python 3.12
release — timed from the command's start to the first verified-healthy response of the
restored release through the proxy, against the stage's RTO budget, verified, on record.

Everything is decided under the stage lock: the plan is chosen after the lock is taken, and
the flip is a compare-and-swap on the proxy's upstream (it refuses when the proxy changed
since the plan was made), after one health probe of the warm slot; a flip that does not
answer healthy is reverted. No rollback path picks a quarantined release on its own.

Nothing before the switch imports Pulumi: the flip is a file write and a SIGHUP to nginx.
A journal file written before the switch lets a re-run finish a rollback that was killed
between the switch and the Pulumi reconcile. Every local file the path reads may be broken
(a half-written journal, a bad ``runbook.log`` line, an unreadable database or stack file):
each gives one warning naming the file, and the flip still runs when it does not need it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.state.db import StoreError
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.ports import Stacks, StageEngine, World, real_world
from soakgate.core.admission import admit, incoming
from soakgate.core.config import STAGES, ProjectConfig, check_stage
from soakgate.core.ledger import Event
from soakgate.core.names import digest_ref
from soakgate.core.project import Project
from soakgate.core.proxy_conf import Switch
from soakgate.core.rollback import (
    QUARANTINE,
    BudgetCheck,
    RollbackAsk,
    RollbackPlan,
    bad_marks,
    check_budget,
    decide_rollback,
    never_deployed,
)
from soakgate.core.rollout import Rollout
from soakgate.errors import LedgerBroken, PartialSwitch, RollbackFailed, SoakgateError

Warn = Callable[[str], None]
BAD_FILE = "bad-releases"  # one digest per line: what the host-side runbooks refuse


@dataclass(frozen=True)
class RollbackRequest:
    stage: str
    to: str | None = None  # a release (digest, prefix or tag)
    python: str | None = None  # "3.12": the last good release of that Python
    emergency: bool = False  # only the warm-slot flip; refuse when the warm slot can't serve
    reason: str = "manual rollback"
    actor: str = ""
    allow_bad: bool = False  # --to a quarantined release (with the reason on the ledger)
    lock_wait: float | None = None  # seconds to wait for the stage lock; None: refuse at once


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
    warnings: list[str] = field(default_factory=list)
    incident: str | None = None  # the id of the incident kept of the release rolled away from

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
            "incident": self.incident,
        }


# --- the journal: a rollback under way ----------------------------------------------------------
def journal_path(state: Path, stage: str) -> Path:
    return state / "stages" / stage / "rollback.json"


def write_journal(state: Path, plan: RollbackPlan, started: float, **extra: Any) -> Path:
    """Record the rollback under way (its plan and start) before anything changes, so a
    re-run can finish it; ``extra`` adds ``fast`` and ``restored_at`` once they are known."""
    journal = journal_path(state, plan.stage)
    write_atomic(journal, json.dumps({**asdict(plan), "started": started, **extra}))
    return journal


def set_aside(path: Path, why: str, warn: Warn) -> None:
    """Move a broken file out of the way (kept for a look, never deleted) and say so."""
    aside = path.with_name(f"{path.name}.broken-{int(time.time())}")
    with contextlib.suppress(OSError):
        path.replace(aside)
    warn(f"{path}: {why}; moved aside to {aside.name}, carrying on without it")


def read_journal(state: Path, stage: str, warn: Warn) -> dict[str, Any] | None:
    """The journal of an unfinished rollback, or None; a broken one is set aside."""
    path = journal_path(state, stage)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        set_aside(path, f"unreadable rollback journal ({exc})", warn)
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        _journal_plan(data)
        float(data.get("started", 0))
        if data.get("restored_at") is not None:
            float(data["restored_at"])
    except (ValueError, TypeError, KeyError) as exc:
        set_aside(path, f"broken rollback journal ({exc})", warn)
        return None
    return data


def _journal_plan(data: dict[str, Any]) -> RollbackPlan:
    for key in ("stage", "path", "to_release", "reason"):
        if not isinstance(data.get(key), str):
            raise KeyError(key)
    if data.get("from_release") is not None and not isinstance(data["from_release"], str):
        raise TypeError("from_release")
    fields = {key: data[key] for key in RollbackPlan.__dataclass_fields__ if key in data}
    return RollbackPlan(**{**fields, "steps": tuple(str(x) for x in fields.get("steps", ()))})


# --- flips the host-side runbooks made ----------------------------------------------------------
RUNBOOK_LOG = "runbook.log"


def _runbook_entry(line: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
        if not isinstance(entry, dict) or not isinstance(entry.get("to_release"), str):
            return None
        datetime.fromisoformat(str(entry["time"]))
        float(entry.get("seconds", 0))
    except (ValueError, TypeError, KeyError):
        return None
    return entry


def _fresh_runbook_entries(
    state: Path, stage: str, warn: Warn
) -> tuple[list[dict[str, Any]], int] | None:
    """The runbook.log entries of ``stage`` not adopted yet, and the log's line count; None
    when there is no log or its position marker is unreadable (then nothing is adopted)."""
    log = state / RUNBOOK_LOG
    marker = state / f"{RUNBOOK_LOG}.{stage}.adopted"
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    try:
        done = int(marker.read_text().strip() or 0) if marker.is_file() else 0
        if not 0 <= done <= len(lines):
            raise ValueError(f"position {done} of {len(lines)} lines")
    except (OSError, ValueError) as exc:
        warn(f"{marker}: unreadable ({exc}); not adopting older runbook flips again")
        write_atomic(marker, str(len(lines)))
        return None
    fresh = []
    for number, line in enumerate(lines[done:], start=done + 1):
        entry = _runbook_entry(line)
        if entry is None:
            warn(f"{log}: line {number} is not a runbook entry; skipped")
            continue
        if entry.get("stage") == stage:
            fresh.append(entry)
    return fresh, len(lines)


def _runbook_plan(stage: str, entry: dict[str, Any]) -> RollbackPlan:
    via = entry.get("via", "host")
    reason = "host-side runbook"
    hosts = entry.get("hosts")
    if isinstance(hosts, list) and hosts:
        reason += f" on {', '.join(str(host) for host in hosts)}"
        left = entry.get("left")
        if isinstance(left, list) and left:
            reason += f" (not on {', '.join(str(host) for host in left)})"
    if isinstance(entry.get("run"), str):
        reason += f", run {entry['run']}"
    from_release, to_release = entry.get("from_release"), entry["to_release"]
    return RollbackPlan(stage, f"runbook ({via})", from_release, to_release, reason, ())


def pending_runbook_flip(
    state: Path, stage: str, warn: Warn = lambda message: None
) -> RollbackPlan | None:
    """The newest host-side flip of ``stage`` not adopted yet (reads only: a dry run)."""
    found = _fresh_runbook_entries(state, stage, warn)
    return _runbook_plan(stage, found[0][-1]) if found and found[0] else None


def adopt_runbook_flips(state: Path, stage: str, warn: Warn = lambda message: None) -> int:
    """Take over flips the host-side runbooks (Ansible, Fabric) made while soakgate's control
    machine was away: each new line of ``runbook.log`` for ``stage`` becomes a rollback to
    finish — the newest as a journal that :func:`rollback` completes (reconcile, verify,
    ledger), older ones straight onto the ledger. Returns how many lines were adopted. A line
    that is not a runbook entry is skipped with a warning; an unreadable position marker
    adopts nothing old twice (it restarts from the end)."""
    found = _fresh_runbook_entries(state, stage, warn)
    if found is None:
        return 0
    fresh, total = found
    for entry in fresh[:-1]:
        with _ledger(state) as ledger:
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
    if fresh:
        entry = fresh[-1]
        restored_at = datetime.fromisoformat(str(entry["time"])).timestamp()
        started = restored_at - float(entry.get("seconds", 0))
        write_journal(
            state, _runbook_plan(stage, entry), started, fast=True, restored_at=restored_at
        )
    write_atomic(state / f"{RUNBOOK_LOG}.{stage}.adopted", str(total))
    return len(fresh)


# --- what the ledger and the state database say ------------------------------------------------
@contextlib.contextmanager
def _ledger(state: Path) -> Iterator[LedgerStore]:
    with LedgerStore.open(state) as store:
        yield store


@dataclass(frozen=True)
class Records:
    """What target selection reads: the ledger's events and the recorded releases."""

    events: list[Event]
    releases: list[tuple[str, str]]  # (digest, python series), newest first


def read_records(state: Path, request: RollbackRequest) -> Records:
    """The ledger (verified: a rollback never trusts a ledger that does not verify) and the
    releases; one line naming the file when either cannot be read."""
    try:
        with _ledger(state) as ledger:
            try:
                events = ledger.require_intact()
            except LedgerBroken as broken:
                raise RollbackFailed(
                    f"{broken.message}: no rollback target is chosen from it",
                    hint=f"see soakgate ledger verify; name a target: soakgate rollback"
                    f" {request.stage} --to RELEASE",
                ) from None
        with StateDB.open(state) as db:
            releases = [(r.digest, r.python_series) for r in db.releases()]
    except RollbackFailed:
        raise
    except (StoreError, SoakgateError) as exc:
        raise RollbackFailed(
            f"{state / 'soakgate.db'}: unreadable ({getattr(exc, 'message', exc)})",
            hint="restore it from a backup, or move it aside; the emergency flip"
            f" (soakgate rollback {request.stage} --emergency) works without it",
        ) from None
    return Records(events, releases)


def _resolve(state: Path, ref: str) -> str:
    with StateDB.open(state) as db:
        return db.require_release(ref).digest


def read_bad_file(state: Path) -> set[str]:
    """The quarantined digests as last written for the host side (and for a broken DB)."""
    try:
        text = (state / BAD_FILE).read_text(errors="replace")
    except OSError:
        return set()
    return {line.strip() for line in text.splitlines() if line.strip().startswith("sha256:")}


def write_bad_file(state: Path, events: list[Event]) -> None:
    """Mirror the ledger's quarantine into ``<state>/bad-releases`` (the runbooks read it)."""
    marks = sorted(bad_marks(events))
    write_atomic(state / BAD_FILE, "".join(f"{digest}\n" for digest in marks), mode=0o644)


def choose_plan(
    project: Project,
    request: RollbackRequest,
    engine: StageEngine,
    warn: Warn = lambda message: None,
) -> RollbackPlan:
    """Decide target and path from the slot table, the ledger and the releases; change nothing.
    Call it under the stage lock: what it read must not change before the flip."""
    check_stage(request.stage)
    table = engine.read_slots()
    active = table.active_slot
    if active is None or active.empty or not active.digest:
        upstream = engine.upstream_text()
        if upstream is not None and engine.upstream() is None:
            raise RollbackFailed(
                f"{engine.conf_dir / 'upstream.conf'}: not an upstream file soakgate wrote, and"
                f" the {request.stage} proxy does not say which slot it serves",
                hint=f"look at soakgate status; deploy a release: soakgate deploy {request.stage}"
                " --release DIGEST (it rewrites the file)",
            )
        raise never_deployed(request.stage)
    warm = table.slot(table.inactive_name)
    to = _resolve(project.state, request.to) if request.to else None
    try:
        records = read_records(project.state, request)
    except RollbackFailed as unreadable:
        if not request.emergency or to is not None or request.python:
            raise
        # The emergency flip needs only the warm slot and the quarantine list the host
        # side keeps: go on with those, and say what was skipped.
        bad_file = project.state / BAD_FILE
        warn(f"{unreadable.message}; choosing the warm slot, checked against {bad_file}")
        if warm.digest and warm.digest in read_bad_file(project.state):
            raise RollbackFailed(
                f"the warm slot of {request.stage} runs {digest_ref(warm.digest)}, which is"
                " quarantined: no emergency flip",
                hint=f"name a release: soakgate rollback {request.stage} --to RELEASE",
            ) from None
        records = Records([], [])
    ask = RollbackAsk(
        request.stage, to, request.python, request.emergency, request.allow_bad, request.reason
    )
    plan = decide_rollback(ask, table, records.events, records.releases)
    if records.events:  # an unreadable ledger left only the warm slot, which ran here before
        verdict = admit(plan.stage, plan.to_release, records.events, quarantined=request.allow_bad)
        if not verdict.admitted:
            gate = incoming(plan.stage)
            raise RollbackFailed(
                f"no rollback of {plan.stage} to {digest_ref(plan.to_release)}: {verdict.why}",
                hint=f"promote it through its gates (soakgate promote {gate.source}"
                f" {plan.stage}) or deploy it with --override GATE --reason TEXT"
                if gate is not None
                else "see soakgate releases",
            )
    return plan


def lift_quarantine(state: Path, request: RollbackRequest, plan: RollbackPlan) -> None:
    """A rollback told to restore a quarantined release (``--allow-bad``) says so on the
    ledger, for this stage and release, before anything switches."""
    if not request.allow_bad:
        return
    with _ledger(state) as ledger:
        if plan.to_release in bad_marks(ledger.events()):
            ledger.append(
                "override",
                stage=plan.stage,
                to_release=plan.to_release,
                data={"gate": QUARANTINE, "reason": request.reason, "via": "rollback"},
            )


def _flip(engine: StageEngine, config: ProjectConfig, plan: RollbackPlan) -> None:
    """Switch the proxy to the warm slot: a compare-and-swap from the plan's active release
    to its target, after one health probe of the warm slot; reverted when it does not serve."""
    table = engine.read_slots()
    active, warm = table.active, table.inactive_name
    expected = engine.upstream()
    if (
        active is None
        or table.slot(active).digest != plan.from_release
        or table.slot(warm).digest != plan.to_release
    ):
        raise RollbackFailed(
            f"the slots of {plan.stage} changed since the plan was made: nothing switched",
            hint=f"see soakgate status {plan.stage}, then run the rollback again",
        )
    # A broken upstream file (expected None): the proxy's own word named the active slot, and
    # the lock keeps everyone else out, so the switch goes ahead without a file to compare.
    service = config.service
    engine.switch(Switch(warm, plan.to_release, service.port, service.health_path, expected))


def rollback(
    project: Project,
    request: RollbackRequest,
    *,
    started: float | None = None,
    dry_run: bool = False,
    verify: Callable[[str], tuple[bool, list[str]]] | None = None,
    warn: Warn = lambda message: None,
    world: World | None = None,
) -> RollbackResult:
    """Roll the stage back; ``started`` is the command's start (epoch seconds)."""
    began = time.time() if started is None else started
    check_stage(request.stage)
    stages, stacks = world or real_world(project)
    engine = stages.engine(request.stage, warn)
    if dry_run:
        steps = ("finish it: reconcile the Pulumi stack, verify, record it on the ledger",)
        pending = read_journal(project.state, request.stage, warn)
        if pending is not None:
            return RollbackResult(replace(_journal_plan(pending), steps=steps), resumed=True)
        flipped = pending_runbook_flip(project.state, request.stage, warn)
        if flipped is not None:
            return RollbackResult(replace(flipped, steps=steps), resumed=True)
        return RollbackResult(choose_plan(project, request, engine, warn))
    with stages.lock(request.stage, f"soakgate rollback {request.stage}", request.lock_wait):
        adopt_runbook_flips(project.state, request.stage, warn)
        resumed = finish_interrupted(
            stacks, project.config, project.state, request, engine, began, verify, warn
        )
        if resumed is not None:
            return resumed
        plan = choose_plan(project, request, engine, warn)
        lift_quarantine(project.state, request, plan)
        budget = project.config.stages[request.stage].rto_seconds
        result = RollbackResult(plan)
        journal = write_journal(project.state, plan, began)
        try:
            if plan.path == "emergency":
                _flip(engine, project.config, plan)
            else:
                _reconcile(stacks, project.state, plan, warn)  # health-gated, into the idle slot
        except PartialSwitch:
            raise  # some hosts switched: the journal stays, and a re-run converges the others
        except SoakgateError:
            journal.unlink(missing_ok=True)  # nothing switched: nothing to finish later
            raise
        result.seconds_to_restored = time.time() - began
        result.budget = check_budget(result.seconds_to_restored, budget)
        # after the switch and the measured time, before anything can remove the bad slot
        result.incident = _keep_incident(
            project.config, project.state, stacks, engine, result, warn
        )
        _finish(stacks, project.state, result, began, verify, request.actor, warn)
    return result


def _reconcile(stacks: Stacks, state: Path, plan: RollbackPlan, warn: Warn) -> None:
    """Set the stack config to the restored release and run ``up``: after an emergency flip it
    finds the slots as wanted and only records outputs; for a cold rollback it deploys."""
    with StateDB.open(state) as db:
        release = db.find_release(plan.to_release)
    if release is None:
        raise RollbackFailed(
            f"release {digest_ref(plan.to_release)} is not recorded", hint="see soakgate releases"
        )
    # all hosts at once, whatever rollout the stack config names: a rollback races its budget
    stacks.up(plan.stage, release, None, warn, rollout=Rollout())


def _finish(
    stacks: Stacks,
    state: Path,
    result: RollbackResult,
    began: float,
    verify: Callable[[str], tuple[bool, list[str]]] | None,
    actor: str = "",
    warn: Warn = lambda message: None,
) -> None:
    """After the switch: reconcile the Pulumi stack, verify, put it on the ledger (and the
    release rolled away from into quarantine), then drop the journal."""
    plan = result.plan
    journal = journal_path(state, plan.stage)
    problem = ""
    try:
        if plan.path != "cold" or stacks.config(plan.stage).get("release") != plan.to_release:
            _reconcile(stacks, state, plan, warn)
        result.reconciled = True
    except SoakgateError as failed:
        problem = failed.message.splitlines()[0]
    if result.reconciled and verify is not None:
        result.verified, result.verify_failures = verify(plan.stage)
    result.seconds_total = time.time() - began
    took = f"restored in {result.seconds_to_restored:.2f} s"
    restored = f"traffic is on {digest_ref(plan.to_release)} ({took})"
    try:
        with _ledger(state) as ledger:
            ledger.append(
                "rollback",
                actor=actor or None,  # None: the login name
                stage=plan.stage,
                from_release=plan.from_release,
                to_release=plan.to_release,
                data={**result.as_dict(), **({"reconcile_error": problem} if problem else {})},
            )
            events = ledger.events()
    except (SoakgateError, StoreError) as exc:
        raise RollbackFailed(
            f"{restored}, but it is not on the ledger: {getattr(exc, 'message', exc)}",
            hint=f"repair {state / 'soakgate.db'}, then run soakgate rollback {plan.stage}"
            " again to record it",
        ) from None
    try:
        write_bad_file(state, events)
    except OSError as exc:
        warn(f"{state / BAD_FILE}: not written ({exc}); the host-side runbooks may not know")
    if problem:
        # The switch stands; the journal stays, so the next run finishes the reconcile.
        restored_at = began + result.seconds_to_restored
        write_journal(
            state, plan, began, fast=True, restored_at=restored_at, incident=result.incident
        )
        raise RollbackFailed(
            f"{restored}, but the Pulumi reconcile of {plan.stage} failed: {problem}",
            hint=f"fix that, then run soakgate rollback {plan.stage} again to finish it",
        )
    journal.unlink(missing_ok=True)
    if result.verified is False:
        raise RollbackFailed(
            f"{restored}, but verification failed: {', '.join(result.verify_failures[:3])}",
            hint=f"see reports/verify-{plan.stage}.xml",
        )


def finish_interrupted(
    stacks: Stacks,
    config: ProjectConfig,
    state: Path,
    request: RollbackRequest,
    engine: StageEngine,
    began: float,
    verify: Callable[[str], tuple[bool, list[str]]] | None,
    warn: Warn,
) -> RollbackResult | None:
    """Finish a rollback that was killed (or failed to reconcile) after its switch: its
    journal is still there. Called under the stage lock."""
    data = read_journal(state, request.stage, warn)
    if data is None:
        return None
    started = float(data.pop("started", began))
    restored_at = data.pop("restored_at", None)
    plan = _journal_plan(data)
    service = config.service
    # a stage on several hosts that only partly switched: the others join (PartialSwitch, the
    # journal kept, while some still do not answer)
    joined = engine.converge(plan.to_release, service.port, service.health_path)
    if joined:
        warn(f"{request.stage}: switched {', '.join(joined)} too, as the rollback had the others")
    active = engine.read_slots().active_slot
    if active is None or active.digest != plan.to_release:
        # killed before its switch (or the switch was reverted): nothing happened
        journal_path(state, request.stage).unlink(missing_ok=True)
        return None
    fast = restored_at is not None and data.get("fast", False)
    if not fast:
        to = digest_ref(plan.to_release)
        warn(f"finishing the interrupted rollback of {request.stage} to {to}")
    result = RollbackResult(plan, resumed=not fast)
    restored = float(restored_at) if restored_at is not None else time.time()
    result.budget = check_budget(restored - started, config.stages[request.stage].rto_seconds)
    result.seconds_to_restored = result.budget.seconds
    kept = data.get("incident")  # kept by the run that left the journal
    result.incident = kept if isinstance(kept, str) else None
    if result.incident is None:
        result.incident = _keep_incident(config, state, stacks, engine, result, warn)
    _finish(stacks, state, result, began, verify, request.actor, warn)
    return result


def _keep_incident(
    config: ProjectConfig,
    state: Path,
    stacks: Stacks,
    engine: StageEngine,
    result: RollbackResult,
    warn: Warn,
) -> str | None:
    """Keep the incident of a rollback that has switched (bounded; never raises)."""
    from soakgate.app.incident import keep_incident

    figures = result.as_dict()
    summary = {key: figures[key] for key in ("seconds_to_restored", "budget_seconds", "resumed")}
    return keep_incident(state, config, stacks, engine, result.plan, summary, warn=warn)


# The fast path's stage lock, kept to the process's end and released at exit, before the
# interpreter tears modules down (a finalizer run later would find ``os`` already gone).
_HELD = contextlib.ExitStack()
atexit.register(_HELD.close)


def flip_now(
    project: Project,
    request: RollbackRequest,
    started: float,
    warn: Warn = lambda message: None,
    world: World | None = None,
) -> bool:
    """The first half of an emergency rollback, for the CLI's fast path: take the stage lock
    and keep it for the rest of the process (the full command, in the same process, then
    finishes under it: nobody can slip in between), and when the plan is the warm-slot flip,
    switch now and leave the journal for :func:`rollback` to finish (reconcile, verify,
    ledger). Returns False, having switched nothing, when the plan is not a flip."""
    if request.stage not in STAGES:
        return False
    stages = (world or real_world(project)).stages
    _HELD.enter_context(
        stages.lock(request.stage, f"soakgate rollback {request.stage}", request.lock_wait)
    )
    adopt_runbook_flips(project.state, request.stage, warn)
    if read_journal(project.state, request.stage, warn) is not None:
        return False  # an interrupted rollback is finished by the full command, never redone
    engine = stages.engine(request.stage, warn)
    plan = choose_plan(project, request, engine, warn)
    if plan.path != "emergency":
        return False
    write_journal(project.state, plan, started, fast=True)
    try:
        _flip(engine, project.config, plan)
    except PartialSwitch:
        raise  # the journal stays: the re-run converges the hosts that did not switch
    except SoakgateError:
        journal_path(project.state, request.stage).unlink(missing_ok=True)
        raise
    write_journal(project.state, plan, started, fast=True, restored_at=time.time())
    return True


def emergency_rollback(
    project: Project,
    stage: str,
    *,
    reason: str,
    actor: str = "",
    world: World | None = None,
) -> RollbackResult:
    """Flip the stage to its warm slot now (the soak policy's path); verify-less, on record."""
    request = RollbackRequest(stage, emergency=True, reason=reason, actor=actor)
    return rollback(project, request, world=world)
