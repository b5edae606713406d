"""Quality gates between stages: thresholds in, decisions out. A failed gate is a value.

thresholds = parse_gates(document.get("gates", {}))            # both transitions, defaults filled
results = evaluate_gates("staging_to_production", thresholds["staging_to_production"],
                         evidence, overrides={"performance": "known p95 cost of the new parser"})
[r.name for r in results if r.blocking]                        # ["coverage", …] or []

soakgate.toml (every key optional; shown with the defaults of staging → production)::

    [gates.staging_to_production]
    tests = 100             # minimum pass rate, percent; skipped tests count against it
    coverage = 80           # minimum line coverage, percent
    mutation = 80           # minimum mutation score, percent
    vulnerabilities = "any" # block at this severity and above: any|low|moderate|high|critical
    performance = 5         # maximum regression vs the running release, percent
    soak = "7d"             # minimum observed, healthy soak in staging (a duration)

Missing evidence fails its gate closed, and so does a vulnerability of unknown severity or a
package that could not be audited.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from soakgate.core.evidence import (
    BENCH_CONFIDENCE,
    FAIL,
    PASS,
    SEVERITIES,
    UNKNOWN,
    Evidence,
    Vulnerability,
    severity_rank,
)
from soakgate.core.security import LEVELS, blocks, waiver_for
from soakgate.core.validation import ConfigInvalid, parse_duration

PROMOTIONS = {  # (from stage, to stage) -> the name of its gate set
    ("dev", "staging"): "dev_to_staging",
    ("staging", "production"): "staging_to_production",
}
TRANSITIONS = tuple(PROMOTIONS.values())
GATES = ("tests", "coverage", "mutation", "vulnerabilities", "performance", "soak")
_EPSILON = 1e-9  # 79.99999999999999 % is 80 %: float noise must not decide a gate
_DAY = 86400


@dataclass(frozen=True)
class GateThresholds:
    """The thresholds of one transition; ``soak`` None means no soak gate."""

    tests: float = 100.0  # minimum pass rate, percent
    coverage: float = 70.0  # minimum, percent
    mutation: float = 75.0  # minimum mutation score, percent
    vulnerabilities: str = "CRITICAL"  # lowest blocking severity; "LOW" blocks every known one
    performance: float = 5.0  # maximum regression, percent
    soak: int | None = None  # minimum observed healthy soak, seconds
    # bandit findings in the service's code that block: at or above both (LOW|MEDIUM|HIGH)
    code_severity: str = "HIGH"
    code_confidence: str = "HIGH"
    # a soak the monitor ran on an accelerated clock (soakgate demo) passes the soak gate only
    # where this is set: it shows the gate working, it is not a week of evidence
    accelerated_soak: bool = False

    def gates(self) -> tuple[str, ...]:
        return tuple(g for g in GATES if g != "soak" or self.soak is not None)


DEFAULT_THRESHOLDS = {
    "dev_to_staging": GateThresholds(),
    "staging_to_production": GateThresholds(
        coverage=80.0,
        mutation=80.0,
        vulnerabilities="LOW",
        soak=7 * _DAY,
        code_severity="MEDIUM",
        code_confidence="LOW",
    ),
}


@dataclass(frozen=True)
class GateResult:
    """One gate's decision. ``overridden_reason`` is set only on a failed gate someone waived."""

    name: str
    passed: bool
    threshold: str
    measured: str
    reasons: tuple[str, ...] = ()
    evidence_file: str | None = None
    overridden_reason: str | None = None

    @property
    def blocking(self) -> bool:
        """Failed and not overridden."""
        return not self.passed and self.overridden_reason is None

    def to_dict(self) -> dict[str, Any]:
        """For the ledger and ``--json`` output."""
        return {
            "name": self.name,
            "passed": self.passed,
            "threshold": self.threshold,
            "measured": self.measured,
            "reasons": list(self.reasons),
            "evidence_file": self.evidence_file,
            "overridden_reason": self.overridden_reason,
        }


def all_clear(results: list[GateResult]) -> bool:
    """True when no gate blocks (each passed or was overridden)."""
    return not any(result.blocking for result in results)


# --- formatting -----------------------------------------------------------------------------


def _floor(value: float) -> str:
    """Two decimals, rounded down: 79.999 shows as 79.99, never as a passing 80."""
    return f"{math.floor(value * 100 + _EPSILON) / 100:g}"


def _ceil(value: float) -> float:
    """Two decimals, rounded up: a 5.001 % regression shows as 5.01, never as a passing 5."""
    return math.ceil(value * 100 - _EPSILON) / 100


def _missing(what: str, option: str) -> str:
    return f"no {what} evidence: run soakgate evidence collect RELEASE or pass {option}"


def _days(seconds: float) -> str:
    return f"{math.floor(seconds / _DAY * 10 + _EPSILON) / 10:g} days"


# --- the gates ------------------------------------------------------------------------------


def _tests(limit: float, evidence: Evidence) -> tuple[bool, str, str, list[str]]:
    threshold = f"≥ {limit:g} % of tests pass"
    run = evidence.tests
    if run is None:
        return False, threshold, "no evidence", [_missing("test", "--junit junit.xml")]
    measured = (
        f"{_floor(run.pass_rate)} % ({run.passed}/{run.tests} passed,"
        f" {run.failures} failed, {run.errors} errors, {run.skipped} skipped)"
    )
    reasons = []
    if run.tests == 0:
        reasons.append("no tests ran: a run without tests proves nothing")
    elif run.pass_rate + _EPSILON < limit:
        if run.failures or run.errors:
            names = ", ".join(run.failed_names[:5]) + (" …" if len(run.failed_names) > 5 else "")
            reasons.append(f"{run.failures + run.errors} tests failed: {names}".rstrip(": "))
        if run.skipped:
            reasons.append(f"{run.skipped} tests skipped: a skipped test does not count as passed")
    return not reasons, threshold, measured, reasons


def _coverage(limit: float, evidence: Evidence) -> tuple[bool, str, str, list[str]]:
    threshold = f"≥ {limit:g} % line coverage"
    if evidence.coverage is None:
        return False, threshold, "no evidence", [_missing("coverage", "--coverage coverage.json")]
    measured = f"{_floor(evidence.coverage)} %"
    if evidence.coverage + _EPSILON >= limit:
        return True, threshold, measured, []
    return False, threshold, measured, [f"coverage {measured} is below {limit:g} %"]


def _mutation(limit: float, evidence: Evidence) -> tuple[bool, str, str, list[str]]:
    threshold = f"≥ {limit:g} % mutation score"
    run = evidence.mutation
    if run is None:
        return False, threshold, "no evidence", [_missing("mutation", "--mutation mutation.json")]
    measured = (
        f"{_floor(run.score)} % ({run.detected}/{run.scored} detected,"
        f" {run.survived} survived, {run.no_tests} without tests)"
    )
    reasons = []
    if run.scored == 0:
        reasons.append("no mutants were tested")
    elif run.score + _EPSILON < limit:
        reasons.append(f"mutation score {_floor(run.score)} % is below {limit:g} %")
    if run.not_checked or run.interrupted:
        reasons.append(
            f"{run.not_checked + run.interrupted} mutants not checked: run mutmut run to the end"
        )
    return not reasons, threshold, measured, reasons


def _vulnerability_line(vuln: Vulnerability) -> str:
    fix = f", fixed in {', '.join(vuln.fix_versions)}" if vuln.fix_versions else ", no fix yet"
    if vuln.severity == UNKNOWN:
        severity = "severity unknown: pass --advisories DIR (OSV) to learn it"
    else:
        severity = vuln.severity
    return f"{vuln.package} {vuln.version}: {vuln.id} ({severity}){fix}"


def _vulnerability_threshold(thresholds: GateThresholds) -> str:
    block = thresholds.vulnerabilities
    packages = (
        "no known vulnerabilities"
        if block == SEVERITIES[0]
        else f"no {block} vulnerabilities"
        if block == SEVERITIES[-1]
        else f"no vulnerabilities of severity {block} or above"
    )
    code = f"no code issue of severity ≥ {thresholds.code_severity}"
    if thresholds.code_confidence != "LOW":
        code += f" at confidence ≥ {thresholds.code_confidence}"
    return f"{packages}; {code} (bandit)"


def _expired_note(ids: frozenset[str], evidence: Evidence) -> str:
    expired = waiver_for(ids, evidence.expired_waivers)
    return f" (its waiver expired on {expired.expires.isoformat()})" if expired else ""


def _code_issues(thresholds: GateThresholds, evidence: Evidence) -> tuple[str, list[str]]:
    """The measured text and the blocking reasons of bandit's findings."""
    if evidence.code is None:
        return "code not scanned", [_missing("code scan (bandit)", "--bandit bandit.json")]
    blocking, waived = [], 0
    for issue in evidence.code:
        if not blocks(issue, thresholds.code_severity, thresholds.code_confidence):
            continue
        if waiver_for(issue.ids(), evidence.waivers) is not None:
            waived += 1
            continue
        blocking.append(f"code: {issue.describe()}{_expired_note(issue.ids(), evidence)}")
    counts = dict.fromkeys(reversed(LEVELS), 0)
    for issue in evidence.code:
        counts[issue.severity if issue.severity in counts else "HIGH"] += 1
    found = ", ".join(f"{n} {level}" for level, n in counts.items() if n)
    measured = f"code: {found or 'no issues'}" + (f", {waived} waived" if waived else "")
    return measured, blocking


def _vulnerabilities(
    thresholds: GateThresholds, evidence: Evidence
) -> tuple[bool, str, str, list[str]]:
    block = thresholds.vulnerabilities
    threshold = _vulnerability_threshold(thresholds)
    audit = evidence.audit
    if audit is None:
        return False, threshold, "no evidence", [_missing("vulnerability", "--audit audit.json")]
    by_severity: dict[str, int] = {}
    for vuln in audit.vulnerabilities:
        by_severity[vuln.severity] = by_severity.get(vuln.severity, 0) + 1
    counts = ", ".join(
        f"{by_severity[s]} {s}" for s in (*reversed(SEVERITIES), UNKNOWN) if s in by_severity
    )
    measured = f"{len(audit.vulnerabilities)} known" + (f" ({counts})" if counts else "")
    measured += f", {len(audit.unaudited)} packages not audited"
    reasons, waived = [], 0
    for vuln in sorted(audit.vulnerabilities, key=lambda v: -severity_rank(v.severity)):
        if severity_rank(vuln.severity) < severity_rank(block):
            continue
        if waiver_for(vuln.ids, evidence.waivers) is not None:
            waived += 1
            continue
        reasons.append(_vulnerability_line(vuln) + _expired_note(vuln.ids, evidence))
    if waived:
        measured += f", {waived} waived"
    reasons += [f"could not audit {entry}" for entry in audit.unaudited]
    code_measured, code_reasons = _code_issues(thresholds, evidence)
    reasons += code_reasons
    return not reasons, threshold, f"{measured}; {code_measured}", reasons


def _performance(limit: float, evidence: Evidence) -> tuple[bool, str, str, list[str]]:
    """Three ways: pass when every figure's regression interval is within ``limit``, fail
    when one lies wholly beyond it, inconclusive (blocking, but named so: measure again) when
    one straddles it. Evidence without intervals is judged on its point estimates."""
    threshold = f"≤ {limit:g} % regression in throughput, p50 and p95 vs the running release"
    bench = evidence.performance
    if bench is None:
        return False, threshold, "no evidence", [_missing("performance", "--bench bench.json")]
    base, new = bench.baseline, bench.candidate
    checks = [
        ("throughput", "throughput_drop", "down", f"{base.throughput:g} → {new.throughput:g} rps"),
        ("p50 latency", "p50_increase", "up", f"{base.p50:g} → {new.p50:g} ms"),
        ("p95 latency", "p95_increase", "up", f"{base.p95:g} → {new.p95:g} ms"),
    ]
    confidence = f"{(bench.confidence or BENCH_CONFIDENCE) * 100:g} %"
    parts = []
    for label, figure, way, _ in checks:
        change = getattr(bench, figure)
        part = f"{label} {(_ceil(change) if way == 'up' else -_ceil(change)) + 0:+g} %"
        if figure in bench.intervals:
            low, high = bench.intervals[figure]  # regression, rounded outwards for display
            ends = (math.floor(low * 100 + _EPSILON) / 100, _ceil(high))
            if way == "down":
                ends = (-ends[1], -ends[0])
            part += f" [{ends[0] + 0:+g}, {ends[1] + 0:+g}]"
        parts.append(part)
    measured = ", ".join(parts)
    if bench.intervals:
        rounds = len(bench.rounds) or 1
        measured += f" ({confidence} intervals, {rounds} round{'s' * (rounds > 1)})"
    verdict = bench.verdict(limit)
    if verdict == PASS:
        return True, threshold, measured, []
    if verdict == FAIL:
        reasons = []
        for label, figure, way, values in checks:
            low, _ = bench.bounds(figure)
            if low > limit + _EPSILON:
                reason = f"{label} {way} {_ceil(getattr(bench, figure)):g} % ({values})"
                if figure in bench.intervals:
                    reason += f", at least {_floor(low)} % at {confidence} confidence"
                reasons.append(f"{reason}, more than {limit:g} %")
        return False, threshold, measured, reasons
    release = (new.release or "RELEASE").removeprefix("sha256:")[:12]
    baseline = (base.release or "DIGEST").removeprefix("sha256:")[:12]
    straddling = [
        f"{label} {way} {_ceil(getattr(bench, figure)):g} % could be"
        f" {_floor(bench.bounds(figure)[0])} to {_ceil(bench.bounds(figure)[1]):g} %"
        for label, figure, way, _ in checks
        if bench.bounds(figure)[1] > limit + _EPSILON
    ]
    hint = (
        f"soakgate evidence collect {release} --baseline {baseline}"
        " --skip tests --skip mutation --skip audit"
    )
    reasons = [
        f"inconclusive: measure again ({hint}): {'; '.join(straddling)}"
        f" at {confidence} confidence, below or above {limit:g} %"
    ]
    return False, threshold, f"inconclusive: {measured}", reasons


def _soak(
    seconds: int, evidence: Evidence, accelerated_ok: bool = False
) -> tuple[bool, str, str, list[str]]:
    threshold = f"verdict healthy and ≥ {_days(seconds)} observed"
    soak = evidence.soak
    if soak is None:
        return False, threshold, "no evidence", [_missing("soak", "--soak soak.json")]
    measured = f"{soak.verdict}, {_days(soak.observed_seconds)} observed"
    reasons = []
    if soak.time_scale > 1:
        measured += f" (ACCELERATED x{soak.time_scale:g})"
        if not accelerated_ok:
            reasons.append(
                f"the soak ran on an accelerated clock (x{soak.time_scale:g}): it is not"
                " observed time; soak on the real clock"
            )
    if soak.verdict != "healthy":
        reasons.append(f"soak verdict is {soak.verdict}")
        reasons += soak.reasons
    if soak.observed_seconds + _EPSILON < seconds:
        reasons.append(
            f"only {_days(soak.observed_seconds)} of healthy soak observed, need {_days(seconds)}"
        )
    return not reasons, threshold, measured, reasons


def _check_overrides(transition: str, gates: tuple[str, ...], overrides: Mapping[str, str]) -> None:
    for name, reason in overrides.items():
        if name not in GATES:
            raise ValueError(f"unknown gate {name!r} (known: {', '.join(GATES)})")
        if name not in gates:
            raise ValueError(
                f"gate {name!r} is not part of {transition} (its gates: {', '.join(gates)})"
            )
        if not reason.strip():
            raise ValueError(f"an override of gate {name!r} needs a reason")


def evaluate_gates(
    transition: str,
    thresholds: GateThresholds,
    evidence: Evidence,
    overrides: Mapping[str, str] | None = None,
) -> list[GateResult]:
    """Judge every gate of ``transition``; ``overrides`` maps a gate name to the reason.

    Raises ``ValueError`` for an unknown transition, an unknown gate or an empty reason.
    """
    if transition not in TRANSITIONS:
        raise ValueError(f"unknown transition {transition!r} (known: {', '.join(TRANSITIONS)})")
    gates = thresholds.gates()
    overrides = overrides or {}
    _check_overrides(transition, gates, overrides)
    judged = {
        "tests": lambda: _tests(thresholds.tests, evidence),
        "coverage": lambda: _coverage(thresholds.coverage, evidence),
        "mutation": lambda: _mutation(thresholds.mutation, evidence),
        "vulnerabilities": lambda: _vulnerabilities(thresholds, evidence),
        "performance": lambda: _performance(thresholds.performance, evidence),
        "soak": lambda: _soak(thresholds.soak or 0, evidence, thresholds.accelerated_soak),
    }
    results = []
    for name in gates:
        passed, threshold, measured, reasons = judged[name]()
        result = GateResult(
            name, passed, threshold, measured, tuple(reasons), evidence.files.get(name)
        )
        if not passed and name in overrides:
            result = replace(result, overridden_reason=overrides[name].strip())
        results.append(result)
    return results


# --- configuration --------------------------------------------------------------------------

_VULNERABILITY_LEVELS = {
    "any": "LOW",
    "low": "LOW",
    "moderate": "MODERATE",
    "medium": "MODERATE",
    "high": "HIGH",
    "critical": "CRITICAL",
}


def _show(value: Any) -> str:
    """A value as it would be written in TOML: ``"80%"``, ``80``, ``true``."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _percent(table: dict[str, Any], key: str, path: str, default: float) -> float:
    value = table.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 100
    ):
        raise ConfigInvalid(
            f"{path}.{key}", f"expected a number between 0 and 100, got {_show(value)}"
        )
    return float(value)


def _transition(raw: Any, path: str, default: GateThresholds) -> GateThresholds:
    if not isinstance(raw, dict):
        raise ConfigInvalid(path, f"expected a table, got {type(raw).__name__}")
    known = (*GATES, "code", "code_confidence", "accelerated_soak")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigInvalid(f"{path}.{unknown[0]}", f"unknown key (known: {', '.join(known)})")
    level = raw.get("vulnerabilities", default.vulnerabilities.lower())
    if not isinstance(level, str) or level.lower() not in _VULNERABILITY_LEVELS:
        raise ConfigInvalid(
            f"{path}.vulnerabilities",
            f'expected one of "any", "low", "moderate", "high", "critical", got {_show(level)}',
        )
    soak = default.soak
    if "soak" in raw:
        soak = parse_duration(f"{path}.soak", raw["soak"])
    return GateThresholds(
        tests=_percent(raw, "tests", path, default.tests),
        coverage=_percent(raw, "coverage", path, default.coverage),
        mutation=_percent(raw, "mutation", path, default.mutation),
        vulnerabilities=_VULNERABILITY_LEVELS[level.lower()],
        performance=_percent(raw, "performance", path, default.performance),
        soak=soak,
        code_severity=_code_level(raw, "code", path, default.code_severity),
        code_confidence=_code_level(raw, "code_confidence", path, default.code_confidence),
        accelerated_soak=_flag(raw, "accelerated_soak", path, default.accelerated_soak),
    )


def _flag(table: dict[str, Any], key: str, path: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigInvalid(f"{path}.{key}", f"expected true or false, got {_show(value)}")
    return value


def _code_level(table: dict[str, Any], key: str, path: str, default: str) -> str:
    value = table.get(key, default.lower())
    if not isinstance(value, str) or value.upper() not in LEVELS:
        raise ConfigInvalid(
            f"{path}.{key}", f'expected one of "low", "medium", "high", got {_show(value)}'
        )
    return value.upper()


def parse_gates(data: Any) -> dict[str, GateThresholds]:
    """Validate the ``[gates]`` table of soakgate.toml; both transitions, defaults filled."""
    if not isinstance(data, dict):
        raise ConfigInvalid("gates", f"expected a table, got {type(data).__name__}")
    unknown = sorted(set(data) - set(TRANSITIONS))
    if unknown:
        raise ConfigInvalid(f"gates.{unknown[0]}", f"unknown key (known: {', '.join(TRANSITIONS)})")
    return {
        name: _transition(data.get(name, {}), f"gates.{name}", DEFAULT_THRESHOLDS[name])
        for name in TRANSITIONS
    }
