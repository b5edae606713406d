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

DEPLOYING_KINDS = ("deploy", "promote", "rollback")


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


def bad_releases(events: Iterable[Event], stage: str) -> set[str]:
    """Releases rolled back from on this stage, or whose soak breached there."""
    bad: set[str] = set()
    for event in events:
        if event.stage != stage:
            continue
        if (
            event.kind in ("rollback", "drill")
            and event.from_release
            and not event.data.get("restore")
        ):
            bad.add(event.from_release)
        if event.kind == "soak" and event.data.get("verdict") == "breached" and event.to_release:
            bad.add(event.to_release)
    return bad


def last_known_good(
    events: Iterable[Event],
    stage: str,
    current: str | None,
    *,
    python: str | None = None,
    python_of: Mapping[str, str] | None = None,
) -> str | None:
    """The newest release this stage ran before ``current`` that was never rolled back from.

    With ``python`` ("3.12"), only releases of that Python series count (``python_of`` maps a
    digest to its series); other stages' history is the fallback for a release never run here.
    """
    history = list(events)
    bad = bad_releases(history, stage)

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
            f"switch the {stage} proxy to the warm slot running {target[:19]}",
            "wait for its first healthy response through the proxy",
            f"set soakgate:release of {stage} to it and reconcile the Pulumi stack (no change)",
            "verify the stage with the host checks; record the rollback in the ledger",
        )
        return RollbackPlan(stage, "emergency", active, target, reason, steps)
    steps = (
        f"start {target[:19]} in the idle slot of {stage}",
        "wait for its health check, then switch the proxy to it",
        "verify the stage with the host checks; record the rollback in the ledger",
    )
    return RollbackPlan(stage, "cold", active, target, reason, steps)


def check_budget(seconds: float, budget_seconds: int) -> BudgetCheck:
    """How a measured rollback compares with the stage's RTO budget."""
    margin = budget_seconds - seconds
    return BudgetCheck(
        round(seconds, 3),
        budget_seconds,
        round(margin, 3),
        margin >= 0,
        round(100 * seconds / budget_seconds, 4),
    )
