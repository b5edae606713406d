"""Which release a gated stage takes, decided from the ledger alone (core.admission)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from soakgate.core.admission import GATE, admit, gate_table_text, incoming
from soakgate.core.gates import GateResult
from soakgate.core.ledger import Event, make_event
from soakgate.core.rollback import QUARANTINE

A, B, C = ("sha256:" + ch * 64 for ch in "abc")
WHEN = datetime(2026, 12, 4, tzinfo=UTC)
PASSED = {"transition": "staging_to_production", "passed": True, "via": "promote"}


def chain(*specs: tuple[str, str | None, str | None, str | None, dict[str, Any]]) -> list[Event]:
    events: list[Event] = []
    for kind, stage, from_release, to_release, data in specs:
        previous = events[-1] if events else None
        events.append(
            make_event(previous, kind, WHEN, "ana", stage, from_release, to_release, data)
        )
    return events


def test_the_gated_stages_are_the_targets_of_promotions() -> None:
    assert incoming("dev") is None
    staging, production = incoming("staging"), incoming("production")
    assert staging is not None and (staging.source, staging.transition) == (
        "dev",
        "dev_to_staging",
    )
    assert production is not None and production.source == "staging"


def test_dev_takes_anything() -> None:
    assert admit("dev", A, []).admitted


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_a_release_without_a_decision_is_refused(stage: str) -> None:
    history = chain(("build", None, None, A, {}), ("deploy", "dev", None, A, {}))
    verdict = admit(stage, A, history)
    assert not verdict.admitted
    assert "no passing gate decision" in verdict.why and f"never ran in {stage}" in verdict.why


def test_a_decision_for_another_stage_or_release_does_not_count() -> None:
    history = chain(
        (GATE, "staging", None, A, {**PASSED, "transition": "dev_to_staging"}),
        (GATE, "production", None, B, PASSED),
    )
    assert not admit("production", A, history).admitted
    assert admit("production", B, history).admitted
    assert admit("staging", A, history).admitted


def test_a_gate_event_that_did_not_pass_admits_nothing() -> None:
    history = chain((GATE, "production", None, A, {**PASSED, "passed": False}))
    assert not admit("production", A, history).admitted


def test_a_release_that_ran_in_the_stage_is_a_rollback_target() -> None:
    history = chain(
        ("deploy", "production", None, A, {}),
        (GATE, "production", None, B, PASSED),
        ("promote", "production", A, B, {}),
    )
    verdict = admit("production", A, history)
    assert verdict.admitted and "ran in production before" in verdict.why


def test_quarantine_beats_a_decision_until_lifted_for_the_stage() -> None:
    history = chain(
        (GATE, "production", None, B, PASSED),
        ("promote", "production", A, B, {}),
        ("rollback", "production", B, A, {"reason": "p99 doubled"}),
    )
    verdict = admit("production", B, history)
    assert not verdict.admitted and "quarantined" in verdict.why and "p99" in verdict.why
    assert admit("production", B, history, quarantined=True).admitted
    lifted = chain(
        *[
            (e.kind, e.stage, e.from_release, e.to_release, e.data)
            for e in history  # the same history, then the override
        ],
        ("override", "staging", None, B, {"gate": QUARANTINE, "reason": "other stage"}),
    )
    assert not admit("production", B, lifted).admitted
    lifted = chain(
        *[(e.kind, e.stage, e.from_release, e.to_release, e.data) for e in history],
        ("override", "production", None, B, {"gate": QUARANTINE, "reason": "false alarm"}),
    )
    assert admit("production", B, lifted).admitted


def test_a_drill_copy_is_admitted_only_while_its_drill_runs() -> None:
    drill = {**PASSED, "via": "drill", "copy_of": A}
    running = chain(("deploy", "production", None, A, {}), (GATE, "production", None, C, drill))
    assert admit("production", C, running).admitted
    done = chain(
        ("deploy", "production", None, A, {}),
        (GATE, "production", None, C, drill),
        ("drill", "production", C, A, {"restore": True}),
    )
    # the copy also ran there (a deploy event), but the drill's rollback quarantined it
    done_with_deploy = chain(
        ("deploy", "production", None, A, {}),
        (GATE, "production", None, C, drill),
        ("deploy", "production", A, C, {}),
        ("rollback", "production", C, A, {"reason": "rollback drill"}),
        ("drill", "production", C, A, {}),
    )
    assert not admit("production", C, done).admitted
    assert not admit("production", C, done_with_deploy).admitted


def test_the_plain_text_gate_table_names_each_gate_and_what_to_do() -> None:
    results = [
        GateResult("tests", True, "≥ 100 %", "100 %"),
        GateResult("coverage", False, "≥ 80 %", "72 %", ("coverage 72 % is below 80 %",)),
        GateResult("soak", False, "≥ 7 days", "no evidence", ("x",), overridden_reason="hotfix"),
    ]
    text = gate_table_text("gates staging → production for abc:", results)
    lines = text.splitlines()
    assert lines[0] == "gates staging → production for abc:"
    assert "FAIL" in lines[3] and "coverage 72 % is below 80 %" in lines[3]
    assert "overridden: hotfix" in lines[4]
    assert lines[2].split()[0] == "tests" and "pass" in lines[2]
