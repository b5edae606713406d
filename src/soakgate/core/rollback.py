"""Which release a rollback restores, by which path, and how its duration compares with the
stage's RTO budget. Pure: it reads ledger events and release facts, decides, and returns data.

    target = last_known_good(events, "production", current="sha256:b…")
    plan = plan_rollback("production", target, active=b, warm=a, warm_running=True)
    plan.path     # "emergency": the warm slot already runs it, only the proxy switches
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from soakgate.core.ledger import Event
from soakgate.core.names import digest_ref
from soakgate.core.slots import SlotTable
from soakgate.errors import RollbackFailed

DEPLOYING_KINDS = ("deploy", "promote", "rollback")
QUARANTINE = "quarantine"  # the "gate" of an override event that marks or clears a release


@dataclass(frozen=True)
class RollbackPlan:
    stage: str
    path: str  # "emergency" (proxy flip to the warm slot) or "cold" (deploy into the idle slot)
    from_release: str | None
    to_release: str
    reason: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class BudgetCheck:
    seconds: float
    budget_seconds: int
    margin_seconds: float
    within: bool
    share_percent: float  # of the budget used


@dataclass(frozen=True)
class BadMark:
    """Why a release is quarantined: who, when, on which stage, by which event."""

    digest: str
    reason: str
    actor: str
    time: str
    stage: str | None
    seq: int


def bad_marks(events: Iterable[Event]) -> dict[str, BadMark]:
    """Releases quarantined by the ledger, on any stage: rolled back from (not a drill's
    restore), a breached soak, or marked by hand (an ``override`` event of gate
    ``quarantine``, action ``mark``); a later one with action ``clear`` (someone said
    otherwise, with a reason) lifts the mark."""
    marks: dict[str, BadMark] = {}
    for event in events:
        digest = None
        reason = str(event.data.get("reason") or "")
        if event.kind in ("rollback", "drill") and event.from_release:
            if not event.data.get("restore"):
                digest = event.from_release
                reason = reason or f"rolled back from on {event.stage}"
        elif event.kind == "soak" and event.data.get("verdict") == "breached":
            digest = event.to_release
            reason = reason or f"its soak breached on {event.stage}"
        elif event.kind == "override" and event.data.get("gate") == QUARANTINE:
            if event.data.get("action") == "clear" and event.to_release:
                marks.pop(event.to_release, None)
                continue
            if event.data.get("action") == "mark":
                digest = event.to_release
        if digest:
            marks[digest] = BadMark(digest, reason, event.actor, event.time, event.stage, event.seq)
    return marks


def bad_releases(events: Iterable[Event], stage: str | None = None) -> set[str]:
    """Digests of the quarantined releases (``stage`` is accepted for old callers: a release
    rolled back from on one stage is bad on every stage)."""
    del stage
    return set(bad_marks(events))


def last_known_good(
    events: Iterable[Event],
    stage: str,
    current: str | None,
    *,
    python: str | None = None,
    python_of: Mapping[str, str] | None = None,
) -> str | None:
    """The newest release this stage ran before ``current`` that is not quarantined.

    With ``python`` ("3.12"), only releases of that Python series count (``python_of`` maps a
    digest to its series); other stages' history is the fallback for a release never run here.
    """
    history = list(events)
    bad = bad_releases(history)

    def fits(digest: str | None) -> bool:
        if not digest or digest == current or digest in bad:
            return False
        return python is None or (python_of or {}).get(digest) == python

    for scope in (stage, None):
        for event in reversed(history):
            if event.kind not in DEPLOYING_KINDS or (scope and event.stage != scope):
                continue
            if fits(event.to_release):
                return event.to_release
    return None


@dataclass(frozen=True)
class Choice:
    """Where a rollback goes, or why it goes nowhere (``target`` None: change nothing)."""

    target: str | None
    why: str


def choose_target(
    history: list[Event],
    stage: str,
    *,
    active: str,
    warm: str | None,
    warm_running: bool,
    releases: list[tuple[str, str]],
    to: str | None = None,
    python: str | None = None,
    allow_bad: bool = False,
) -> Choice:
    """Pick a rollback's target. ``releases``: (digest, python series), newest first; ``to``:
    a release the user named (resolved). Never picks a quarantined release on its own: with
    nothing good to go to, the choice is None and says why."""
    bad = bad_marks(history)
    if to is not None:
        if to in bad and not allow_bad:
            mark = bad[to]
            return Choice(
                None, f"{digest_ref(to)} is quarantined ({mark.reason}, {mark.actor}, {mark.time})"
            )
        return Choice(to, "the release named")
    python_of = dict(releases)
    target = last_known_good(history, stage, active, python=python, python_of=python_of)
    if target is not None:
        return Choice(target, "the last good release of the ledger")
    if python:
        newest = [d for d, series in releases if series == python and d != active and d not in bad]
        if newest:
            return Choice(newest[0], f"the newest Python {python} release not quarantined")
        return Choice(None, f"no Python {python} release that is not quarantined")
    if warm and warm_running and warm != active:
        if warm in bad:
            mark = bad[warm]
            return Choice(
                None,
                f"the warm slot runs {digest_ref(warm)}, which is quarantined ({mark.reason},"
                f" {mark.actor}, {mark.time}), and no other good release is known",
            )
        return Choice(warm, "the warm slot (no history yet)")
    return Choice(None, "no previous good release")


def plan_rollback(
    stage: str,
    target: str,
    *,
    active: str | None,
    warm: str | None,
    warm_running: bool,
    reason: str = "",
) -> RollbackPlan:
    """Emergency when the warm slot runs ``target`` (seconds); cold otherwise (a deploy)."""
    steps: tuple[str, ...]
    if warm == target and warm_running:
        steps = (
            f"switch the {stage} proxy to the warm slot running {digest_ref(target)}",
            "wait for its first healthy response through the proxy",
            f"set soakgate:release of {stage} to it and reconcile the Pulumi stack (no change)",
            "verify the stage with the host checks; record the rollback in the ledger",
        )
        return RollbackPlan(stage, "emergency", active, target, reason, steps)
    steps = (
        f"start {digest_ref(target)} in the idle slot of {stage}",
        "wait for its health check, then switch the proxy to it",
        "verify the stage with the host checks; record the rollback in the ledger",
    )
    return RollbackPlan(stage, "cold", active, target, reason, steps)


def check_budget(seconds: float, budget_seconds: int) -> BudgetCheck:
    """How a measured rollback compares with the stage's RTO budget (a budget that is not
    positive is never met; config validation refuses one)."""
    margin = budget_seconds - seconds
    share = 100 * seconds / budget_seconds if budget_seconds > 0 else 100.0
    return BudgetCheck(
        round(seconds, 3),
        budget_seconds,
        round(margin, 3),
        margin >= 0 and budget_seconds > 0,
        round(share, 4),
    )


def never_deployed(stage: str) -> RollbackFailed:
    return RollbackFailed(
        f"stage {stage} was never deployed: there is nothing to roll back",
        hint=f"deploy it first: soakgate deploy {stage} --release DIGEST",
    )


@dataclass(frozen=True)
class RollbackAsk:
    """What a rollback request asks for (``to`` already resolved to a digest)."""

    stage: str
    to: str | None = None
    python: str | None = None
    emergency: bool = False
    allow_bad: bool = False
    reason: str = "manual rollback"


def decide_rollback(
    ask: RollbackAsk,
    table: SlotTable,
    history: list[Event],
    releases: list[tuple[str, str]],
) -> RollbackPlan:
    """The rollback's target and path from what runs (``table``), the ledger and the releases
    (digest, python series; newest first), or RollbackFailed saying why there is none. With
    an unreadable ledger the caller passes no history: only the warm slot can be chosen."""
    stage = ask.stage
    active = table.active_slot
    if active is None or active.empty or not active.digest:
        raise never_deployed(stage)
    warm = table.slot(table.inactive_name)
    choice = choose_target(
        history,
        stage,
        active=active.digest,
        warm=warm.digest,
        warm_running=warm.running,
        releases=releases,
        to=ask.to,
        python=ask.python,
        allow_bad=ask.allow_bad,
    )
    if choice.target is None:
        raise RollbackFailed(
            f"no rollback of {stage}: {choice.why}; traffic stays on {digest_ref(active.digest)}",
            hint="name one: soakgate rollback STAGE --to RELEASE (see soakgate releases)"
            if ask.to is None
            else "give --allow-bad --reason TEXT to restore it anyway",
        )
    target = choice.target
    if target == active.digest:
        raise RollbackFailed(
            f"{stage} already runs {digest_ref(target)}",
            hint="nothing to roll back to; see soakgate status",
        )
    plan = plan_rollback(
        stage,
        target,
        active=active.digest,
        warm=warm.digest,
        warm_running=warm.running,
        reason=ask.reason,
    )
    if ask.emergency and plan.path != "emergency":
        raise RollbackFailed(
            f"no warm slot of {stage} runs {digest_ref(target)}: no emergency flip possible",
            hint=f"run a cold rollback: soakgate rollback {stage} --to {digest_ref(target)}",
        )
    return plan
