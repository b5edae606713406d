"""A rollback never restores a quarantined release on its own: the second rollback case."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from soakgate.core.ledger import Event, make_event
from soakgate.core.rollback import QUARANTINE, bad_marks, check_budget, choose_target

A, B, C = ("sha256:" + ch * 64 for ch in "abc")
WHEN = datetime(2026, 12, 4, tzinfo=UTC)
RELEASES = [(C, "3.14"), (B, "3.14"), (A, "3.12")]


def chain(*specs: tuple[str, str | None, str | None, str | None, dict[str, Any]]) -> list[Event]:
    events: list[Event] = []
    for kind, stage, from_release, to_release, data in specs:
        previous = events[-1] if events else None
        events.append(
            make_event(previous, kind, WHEN, "ana", stage, from_release, to_release, data)
        )
    return events


AFTER_FIRST_ROLLBACK = chain(
    ("deploy", "production", None, A, {}),
    ("deploy", "production", A, B, {}),
    ("rollback", "production", B, A, {"reason": "p99 doubled"}),
)


def test_second_emergency_rollback_does_not_go_back_to_the_bad_release() -> None:
    """Deploy A, deploy B, roll back (A live, B warm), roll back again: nothing to go to."""
    choice = choose_target(
        AFTER_FIRST_ROLLBACK,
        "production",
        active=A,
        warm=B,
        warm_running=True,
        releases=RELEASES,
    )
    assert choice.target is None
    assert "quarantined" in choice.why and "p99 doubled" in choice.why and "ana" in choice.why


def test_the_warm_slot_is_the_fallback_only_when_it_is_good() -> None:
    history = chain(("deploy", "production", None, B, {}))
    choice = choose_target(
        history, "production", active=B, warm=A, warm_running=True, releases=RELEASES
    )
    assert choice.target == A


def test_a_release_bad_on_one_stage_is_bad_on_all() -> None:
    history = chain(
        ("deploy", "staging", None, B, {}),
        ("rollback", "production", B, A, {}),
        ("deploy", "staging", B, C, {}),
    )
    choice = choose_target(
        history, "staging", active=C, warm=B, warm_running=True, releases=RELEASES
    )
    # B ran in staging before C, but production rolled back from it: the good one is A,
    # which production runs (other stages' history is the fallback).
    assert choice.target == A


def test_naming_a_bad_release_needs_allow_bad() -> None:
    refused = choose_target(
        AFTER_FIRST_ROLLBACK,
        "production",
        active=A,
        warm=B,
        warm_running=True,
        releases=RELEASES,
        to=B,
    )
    assert refused.target is None and "quarantined" in refused.why
    allowed = choose_target(
        AFTER_FIRST_ROLLBACK,
        "production",
        active=A,
        warm=B,
        warm_running=True,
        releases=RELEASES,
        to=B,
        allow_bad=True,
    )
    assert allowed.target == B


def test_python_revert_skips_bad_releases() -> None:
    history = chain(
        ("deploy", "dev", None, C, {}),
        ("rollback", "dev", C, B, {}),
    )
    choice = choose_target(
        history, "dev", active=B, warm=C, warm_running=True, releases=RELEASES, python="3.14"
    )
    assert choice.target is None  # C is bad, B is live
    revert = choose_target(
        history, "dev", active=B, warm=C, warm_running=True, releases=RELEASES, python="3.12"
    )
    assert revert.target == A


def test_marks_come_from_rollbacks_breaches_and_hands_and_can_be_cleared() -> None:
    history = chain(
        ("rollback", "dev", B, A, {}),
        ("soak", "staging", None, C, {"verdict": "breached"}),
        ("override", None, None, A, {"gate": QUARANTINE, "action": "mark", "reason": "CVE"}),
        ("override", None, None, B, {"gate": QUARANTINE, "action": "clear", "reason": "fixed"}),
        ("drill", "dev", A, C, {"restore": True}),
    )
    marks = bad_marks(history)
    assert set(marks) == {A, C}
    assert marks[A].reason == "CVE" and marks[C].stage == "staging"


def test_a_zero_budget_never_divides_by_zero() -> None:
    check = check_budget(0.4, 0)
    assert check.within is False and check.share_percent == 100.0
