"""Gates: every threshold at, just below and just above; missing evidence; overrides; config."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from soakgate.core.config import ConfigInvalid
from soakgate.core.evidence import (
    UNKNOWN,
    Audit,
    BenchComparison,
    BenchStats,
    Evidence,
    MutationRun,
    SoakVerdict,
    TestRun,
    Vulnerability,
)
from soakgate.core.gates import (
    DEFAULT_THRESHOLDS,
    GATES,
    GateResult,
    GateThresholds,
    all_clear,
    evaluate_gates,
    parse_gates,
)
from soakgate.core.security import CodeIssue, Waiver

DAY = 86400
STAGING = "dev_to_staging"
PRODUCTION = "staging_to_production"
BASE = BenchStats(throughput=1000.0, p50=10.0, p95=40.0)


def passing() -> Evidence:
    """Evidence that passes every gate of both transitions."""
    return Evidence(
        tests=TestRun(tests=200),
        coverage=91.0,
        mutation=MutationRun(killed=90, survived=10),
        audit=Audit(),
        performance=BenchComparison(BASE, BASE),
        soak=SoakVerdict("healthy", 8 * DAY),
        code=(),
    )


def gate(transition: str, evidence: Evidence, name: str, **overrides: str) -> GateResult:
    results = evaluate_gates(transition, DEFAULT_THRESHOLDS[transition], evidence, overrides)
    return next(result for result in results if result.name == name)


def test_all_gates_pass_on_good_evidence() -> None:
    for transition in (STAGING, PRODUCTION):
        results = evaluate_gates(transition, DEFAULT_THRESHOLDS[transition], passing())
        assert [r.name for r in results if not r.passed] == []
        assert all_clear(results)


def test_the_gates_of_each_transition() -> None:
    staging = evaluate_gates(STAGING, DEFAULT_THRESHOLDS[STAGING], passing())
    production = evaluate_gates(PRODUCTION, DEFAULT_THRESHOLDS[PRODUCTION], passing())
    assert [r.name for r in staging] == list(GATES[:-1])
    assert [r.name for r in production] == list(GATES)


# --- each gate at, below and above its threshold --------------------------------------------


@pytest.mark.parametrize(
    ("transition", "run", "passed"),
    [
        (STAGING, TestRun(tests=200), True),  # 100 %: at (nothing can be above)
        (STAGING, TestRun(tests=200, failures=1), False),  # 99.5 %: just below
        (PRODUCTION, TestRun(tests=200), True),
        (PRODUCTION, TestRun(tests=200, errors=1), False),
        (PRODUCTION, TestRun(tests=200, skipped=1), False),  # a skip is not a pass
    ],
)
def test_tests_gate(transition: str, run: TestRun, passed: bool) -> None:
    assert gate(transition, replace(passing(), tests=run), "tests").passed is passed


@pytest.mark.parametrize(
    ("passed_count", "passed"), [(190, True), (189, False), (191, True)]
)  # at 95 %, just below, just above
def test_tests_gate_with_a_lower_configured_threshold(passed_count: int, passed: bool) -> None:
    run = TestRun(tests=200, failures=200 - passed_count)
    thresholds = GateThresholds(tests=95)
    results = evaluate_gates(STAGING, thresholds, replace(passing(), tests=run))
    assert results[0].passed is passed


@pytest.mark.parametrize(
    ("transition", "percent", "passed"),
    [
        (STAGING, 70.0, True),
        (STAGING, 69.99, False),
        (STAGING, 70.01, True),
        (STAGING, 69.99999999999999, True),  # float noise of a computed 70 %
        (PRODUCTION, 80.0, True),
        (PRODUCTION, 79.99, False),
        (PRODUCTION, 80.01, True),
        (PRODUCTION, 70.0, False),
    ],
)
def test_coverage_gate(transition: str, percent: float, passed: bool) -> None:
    assert gate(transition, replace(passing(), coverage=percent), "coverage").passed is passed


@pytest.mark.parametrize(
    ("transition", "detected", "passed"),
    [
        (STAGING, 750, True),  # 75.0 %
        (STAGING, 749, False),  # 74.9 %
        (STAGING, 751, True),  # 75.1 %
        (PRODUCTION, 800, True),
        (PRODUCTION, 799, False),
        (PRODUCTION, 801, True),
    ],
)
def test_mutation_gate(transition: str, detected: int, passed: bool) -> None:
    run = MutationRun(killed=detected, survived=1000 - detected)
    assert gate(transition, replace(passing(), mutation=run), "mutation").passed is passed


@pytest.mark.parametrize(
    ("transition", "severities", "passed"),
    [
        (STAGING, ["CRITICAL"], False),  # at the blocking severity
        (STAGING, ["HIGH", "HIGH", "MODERATE"], True),  # just below it
        (STAGING, [UNKNOWN], False),  # unknown might be critical: fails closed
        (STAGING, [], True),
        (PRODUCTION, ["LOW"], False),  # any known vulnerability blocks
        (PRODUCTION, ["MODERATE"], False),
        (PRODUCTION, [UNKNOWN], False),
        (PRODUCTION, [], True),
    ],
)
def test_vulnerabilities_gate(transition: str, severities: list[str], passed: bool) -> None:
    vulns = tuple(
        Vulnerability("starlette", "0.38.6", f"GHSA-{i}", severity=s)
        for i, s in enumerate(severities)
    )
    evidence = replace(passing(), audit=Audit(vulns))
    assert gate(transition, evidence, "vulnerabilities").passed is passed


@pytest.mark.parametrize("transition", [STAGING, PRODUCTION])
@pytest.mark.parametrize(
    ("candidate", "passed"),
    [
        (BenchStats(950.0, 10.0, 40.0), True),  # throughput -5 %: at
        (BenchStats(949.9, 10.0, 40.0), False),  # -5.01 %: just beyond
        (BenchStats(951.0, 10.0, 40.0), True),  # -4.9 %: just within
        (BenchStats(1000.0, 10.5, 40.5), True),  # p50 +5 % (5.000000000000004 in floats)
        (BenchStats(1000.0, 10.501, 40.5), False),
        (BenchStats(1000.0, 10.499, 40.5), True),
        (BenchStats(1000.0, 10.0, 42.0), True),  # p95 +5 %
        (BenchStats(1000.0, 10.0, 42.001), False),
        (BenchStats(1000.0, 10.0, 41.999), True),
        (BenchStats(2000.0, 5.0, 20.0), True),  # faster everywhere
    ],
)
def test_performance_gate(transition: str, candidate: BenchStats, passed: bool) -> None:
    evidence = replace(passing(), performance=BenchComparison(BASE, candidate))
    assert gate(transition, evidence, "performance").passed is passed


@pytest.mark.parametrize(
    ("verdict", "passed"),
    [
        (SoakVerdict("healthy", 7 * DAY), True),
        (SoakVerdict("healthy", 7 * DAY - 1), False),
        (SoakVerdict("healthy", 7 * DAY + 1), True),
        (SoakVerdict("breached", 8 * DAY, reasons=("p99 812 ms > 500 ms",)), False),
        (SoakVerdict("not enough data", 8 * DAY), False),
    ],
)
def test_soak_gate(verdict: SoakVerdict, passed: bool) -> None:
    assert gate(PRODUCTION, replace(passing(), soak=verdict), "soak").passed is passed


# --- what the results say -------------------------------------------------------------------


def test_measured_values_never_round_up_to_a_pass() -> None:
    result = gate(PRODUCTION, replace(passing(), coverage=79.999), "coverage")
    assert (result.passed, result.threshold, result.measured) == (
        False,
        "≥ 80 % line coverage",
        "79.99 %",
    )
    assert result.reasons == ("coverage 79.99 % is below 80 %",)


def test_test_failures_are_named() -> None:
    run = TestRun(tests=3, failures=1, skipped=1, failed_names=("tests.unit.test_x::test_y",))
    result = gate(STAGING, replace(passing(), tests=run), "tests")
    assert result.measured == "33.33 % (1/3 passed, 1 failed, 0 errors, 1 skipped)"
    assert result.reasons == (
        "1 tests failed: tests.unit.test_x::test_y",
        "1 tests skipped: a skipped test does not count as passed",
    )


def test_zero_tests_fail() -> None:
    result = gate(STAGING, replace(passing(), tests=TestRun(tests=0)), "tests")
    assert not result.passed
    assert result.reasons == ("no tests ran: a run without tests proves nothing",)


def test_performance_reasons_name_the_metric() -> None:
    candidate = BenchStats(1000.0, 10.0, 43.0)
    result = gate(
        PRODUCTION, replace(passing(), performance=BenchComparison(BASE, candidate)), "performance"
    )
    assert result.measured == "throughput +0 %, p50 latency +0 %, p95 latency +7.5 %"
    assert result.reasons == ("p95 latency up 7.5 % (40 → 43 ms), more than 5 %",)


def test_soak_reasons() -> None:
    verdict = SoakVerdict("breached", 3.5 * DAY, reasons=("availability 99.2 % < 99.9 %",))
    result = gate(PRODUCTION, replace(passing(), soak=verdict), "soak")
    assert result.threshold == "verdict healthy and ≥ 7 days observed"
    assert result.measured == "breached, 3.5 days observed"
    assert result.reasons == (
        "soak verdict is breached",
        "availability 99.2 % < 99.9 %",
        "only 3.5 days of healthy soak observed, need 7 days",
    )


def test_mutants_not_checked_fail_the_gate() -> None:
    run = MutationRun(killed=95, survived=4, not_checked=1)
    result = gate(STAGING, replace(passing(), mutation=run), "mutation")
    assert not result.passed
    assert result.reasons == ("1 mutants not checked: run mutmut run to the end",)


def test_vulnerability_reasons() -> None:
    vulns = (
        Vulnerability(
            "jinja2", "3.1.2", "GHSA-h5c8-rqwp-cp95", "MODERATE", fix_versions=("3.1.3",)
        ),
        Vulnerability("urllib3", "1.22", "GHSA-www2-v7xj-xrc6", "CRITICAL", fix_versions=("1.23",)),
        Vulnerability("ecdsa", "0.18.0", "GHSA-wj6h-64fc-37mp", "HIGH"),
        Vulnerability("starlette", "0.24.0", "PYSEC-2023-48"),
    )
    evidence = replace(passing(), audit=Audit(vulns))
    staging = gate(STAGING, evidence, "vulnerabilities")
    assert staging.threshold == (
        "no CRITICAL vulnerabilities; no code issue of severity ≥ HIGH at confidence ≥ HIGH"
        " (bandit)"
    )
    assert staging.measured == (
        "4 known (1 CRITICAL, 1 HIGH, 1 MODERATE, 1 UNKNOWN), 0 packages not audited;"
        " code: no issues"
    )
    assert staging.reasons == (
        "starlette 0.24.0: PYSEC-2023-48"
        " (severity unknown: pass --advisories DIR (OSV) to learn it), no fix yet",
        "urllib3 1.22: GHSA-www2-v7xj-xrc6 (CRITICAL), fixed in 1.23",
    )
    production = gate(PRODUCTION, evidence, "vulnerabilities")
    assert production.threshold == (
        "no known vulnerabilities; no code issue of severity ≥ MEDIUM (bandit)"
    )
    assert len(production.reasons) == 4


@pytest.mark.parametrize("transition", [STAGING, PRODUCTION])
def test_a_package_that_could_not_be_audited_fails_closed(transition: str) -> None:
    audit = Audit(unaudited=("service: Dependency not found on PyPI and could not be audited",))
    result = gate(transition, replace(passing(), audit=audit), "vulnerabilities")
    assert not result.passed
    assert result.reasons == (
        "could not audit service: Dependency not found on PyPI and could not be audited",
    )


@pytest.mark.parametrize("transition", [STAGING, PRODUCTION])
def test_missing_evidence_fails_closed_and_says_how_to_produce_it(transition: str) -> None:
    results = evaluate_gates(transition, DEFAULT_THRESHOLDS[transition], Evidence())
    assert all(not r.passed and r.measured == "no evidence" for r in results)
    reasons = {r.name: r.reasons for r in results}
    assert reasons["coverage"] == (
        "no coverage evidence: run soakgate evidence collect RELEASE"
        " or pass --coverage coverage.json",
    )
    options = {
        "tests": "--junit junit.xml",
        "mutation": "--mutation mutation.json",
        "vulnerabilities": "--audit audit.json",
        "performance": "--bench bench.json",
        "soak": "--soak soak.json",
    }
    for name, option in options.items():
        if name in reasons:
            assert reasons[name][0].endswith(f"or pass {option}")


def test_the_evidence_file_is_recorded() -> None:
    evidence = replace(passing(), files={"coverage": "reports/coverage.json"})
    assert gate(STAGING, evidence, "coverage").evidence_file == "reports/coverage.json"
    assert gate(STAGING, evidence, "tests").evidence_file is None


# --- overrides ------------------------------------------------------------------------------


def test_an_override_waives_a_failed_gate_and_records_why() -> None:
    evidence = replace(passing(), coverage=60.0)
    result = gate(STAGING, evidence, "coverage", coverage="  hotfix INC-231, tests follow in #88 ")
    assert (result.passed, result.blocking) == (False, False)
    assert result.overridden_reason == "hotfix INC-231, tests follow in #88"
    results = evaluate_gates(STAGING, DEFAULT_THRESHOLDS[STAGING], evidence, {"coverage": "x"})
    assert all_clear(results)
    assert not all_clear(evaluate_gates(STAGING, DEFAULT_THRESHOLDS[STAGING], evidence))


def test_an_override_of_a_passing_gate_records_nothing() -> None:
    result = gate(STAGING, passing(), "coverage", coverage="just in case")
    assert (result.passed, result.overridden_reason) == (True, None)


@pytest.mark.parametrize(
    ("transition", "overrides", "message"),
    [
        (
            STAGING,
            {"lint": "x"},
            r"unknown gate 'lint' \(known: tests, coverage, mutation, vulnerab",
        ),
        (STAGING, {"soak": "x"}, "gate 'soak' is not part of dev_to_staging"),
        (PRODUCTION, {"coverage": "  "}, "an override of gate 'coverage' needs a reason"),
        ("dev_to_production", {}, "unknown transition 'dev_to_production'"),
    ],
)
def test_bad_overrides_are_refused(
    transition: str, overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_gates(transition, DEFAULT_THRESHOLDS[STAGING], Evidence(), overrides)


def test_results_serialise_for_the_ledger() -> None:
    results = evaluate_gates(PRODUCTION, DEFAULT_THRESHOLDS[PRODUCTION], Evidence())
    document = json.loads(json.dumps([r.to_dict() for r in results]))
    assert document[0]["name"] == "tests"
    assert document[0]["passed"] is False


# --- configuration --------------------------------------------------------------------------


def test_default_thresholds() -> None:
    gates = parse_gates({})
    assert gates == DEFAULT_THRESHOLDS
    assert gates[STAGING] == GateThresholds(100, 70, 75, "CRITICAL", 5, None, "HIGH", "HIGH")
    assert gates[PRODUCTION] == GateThresholds(100, 80, 80, "LOW", 5, 7 * DAY, "MEDIUM", "LOW")


def test_configured_thresholds() -> None:
    gates = parse_gates(
        {
            "dev_to_staging": {"coverage": 65, "vulnerabilities": "High"},
            "staging_to_production": {"mutation": 85.5, "soak": "14d", "performance": 3},
        }
    )
    assert gates[STAGING] == GateThresholds(coverage=65, vulnerabilities="HIGH")
    assert gates[PRODUCTION] == replace(
        DEFAULT_THRESHOLDS[PRODUCTION], mutation=85.5, soak=14 * DAY, performance=3
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"staging_to_production": {"coverage": "80%"}},
            'gates.staging_to_production.coverage: expected a number between 0 and 100, got "80%"',
        ),
        (
            {"dev_to_staging": {"mutation": 101}},
            "gates.dev_to_staging.mutation: expected a number between 0 and 100, got 101",
        ),
        (
            {"dev_to_staging": {"tests": True}},
            "gates.dev_to_staging.tests: expected a number between 0 and 100, got true",
        ),
        (
            {"dev_to_staging": {"performance": -1}},
            "gates.dev_to_staging.performance: expected a number between 0 and 100, got -1",
        ),
        (
            {"dev_to_staging": {"vulnerabilities": "severe"}},
            'gates.dev_to_staging.vulnerabilities: expected one of "any", "low", "moderate",'
            ' "high", "critical", got "severe"',
        ),
        (
            {"staging_to_production": {"soak": "a week"}},
            'gates.staging_to_production.soak: expected a duration like "4h"',
        ),
        (
            {"dev_to_staging": {"lint": 1}},
            "gates.dev_to_staging.lint: unknown key (known: tests, coverage",
        ),
        (
            {"staging_to_prod": {}},
            "gates.staging_to_prod: unknown key (known: dev_to_staging, staging_to_production)",
        ),
        ({"dev_to_staging": 70}, "gates.dev_to_staging: expected a table, got int"),
        ([], "gates: expected a table, got list"),
    ],
)
def test_config_errors_name_the_path(data: Any, message: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        parse_gates(data)
    assert str(caught.value).startswith(message)


# --- code issues (bandit) and waivers -------------------------------------------------------


def issue(severity: str, confidence: str, test_id: str = "B602") -> CodeIssue:
    return CodeIssue(test_id, severity, confidence, "app/main.py", 12, "subprocess with shell")


@pytest.mark.parametrize(
    ("transition", "found", "passed"),
    [
        (STAGING, issue("HIGH", "HIGH"), False),  # dev → staging: HIGH at HIGH confidence
        (STAGING, issue("HIGH", "MEDIUM"), True),
        (STAGING, issue("MEDIUM", "HIGH"), True),
        (PRODUCTION, issue("MEDIUM", "LOW"), False),  # staging → production: MEDIUM or above
        (PRODUCTION, issue("HIGH", "LOW"), False),
        (PRODUCTION, issue("LOW", "HIGH"), True),
    ],
)
def test_bandit_findings_feed_the_vulnerability_gate(
    transition: str, found: CodeIssue, passed: bool
) -> None:
    result = gate(transition, replace(passing(), code=(found,)), "vulnerabilities")
    assert result.passed is passed
    if not passed:
        assert result.reasons == (
            "code: app/main.py:12: B602 subprocess with shell"
            f" (severity {found.severity}, confidence {found.confidence})",
        )
    assert f"code: 1 {found.severity}" in result.measured


def test_no_code_scan_fails_closed() -> None:
    result = gate(STAGING, replace(passing(), code=None), "vulnerabilities")
    assert not result.passed and "no code scan (bandit) evidence" in result.reasons[0]


def test_a_waiver_in_force_passes_its_finding_and_an_expired_one_does_not() -> None:
    vuln = Vulnerability("jinja2", "3.1.2", "GHSA-h5c8-rqwp-cp95", "MODERATE", ("CVE-2024-1",))
    evidence = replace(passing(), audit=Audit((vuln,)), code=(issue("HIGH", "HIGH"),))
    waivers = (
        Waiver("CVE-2024-1", "not reachable: no templates from users", date(2027, 1, 1)),
        Waiver("B602:app/main.py", "fixed argv, reviewed", date(2027, 1, 1)),
    )
    waived = gate(PRODUCTION, replace(evidence, waivers=waivers), "vulnerabilities")
    assert waived.passed and "1 waived; code: 1 HIGH, 1 waived" in waived.measured
    expired = gate(PRODUCTION, replace(evidence, expired_waivers=waivers), "vulnerabilities")
    assert not expired.passed
    assert all("(its waiver expired on 2027-01-01)" in reason for reason in expired.reasons)


def test_code_thresholds_are_configured_per_transition() -> None:
    gates = parse_gates({"dev_to_staging": {"code": "medium", "code_confidence": "low"}})
    assert (gates[STAGING].code_severity, gates[STAGING].code_confidence) == ("MEDIUM", "LOW")
    with pytest.raises(ConfigInvalid, match=r"gates.dev_to_staging.code: expected one of"):
        parse_gates({"dev_to_staging": {"code": "severe"}})
