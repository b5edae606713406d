"""Whether a release may run in a stage: the promotion gates, enforced wherever a release
enters one (``soakgate deploy``, ``promote``, ``rollback --to``, ``drill`` and a plain
``pulumi up``), decided from the verified ledger alone.

    verdict = admit("production", "sha256:b…", events)
    verdict.admitted, verdict.why    # False, "no passing gate decision for staging_to_production"

A stage with an incoming gate (the target of a promotion: staging and production) admits a
release when one of these is on the ledger:

- a passing **gate decision** for this stage and digest (a ``gate`` event: written by
  ``promote``, by ``deploy`` when the release passes the gates on its evidence, or by a bypass
  whose overridden gates and reason it carries);
- the release **ran in this stage before** (a rollback target), and is not quarantined;
- a **drill** in progress made it from the running release (its ``gate`` event of ``via``
  "drill"; the drill's own ``drill`` event closes it).

A quarantined release is refused whatever admitted it, unless a later ``override`` of the
quarantine for this stage and release says otherwise (``--allow-bad --reason``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from soakgate.core.gates import PROMOTIONS, GateResult
from soakgate.core.ledger import Event
from soakgate.core.rollback import DEPLOYING_KINDS, QUARANTINE, bad_marks

GATE = "gate"  # the ledger kind of a passing gate decision
DRILL = "drill"


@dataclass(frozen=True)
class Incoming:
    """The promotion into a stage: where releases come from and the gate set they pass."""

    source: str
    target: str
    transition: str


def incoming(stage: str) -> Incoming | None:
    """The promotion whose target is ``stage``, or None for a stage without an incoming gate."""
    for (source, target), transition in PROMOTIONS.items():
        if target == stage:
            return Incoming(source, target, transition)
    return None


@dataclass(frozen=True)
class Admission:
    stage: str
    digest: str
    admitted: bool
    why: str
    seq: int | None = None  # the ledger entry that admits it

    @property
    def transition(self) -> str | None:
        gate = incoming(self.stage)
        return gate.transition if gate else None


def _quarantine_lifted(events: list[Event], stage: str, digest: str, after: int) -> bool:
    return any(
        event.kind == "override"
        and event.seq > after
        and event.stage == stage
        and event.to_release == digest
        and event.data.get("gate") == QUARANTINE
        for event in events
    )


def _drill_closed(events: list[Event], decision: Event) -> bool:
    return any(
        event.kind == DRILL
        and event.seq > decision.seq
        and event.from_release == decision.to_release
        for event in events
    )


def admit(
    stage: str, digest: str, events: Iterable[Event], *, quarantined: bool = False
) -> Admission:
    """Decide from the ledger whether ``digest`` may run in ``stage``; ``quarantined``: the
    caller restores a quarantined release on purpose (and records it), judge the rest."""
    gate = incoming(stage)
    if gate is None:
        return Admission(stage, digest, True, f"{stage} has no incoming gate")
    history = list(events)
    mark = bad_marks(history).get(digest)
    lifted = quarantined or (
        mark is not None and _quarantine_lifted(history, stage, digest, mark.seq)
    )
    if mark is not None and not lifted:
        return Admission(stage, digest, False, f"it is quarantined: {mark.reason}", mark.seq)
    for event in reversed(history):
        if event.stage != stage or event.to_release != digest:
            continue
        if event.kind == GATE and event.data.get("passed"):
            if event.data.get("via") == DRILL:
                if _drill_closed(history, event):
                    continue  # a finished drill admits its copy no more
                return Admission(stage, digest, True, "a drill in progress", event.seq)
            return Admission(stage, digest, True, _decision_why(event), event.seq)
        if event.kind in DEPLOYING_KINDS:
            return Admission(
                stage, digest, True, f"it ran in {stage} before (ledger #{event.seq})", event.seq
            )
    return Admission(
        stage,
        digest,
        False,
        f"no passing gate decision for {gate.transition}, and it never ran in {stage}",
    )


def _decision_why(event: Event) -> str:
    overridden = sorted(event.data.get("overrides") or {})
    how = f"a gate decision by {event.data.get('via', 'promote')} (ledger #{event.seq})"
    return how + (f", overriding {', '.join(overridden)}" if overridden else "")


def decision_data(
    transition: str, results: Iterable[GateResult], via: str, **extra: Any
) -> dict[str, Any]:
    """The data of a passing ``gate`` event: the whole table, and what was overridden why."""
    table = list(results)
    overrides: Mapping[str, str] = {
        r.name: r.overridden_reason for r in table if r.overridden_reason is not None
    }
    return {
        "transition": transition,
        "passed": True,
        "via": via,
        "gates": [result.to_dict() for result in table],
        "overrides": dict(overrides),
        **extra,
    }


def gate_table_text(title: str, results: Iterable[GateResult]) -> str:
    """The gate table as plain text, for where no terminal renderer runs (a Pulumi program)."""
    rows = [("gate", "threshold", "measured", "result", "what to do")]
    for result in results:
        verdict = (
            "pass"
            if result.passed
            else f"overridden: {result.overridden_reason}"
            if result.overridden_reason
            else "FAIL"
        )
        todo = "; ".join(result.reasons) if not result.passed else (result.evidence_file or "")
        rows.append((result.name, result.threshold, result.measured, verdict, todo))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [title]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        lines.append("  " + "  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines)
