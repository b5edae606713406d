"""Which release a rollback restores, by which path, and the RTO arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from soakgate.core.ledger import Event, make_event
from soakgate.core.rollback import check_budget, last_known_good, plan_rollback

A, B, C, D = ("sha256:" + ch * 64 for ch in "abcd")
WHEN = datetime(2026, 11, 26, tzinfo=UTC)


def chain(*specs: tuple[str, str, str | None, str | None]) -> list[Event]:
    events: list[Event] = []
    for kind, stage, from_release, to_release in specs:
        previous = events[-1] if events else None
        events.append(make_event(previous, kind, WHEN, "ci", stage, from_release, to_release, {}))
    return events


def test_the_release_before_the_current_one() -> None:
    events = chain(("deploy", "prod", None, A), ("deploy", "prod", A, B))
    assert last_known_good(events, "prod", current=B) == A


def test_a_release_rolled_back_from_is_never_chosen() -> None:
    events = chain(
        ("deploy", "prod", None, A),
        ("deploy", "prod", A, B),
        ("rollback", "prod", B, A),
        ("deploy", "prod", A, C),
    )
    assert last_known_good(events, "prod", current=C) == A


def test_other_stages_are_the_fallback() -> None:
    events = chain(("deploy", "staging", None, A), ("deploy", "prod", None, B))
    assert last_known_good(events, "prod", current=B) == A


def test_python_filter() -> None:
    events = chain(("deploy", "prod", None, A), ("deploy", "prod", A, B), ("deploy", "prod", B, C))
    python_of = {A: "3.12", B: "3.14", C: "3.14"}
    assert last_known_good(events, "prod", current=C, python="3.12", python_of=python_of) == A
    assert last_known_good(events, "prod", current=C, python="3.13", python_of=python_of) is None


def test_breached_soak_marks_a_release_bad() -> None:
    events = chain(
        ("deploy", "staging", None, A), ("deploy", "staging", A, B), ("deploy", "staging", B, C)
    )
    breached = make_event(
        events[-1], "soak", WHEN, "monitor", "staging", None, B, {"verdict": "breached"}
    )
    assert last_known_good([*events, breached], "staging", current=C) == A


def test_nothing_before_the_first_release() -> None:
    assert last_known_good(chain(("deploy", "prod", None, A)), "prod", current=A) is None


def test_warm_slot_running_the_target_is_the_emergency_path() -> None:
    plan = plan_rollback("prod", A, active=B, warm=A, warm_running=True)
    assert plan.path == "emergency" and plan.from_release == B and plan.to_release == A


@pytest.mark.parametrize(("warm", "running"), [(A, False), (D, True), (None, False)])
def test_otherwise_cold(warm: str | None, running: bool) -> None:
    assert plan_rollback("prod", A, active=B, warm=warm, warm_running=running).path == "cold"


def test_budget_arithmetic() -> None:
    check = check_budget(0.75, 3600)
    assert (check.within, check.margin_seconds, check.share_percent) == (True, 3599.25, 0.0208)
    assert check_budget(3600.5, 3600).within is False
    assert check_budget(3600.0, 3600).within is True
