"""Evidence counts only for the transition it was measured for (core.evidence_binding)."""

from __future__ import annotations

from soakgate.core.evidence_binding import TransitionFacts, bind_results
from soakgate.core.gates import GateResult

A, B, C = ("sha256:" + ch * 64 for ch in "abc")
PERF_OK = GateResult("performance", True, "≤ 5 %", "p95 +1 %")
PERF_MISSING = GateResult("performance", False, "≤ 5 %", "no evidence", ("no bench",))
SOAK_OK = GateResult("soak", True, "7 days", "healthy, 8 days observed")


def facts(**changes: object) -> TransitionFacts:
    values: dict[str, object] = {
        "source": "staging",
        "target": "production",
        "digest": B,
        "target_live": A,
        "bench_baseline": A,
        "soak_release": B,
        "soak_stage": "staging",
    }
    values.update(changes)
    return TransitionFacts(**values)  # type: ignore[arg-type]


def test_evidence_of_this_transition_stands() -> None:
    assert bind_results([PERF_OK, SOAK_OK], facts(), {}) == [PERF_OK, SOAK_OK]


def test_a_bench_against_another_baseline_is_refused_with_the_command() -> None:
    (result,) = bind_results([PERF_OK], facts(bench_baseline=C), {})
    assert not result.passed and result.blocking
    assert "production runs sha256:aaaaaaaaaaaa" in result.reasons[0]
    assert "soakgate evidence collect bbbbbbbbbbbb --for production" in result.reasons[0]


def test_a_bench_that_names_no_baseline_is_refused() -> None:
    (result,) = bind_results([PERF_OK], facts(bench_baseline=""), {})
    assert not result.passed and "an unnamed baseline" in result.reasons[0]


def test_nothing_in_the_target_means_nothing_to_regress_from() -> None:
    (result,) = bind_results([PERF_MISSING], facts(target_live=None, bench_baseline=None), {})
    assert result.passed and "nothing runs in production" in result.measured


def test_a_missing_bench_still_fails_when_the_target_runs_something() -> None:
    (result,) = bind_results([PERF_MISSING], facts(bench_baseline=None), {})
    assert result.blocking


def test_a_soak_of_another_release_or_stage_is_refused() -> None:
    (other,) = bind_results([SOAK_OK], facts(soak_release=C), {})
    assert not other.passed and "not of sha256:bbbbbbbbbbbb" in other.reasons[0]
    (dev,) = bind_results([SOAK_OK], facts(soak_stage="dev"), {})
    assert not dev.passed and "ran in dev" in dev.reasons[0] and "staging" in dev.reasons[0]
    (unnamed,) = bind_results([SOAK_OK], facts(soak_stage=None), {})
    assert not unnamed.passed


def test_a_gate_failed_here_is_still_overridden_by_name() -> None:
    (result,) = bind_results([SOAK_OK], facts(soak_stage="dev"), {"soak": " hotfix "})
    assert not result.passed and not result.blocking and result.overridden_reason == "hotfix"
