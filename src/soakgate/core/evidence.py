"""Evidence for the gates, parsed from standard report files: text or bytes in, data out.

run = parse_junit(Path("junit.xml").read_bytes())          # TestRun(tests=212, failures=0, …)
percent = parse_coverage(Path("coverage.json").read_text())  # 83.4
mutation = parse_mutation(Path("mutation.json").read_text())  # MutationRun(killed=…)
audit = parse_pip_audit(Path("pip-audit.json").read_text())   # Audit(vulnerabilities=…)
audit = combine_audits(audit, match_advisories(installed, advisories))  # severities from OSV
evidence = Evidence(tests=run, coverage=percent, mutation=mutation, audit=audit)

Formats:
- JUnit XML (pytest ``--junitxml``). Skipped tests do not count as passed; no tests is not 100 %.
  Parsed with ``defusedxml`` (no DOCTYPE or entities accepted): the file is input we did not
  write.
- coverage.py JSON (``coverage json``): ``totals.percent_covered``.
- Mutation results, one JSON object of counts by status (missing keys are 0)::

      {"killed": 410, "survived": 31, "timeout": 2, "suspicious": 0, "no_tests": 12,
       "skipped": 0, "not_checked": 0, "caught_by_type_check": 5, "segfault": 0}

  mutmut ≥ 3.3's ``mutmut export-cicd-stats`` writes ``mutants/mutmut-cicd-stats.json`` in this
  shape (with ``total``, and without ``not_checked``/``caught_by_type_check``: the part of
  ``total`` it does not break down counts as not checked). For the exact breakdown, read the
  texts of ``mutants/**/*.meta`` (mutmut 3's per-file results, ``exit_code_by_key``) and call
  :func:`summarize_mutmut_meta`; :meth:`MutationRun.to_dict` writes this format.
- pip-audit JSON (``pip-audit -f json``): ``dependencies[].vulns[]``; entries with
  ``skip_reason`` could not be audited. pip-audit gives no severity: it is ``UNKNOWN`` until
  an OSV advisory supplies it (:func:`combine_audits`).
- OSV advisories (``github/advisory-database`` JSON files): :func:`match_advisories`.
  Version ranges use PEP 440 ordering from ``packaging``.
- Benchmark comparison (ours)::

      {"baseline": {"release": "sha256:…", "throughput": 812.0, "p50": 11.2, "p95": 40.1,
                    "samples": [11.0, 11.4, …]},
       "candidate": {…}}

  throughput in requests/s, p50/p95 and samples in milliseconds; the baseline is the release
  running in the target stage. Optional ``"changes"`` (what ``compare_releases`` writes) give
  confidence intervals of the three figures' changes, in percent::

      "changes": {"confidence": 0.9, "rounds": [340, 170],
                  "throughput_drop": {"estimate": 1.2, "low": -0.4, "high": 2.9},
                  "p50_increase": {…}, "p95_increase": {…}}

  Without them a figure's interval is its point estimate (the gate judges the plain ratio).
- Soak verdict (ours)::

      {"release": "sha256:…", "verdict": "healthy", "observed_seconds": 612000,
       "reasons": []}

  verdict is one of "healthy", "breached", "not enough data"; observed_seconds counts only
  observed, healthy time. ``state`` is accepted for ``verdict``, so the output of
  ``soakgate.core.soak.Verdict.as_dict()`` reads as it is (other keys are ignored).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any

from cvss import CVSS3
from cvss.exceptions import CVSSError
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml import ElementTree as DefusedET
from packaging.utils import canonicalize_name as canonical_name
from packaging.version import InvalidVersion, Version

from soakgate.core.security import CodeIssue, Waiver
from soakgate.core.soak import Verdict
from soakgate.core.stats import block_bootstrap, percentile


class EvidenceError(ValueError):
    """An evidence file is malformed or empty; the message names its kind and the fault."""


# --- severities -----------------------------------------------------------------------------

SEVERITIES = ("LOW", "MODERATE", "HIGH", "CRITICAL")
# Measured load of the perf bench's first round (s). More rounds follow while its verdict at
# the gate's limit is inconclusive, and a shorter first round gets more of them: the most a
# close call may pool stays the default's (80 s), so only a clear verdict is had sooner.
PERF_SECONDS = 40.0
PERF_SECONDS_RANGE = (10.0, 600.0)
UNKNOWN = "UNKNOWN"
_SEVERITY_ALIASES = {"MEDIUM": "MODERATE", "NONE": "LOW"}


def normalize_severity(text: object) -> str:
    """``"medium"`` → ``"MODERATE"``; anything unrecognised → ``"UNKNOWN"``."""
    if not isinstance(text, str):
        return UNKNOWN
    upper = text.strip().upper()
    upper = _SEVERITY_ALIASES.get(upper, upper)
    return upper if upper in SEVERITIES else UNKNOWN


def severity_rank(severity: str) -> int:
    """LOW 0 … CRITICAL 3; UNKNOWN ranks above CRITICAL so that it always blocks (fail closed)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


# --- tests: JUnit XML -----------------------------------------------------------------------


@dataclass(frozen=True)
class TestRun:
    """Counts of one test run. ``tests`` includes the skipped ones."""

    __test__ = False  # not a pytest test class

    tests: int
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failed_names: tuple[str, ...] = ()

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped

    @property
    def pass_rate(self) -> float:
        """Percent of all tests that passed; skipped tests count against it, 0 tests is 0 %."""
        return 100.0 * self.passed / self.tests if self.tests else 0.0


_JUNIT = "JUnit XML"


def _text(kind: str, data: str | bytes) -> str:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise EvidenceError(f"{kind}: not UTF-8 text (bad byte at {exc.start})") from None
    if not data.strip():
        raise EvidenceError(f"{kind}: the file is empty")
    return data


_XML_PROBLEMS = {  # expat's words → ours
    "no element found": "the document ends before its elements are closed (truncated file?)",
    "mismatched tag": "a closing tag does not match the open element",
    "junk after document element": "text or a second root element after the root element",
    "reference to invalid character number": "a character reference names no XML character",
}


def _junit_root(text: str) -> ET.Element:
    """The parsed report; defusedxml refuses DTDs and entities (no billion laughs)."""
    try:
        root: ET.Element = DefusedET.fromstring(text, forbid_dtd=True)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
        raise EvidenceError(f"{_JUNIT}: DOCTYPE or ENTITY declarations are not accepted") from None
    except ET.ParseError as exc:
        reason = str(exc).split(":", 1)[0]
        line = exc.position[0]
        what = _XML_PROBLEMS.get(reason, f"malformed markup ({reason})")
        raise EvidenceError(f"{_JUNIT}: {what} at line {line}") from None
    return root


def _elements(element: ET.Element) -> Iterable[tuple[str, str, dict[str, str]]]:
    """Yield ("open"|"close"|"empty", tag, attributes) for ``element`` and its descendants."""
    if len(element) == 0:
        yield "empty", element.tag, dict(element.attrib)
        return
    yield "open", element.tag, dict(element.attrib)
    for child in element:
        yield from _elements(child)
    yield "close", element.tag, {}


def _count(attrs: dict[str, str], key: str) -> int:
    value = attrs.get(key, "0")
    try:
        number = int(float(value))
    except (ValueError, OverflowError):  # "nan", "inf", "1e400"
        raise EvidenceError(f'{_JUNIT}: {key}="{value[:20]}" is not a number') from None
    if number < 0:
        raise EvidenceError(f'{_JUNIT}: {key}="{value}" is negative')
    return number


def parse_junit(data: str | bytes) -> TestRun:
    """Count the test cases of a JUnit XML report (``<testsuites>`` or ``<testsuite>`` root).

    Each ``<testcase>`` counts once: failed if it has a ``<failure>``, errored if it has an
    ``<error>``, skipped if it has a ``<skipped>``, passed otherwise. A report without test
    cases falls back to the counts on its innermost ``<testsuite>`` elements.
    """
    text = _text(_JUNIT, data)
    tests = failures = errors = skipped = 0
    failed: list[str] = []
    case: dict[str, str] | None = None
    outcome: set[str] = set()
    suites: list[tuple[dict[str, str], bool]] = []  # open suites: (attributes, has a child suite)
    leaf_totals = [0, 0, 0, 0]
    root: str | None = None

    def finish_case(case: dict[str, str]) -> None:
        nonlocal tests, failures, errors, skipped
        tests += 1
        if "failure" in outcome or "error" in outcome:
            if "failure" in outcome:
                failures += 1
            else:
                errors += 1
            failed.append("::".join(p for p in (case.get("classname"), case.get("name")) if p))
        elif "skipped" in outcome:
            skipped += 1

    for event, name, attrs in _elements(_junit_root(text)):
        if root is None:
            root = name
            if name not in ("testsuites", "testsuite"):
                raise EvidenceError(
                    f"{_JUNIT}: root element is <{name}>, expected <testsuites> or <testsuite>"
                )
        if name == "testsuite" and event != "close":
            if suites:
                suites[-1] = (suites[-1][0], True)
            suites.append((attrs, False))
        if name == "testsuite" and event in ("close", "empty"):
            suite_attrs, has_child = suites.pop()
            if not has_child:
                for index, key in enumerate(("tests", "failures", "errors", "skipped")):
                    leaf_totals[index] += _count(suite_attrs, key)
        elif name == "testcase":
            if event in ("open", "empty"):
                case, outcome = attrs, set()
            if event in ("close", "empty") and case is not None:
                finish_case(case)
                case = None
        elif case is not None and name in ("failure", "error", "skipped") and event != "close":
            outcome.add(name)
    if tests == 0 and leaf_totals[0] > 0:
        tests, failures, errors, skipped = leaf_totals
        if failures + errors + skipped > tests:
            raise EvidenceError(
                f"{_JUNIT}: failures + errors + skipped ({failures + errors + skipped})"
                f" exceed tests ({tests})"
            )
    return TestRun(tests, failures, errors, skipped, tuple(failed))


# --- JSON helpers ---------------------------------------------------------------------------


def _json(kind: str, data: str | bytes) -> Any:
    text = _text(kind, data)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{kind}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise EvidenceError(f"{kind}: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise EvidenceError(f"{kind}: not valid JSON ({str(exc)[:60]})") from None


def _object(kind: str, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EvidenceError(f"{kind}: {where} should be an object, got {type(value).__name__}")
    return value


def _number(kind: str, value: Any, where: str, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EvidenceError(f"{kind}: {where} should be a number, got {value!r}")
    if not low <= value <= high:
        bounds = f"between {low:g} and {high:g}" if math.isfinite(high) else f"at least {low:g}"
        raise EvidenceError(f"{kind}: {where} should be {bounds}, got {value!r}")
    return float(value)


# --- coverage.py JSON -----------------------------------------------------------------------

_COVERAGE = "coverage JSON"


def parse_coverage(data: str | bytes) -> float:
    """``totals.percent_covered`` of a ``coverage json`` report, in percent."""
    document = _object(_COVERAGE, _json(_COVERAGE, data), "the document")
    if "totals" not in document:
        raise EvidenceError(f"{_COVERAGE}: no totals (write it with `coverage json`)")
    totals = _object(_COVERAGE, document["totals"], "totals")
    if "percent_covered" not in totals:
        raise EvidenceError(f"{_COVERAGE}: totals has no percent_covered")
    if totals.get("num_statements") == 0:
        raise EvidenceError(f"{_COVERAGE}: 0 statements measured (check coverage's --source)")
    return _number(_COVERAGE, totals["percent_covered"], "totals.percent_covered", 0, 100)


# --- mutation results -----------------------------------------------------------------------

_MUTATION = "mutation results"
# mutmut 3's exit code → status table (mutmut/stats.py); any other code is "suspicious".
_MUTMUT_STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no_tests",
    33: "no_tests",
    2: "interrupted",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    37: "caught_by_type_check",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}


@dataclass(frozen=True)
class MutationRun:
    """Mutants by outcome. Detected: killed, timeout, caught by type check, segfault."""

    killed: int = 0
    survived: int = 0
    timeout: int = 0
    suspicious: int = 0
    no_tests: int = 0
    skipped: int = 0
    not_checked: int = 0
    caught_by_type_check: int = 0
    segfault: int = 0
    interrupted: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in self.__dataclass_fields__)

    @property
    def detected(self) -> int:
        return self.killed + self.timeout + self.caught_by_type_check + self.segfault

    @property
    def scored(self) -> int:
        """Mutants that count for the score: all but the skipped ones."""
        return self.total - self.skipped

    @property
    def score(self) -> float:
        """Percent of scored mutants detected; 0 when none was scored."""
        return 100.0 * self.detected / self.scored if self.scored else 0.0

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def parse_mutation(data: str | bytes) -> MutationRun:
    """Counts by status (see the module docstring), e.g. mutmut's ``mutmut-cicd-stats.json``."""
    document = _object(_MUTATION, _json(_MUTATION, data), "the document")
    aliases = {"check_was_interrupted_by_user": "interrupted"}
    known = set(MutationRun.__dataclass_fields__)
    counts: dict[str, int] = {}
    for key, value in document.items():
        name = aliases.get(key, key)
        if name not in known and name != "total":
            continue  # tolerate new statuses and metadata; they cannot raise the score
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
            raise EvidenceError(f"{_MUTATION}: {key} should be a count, got {str(value)[:20]}")
        counts[name] = value
    total = counts.pop("total", None)
    run = MutationRun(**counts)
    if total is not None:
        if total < run.total:
            raise EvidenceError(f"{_MUTATION}: total {total} is less than the counts' sum")
        run = replace(run, not_checked=run.not_checked + total - run.total)
    if run.total == 0:
        raise EvidenceError(f"{_MUTATION}: no mutants counted (did `mutmut run` finish?)")
    return run


def summarize_mutmut_meta(texts: Iterable[str | bytes]) -> MutationRun:
    """Sum mutmut 3's ``mutants/**/*.meta`` files (``exit_code_by_key``; null = not checked)."""
    counts = dict.fromkeys(MutationRun.__dataclass_fields__, 0)
    for index, data in enumerate(texts):
        document = _object("mutmut meta", _json("mutmut meta", data), f"file {index + 1}")
        codes = document.get("exit_code_by_key")
        if not isinstance(codes, dict):
            raise EvidenceError(f"mutmut meta: file {index + 1} has no exit_code_by_key object")
        for code in codes.values():
            if code is None:
                counts["not_checked"] += 1
            elif isinstance(code, int) and not isinstance(code, bool):
                counts[_MUTMUT_STATUS.get(code, "suspicious")] += 1
            else:
                raise EvidenceError(f"mutmut meta: exit code {code!r} is not an integer")
    run = MutationRun(**counts)
    if run.total == 0:
        raise EvidenceError("mutmut meta: no mutants found (run `mutmut run` first)")
    return run


# --- vulnerabilities ------------------------------------------------------------------------


@dataclass(frozen=True)
class Vulnerability:
    package: str  # canonical name
    version: str
    id: str
    severity: str = UNKNOWN
    aliases: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()
    summary: str = ""

    @property
    def ids(self) -> frozenset[str]:
        return frozenset((self.id, *self.aliases))


@dataclass(frozen=True)
class Audit:
    """Known vulnerabilities, and packages that could not be audited ("name: why")."""

    vulnerabilities: tuple[Vulnerability, ...] = ()
    unaudited: tuple[str, ...] = ()


_PIP_AUDIT = "pip-audit JSON"


def _strings(kind: str, value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EvidenceError(f"{kind}: {where} should be a list of strings")
    return tuple(value)


def parse_pip_audit(data: str | bytes) -> Audit:
    """The vulnerabilities and skipped packages of ``pip-audit -f json`` (severity UNKNOWN)."""
    document = _object(_PIP_AUDIT, _json(_PIP_AUDIT, data), "the document")
    dependencies = document.get("dependencies")
    if not isinstance(dependencies, list):
        raise EvidenceError(
            f"{_PIP_AUDIT}: no dependencies list (write it with `pip-audit -f json`)"
        )
    found: list[Vulnerability] = []
    unaudited: list[str] = []
    for index, raw in enumerate(dependencies):
        dependency = _object(_PIP_AUDIT, raw, f"dependencies[{index}]")
        name = dependency.get("name")
        if not isinstance(name, str) or not name:
            raise EvidenceError(f"{_PIP_AUDIT}: dependencies[{index}] has no name")
        name = canonical_name(name)
        if "skip_reason" in dependency:
            unaudited.append(f"{name}: {dependency['skip_reason']}")
            continue
        version = dependency.get("version")
        if not isinstance(version, str):
            raise EvidenceError(f"{_PIP_AUDIT}: {name} has no version")
        vulns = dependency.get("vulns", [])
        if not isinstance(vulns, list):
            raise EvidenceError(f"{_PIP_AUDIT}: {name}.vulns should be a list")
        for vuln_index, raw_vuln in enumerate(vulns):
            vuln = _object(_PIP_AUDIT, raw_vuln, f"{name}.vulns[{vuln_index}]")
            vuln_id = vuln.get("id")
            if not isinstance(vuln_id, str) or not vuln_id:
                raise EvidenceError(f"{_PIP_AUDIT}: {name}.vulns[{vuln_index}] has no id")
            found.append(
                Vulnerability(
                    package=name,
                    version=version,
                    id=vuln_id,
                    aliases=_strings(_PIP_AUDIT, vuln.get("aliases"), f"{vuln_id}.aliases"),
                    fix_versions=_strings(
                        _PIP_AUDIT, vuln.get("fix_versions"), f"{vuln_id}.fix_versions"
                    ),
                    summary=str(vuln.get("description", ""))[:200],
                )
            )
    return Audit(tuple(found), tuple(unaudited))


# --- OSV advisories -------------------------------------------------------------------------

_OSV = "OSV advisory"


def cvss3_base_score(vector: str) -> float:
    """The base score of a CVSS 3.0/3.1 vector (``CVSS:3.1/AV:N/AC:L/…``); ValueError if bad."""
    try:
        return float(CVSS3(vector.strip()).base_score)
    except CVSSError as exc:
        raise ValueError(f"not a CVSS 3 vector {vector!r}: {exc}") from None


def cvss_rating(score: float) -> str:
    """CVSS qualitative rating in GitHub's words (MEDIUM is MODERATE; 0.0 counts as LOW)."""
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MODERATE"
    return "LOW"


def advisory_severity(advisory: Mapping[str, Any]) -> str:
    """``database_specific.severity`` (GitHub), else the rating of a CVSS 3 vector, else UNKNOWN."""
    specific = advisory.get("database_specific")
    if isinstance(specific, dict):
        severity = normalize_severity(specific.get("severity"))
        if severity != UNKNOWN:
            return severity
    entries = list(advisory.get("severity") or [])
    for affected in advisory.get("affected") or []:
        if isinstance(affected, dict):
            entries.extend(affected.get("severity") or [])
    for entry in entries:
        if isinstance(entry, dict) and entry.get("type") == "CVSS_V3":
            try:
                return cvss_rating(cvss3_base_score(str(entry.get("score", ""))))
            except ValueError:
                continue
    return UNKNOWN


def parse_advisory(data: str | bytes) -> dict[str, Any]:
    """One OSV advisory JSON file, checked to have an ``id``."""
    document = _object(_OSV, _json(_OSV, data), "the document")
    if not isinstance(document.get("id"), str) or not document["id"]:
        raise EvidenceError(f"{_OSV}: no id")
    return document


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _version(advisory_id: str, text: Any) -> Version:
    try:
        return Version(str(text))
    except ValueError:
        raise EvidenceError(f"{_OSV} {advisory_id}: {text!r} is not a PEP 440 version") from None


def _in_range(advisory_id: str, version: Version, events: list[Any]) -> bool:
    """OSV's algorithm: apply the sorted events at or below ``version``; the last one decides."""
    keyed: list[tuple[str, Version | None]] = []
    for event in events:
        if not isinstance(event, dict) or len(event) != 1:
            raise EvidenceError(f"{_OSV} {advisory_id}: an event should have exactly one key")
        ((kind, value),) = event.items()
        if kind == "limit":
            continue  # only meaningful for GIT ranges
        if kind not in ("introduced", "fixed", "last_affected"):
            raise EvidenceError(f"{_OSV} {advisory_id}: unknown event {kind!r}")
        bound = None if kind == "introduced" and value == "0" else _version(advisory_id, value)
        keyed.append((kind, bound))
    keyed.sort(key=lambda item: (0,) if item[1] is None else (1, item[1]))  # "0" sorts first
    affected = False
    for kind, bound in keyed:
        if kind == "introduced":
            if bound is None or version >= bound:
                affected = True
        elif kind == "fixed":
            if bound is not None and version >= bound:
                affected = False
        elif bound is not None and version > bound:  # last_affected
            affected = False
    return affected


def match_advisories(
    installed: Mapping[str, str], advisories: Iterable[Mapping[str, Any]]
) -> Audit:
    """The vulnerabilities of OSV ``advisories`` that affect the ``installed`` {name: version}.

    A package is affected when its version is listed in ``versions`` or lies in a range of
    type ECOSYSTEM (PEP 440 order). Withdrawn advisories are ignored. A package whose version
    is not PEP 440 while an advisory has ranges for it is reported as unaudited.
    """
    packages = {canonical_name(name): version for name, version in installed.items()}
    found: list[Vulnerability] = []
    unaudited: set[str] = set()
    for advisory in advisories:
        advisory_id = str(advisory.get("id", "?"))
        if advisory.get("withdrawn"):
            continue
        affected_list = advisory.get("affected") or []
        if not isinstance(affected_list, list):
            raise EvidenceError(f"{_OSV} {advisory_id}: affected should be a list")
        for affected in affected_list:
            package = affected.get("package") if isinstance(affected, dict) else None
            if not isinstance(package, dict) or package.get("ecosystem") != "PyPI":
                continue
            name = canonical_name(str(package.get("name", "")))
            if name not in packages:
                continue
            text = packages[name]
            listed = _strings(_OSV, affected.get("versions"), f"{advisory_id}.versions")
            ranges = [
                r
                for r in affected.get("ranges") or []
                if isinstance(r, dict) and r.get("type") == "ECOSYSTEM"
            ]
            hit = text in listed
            if not hit and _is_version(text):
                version = Version(text)
                hit = any(_is_version(v) and Version(v) == version for v in listed) or any(
                    _in_range(advisory_id, version, list(r.get("events") or [])) for r in ranges
                )
            elif not hit and ranges:
                unaudited.add(f"{name}: version {text!r} is not PEP 440 ({advisory_id} unchecked)")
            if hit:
                fixes = tuple(
                    str(event["fixed"])
                    for r in ranges
                    for event in r.get("events") or []
                    if isinstance(event, dict) and "fixed" in event
                )
                found.append(
                    Vulnerability(
                        package=name,
                        version=text,
                        id=advisory_id,
                        severity=advisory_severity(advisory),
                        aliases=_strings(_OSV, advisory.get("aliases"), f"{advisory_id}.aliases"),
                        fix_versions=fixes,
                        summary=str(advisory.get("summary", ""))[:200],
                    )
                )
                break  # one entry per advisory and package
    return Audit(tuple(found), tuple(sorted(unaudited)))


def combine_audits(first: Audit, second: Audit) -> Audit:
    """Merge two audits of the same packages (e.g. pip-audit and OSV advisories).

    The same vulnerability (same package, an id or alias in common) is kept once, with the
    highest known severity; unaudited entries are kept from both.
    """
    merged: list[Vulnerability] = []
    for vuln in (*first.vulnerabilities, *second.vulnerabilities):
        for index, seen in enumerate(merged):
            if seen.package == vuln.package and seen.ids & vuln.ids:
                known = [s for s in (seen.severity, vuln.severity) if s != UNKNOWN]
                severity = max(known, key=severity_rank) if known else UNKNOWN
                merged[index] = replace(
                    seen,
                    severity=severity,
                    aliases=tuple(sorted((seen.ids | vuln.ids) - {seen.id})),
                    fix_versions=seen.fix_versions or vuln.fix_versions,
                    summary=seen.summary or vuln.summary,
                )
                break
        else:
            merged.append(vuln)
    unaudited = tuple(dict.fromkeys((*first.unaudited, *second.unaudited)))
    return Audit(tuple(merged), unaudited)


# --- performance ----------------------------------------------------------------------------

_BENCH = "benchmark JSON"


@dataclass(frozen=True)
class BenchStats:
    throughput: float  # requests per second
    p50: float  # milliseconds
    p95: float  # milliseconds
    samples: tuple[float, ...] = ()  # latencies in milliseconds
    release: str | None = None


def _change(baseline: float, candidate: float) -> float:
    """Percent change from baseline to candidate (positive: candidate is higher)."""
    return 100.0 * (candidate - baseline) / baseline


BENCH_FIGURES = ("throughput_drop", "p50_increase", "p95_increase")
BENCH_CONFIDENCE = 0.90  # two-sided: each bound is a one-sided 95 % bound
_BENCH_EPSILON = 1e-9  # float noise must not decide: +5.000000000000004 % is +5 %
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass(frozen=True)
class BenchComparison:
    """The candidate against the baseline (the release running in the target stage).

    ``intervals`` maps a figure of :data:`BENCH_FIGURES` to its (low, high) percent change at
    ``confidence``; a figure without one is judged on its point estimate, as before intervals.
    """

    baseline: BenchStats
    candidate: BenchStats
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    confidence: float | None = None
    rounds: tuple[int, ...] = ()  # paired cycles measured in each round

    @property
    def throughput_drop(self) -> float:
        """Percent less throughput than the baseline (negative: more)."""
        return -_change(self.baseline.throughput, self.candidate.throughput)

    @property
    def p50_increase(self) -> float:
        """Percent more median latency than the baseline (negative: less)."""
        return _change(self.baseline.p50, self.candidate.p50)

    @property
    def p95_increase(self) -> float:
        """Percent more 95th-percentile latency than the baseline (negative: less)."""
        return _change(self.baseline.p95, self.candidate.p95)

    def bounds(self, figure: str) -> tuple[float, float]:
        """(low, high) percent regression of ``figure``; the point estimate when no interval."""
        estimate = float(getattr(self, figure))
        return self.intervals.get(figure, (estimate, estimate))

    def verdict(self, limit: float) -> str:
        """:data:`FAIL` when some figure's whole interval is a regression beyond ``limit``
        percent, :data:`PASS` when every figure's interval is within it, else
        :data:`INCONCLUSIVE` (the noise does not tell: measure more)."""
        bounds = [self.bounds(figure) for figure in BENCH_FIGURES]
        if any(low > limit + _BENCH_EPSILON for low, _ in bounds):
            return FAIL
        if all(high <= limit + _BENCH_EPSILON for _, high in bounds):
            return PASS
        return INCONCLUSIVE

    def changes(self) -> dict[str, Any]:
        """The ``"changes"`` part of the bench document (read back by :func:`parse_bench`)."""
        document: dict[str, Any] = {"confidence": self.confidence, "rounds": list(self.rounds)}
        for figure in BENCH_FIGURES:
            low, high = self.bounds(figure)
            document[figure] = {
                "estimate": round(float(getattr(self, figure)), 3),
                "low": round(low, 3),
                "high": round(high, 3),
            }
        return document


Cycle = tuple[Sequence[float], float]  # latencies of good answers (ms), time spent waiting (ms)


def _side_figures(cycles: Sequence[Cycle], indices: Iterable[int]) -> tuple[float, float, float]:
    """(throughput in requests/s, p50, p95 in ms) of the chosen cycles; inf when no samples."""
    chosen = [cycles[i] for i in indices]
    latencies = sorted(chain.from_iterable(latencies for latencies, _ in chosen))
    busy = sum(busy for _, busy in chosen)
    if not latencies or busy <= 0:
        return math.inf, math.inf, math.inf
    return 1000.0 * len(latencies) / busy, percentile(latencies, 50), percentile(latencies, 95)


def compare_cycles(
    baseline: Sequence[Cycle],
    candidate: Sequence[Cycle],
    rounds: Sequence[int],
    *,
    releases: tuple[str | None, str | None] = (None, None),
    confidence: float = BENCH_CONFIDENCE,
    resamples: int = 1000,
) -> BenchComparison:
    """The comparison of paired cycles (cycle ``i`` of each side answered the same requests,
    interleaved), with confidence intervals of the three figures' changes.

    The intervals are a paired, round-stratified moving-block bootstrap
    (:func:`soakgate.core.stats.block_bootstrap`): a resample draws the same cycles for both
    sides, so host noise that hit a cycle hits both sides of the resample, as it did in the
    measurement; blocks of consecutive cycles keep the short-range correlation of the load.
    What the intervals cannot see is a difference that holds for a whole run (one container
    placed worse than the other): ``bench/perf_gate.py`` measures that across runs.
    """
    if len(baseline) != len(candidate) or sum(rounds) != len(baseline):
        raise ValueError("paired cycles: both sides and the rounds should count the same cycles")
    sides = []
    for cycles, release in zip((baseline, candidate), releases, strict=True):
        throughput, p50, p95 = _side_figures(cycles, range(len(cycles)))
        if math.isinf(throughput):
            raise ValueError("no successful request to compare")
        samples = tuple(chain.from_iterable(latencies for latencies, _ in cycles))
        sides.append(BenchStats(throughput, p50, p95, samples, release))

    def figures(indices: Sequence[int]) -> tuple[float, float, float]:
        old, new = _side_figures(baseline, indices), _side_figures(candidate, indices)
        if math.isinf(old[0]) or math.isinf(new[0]):
            return math.inf, math.inf, math.inf
        return -_change(old[0], new[0]), _change(old[1], new[1]), _change(old[2], new[2])

    intervals = block_bootstrap(rounds, figures, resamples=resamples, confidence=confidence)
    return BenchComparison(
        sides[0],
        sides[1],
        dict(zip(BENCH_FIGURES, intervals, strict=True)),
        confidence,
        tuple(rounds),
    )


def _bench_side(document: dict[str, Any], side: str) -> BenchStats:
    if side not in document:
        raise EvidenceError(f"{_BENCH}: no {side}")
    raw = _object(_BENCH, document[side], side)
    values = {}
    for key in ("throughput", "p50", "p95"):
        if key not in raw:
            raise EvidenceError(f"{_BENCH}: {side}.{key} is missing")
        values[key] = _number(_BENCH, raw[key], f"{side}.{key}")
        if values[key] <= 0:
            raise EvidenceError(f"{_BENCH}: {side}.{key} should be above 0, got {raw[key]!r}")
    if values["p95"] < values["p50"]:
        raise EvidenceError(f"{_BENCH}: {side}.p95 is below {side}.p50")
    samples = raw.get("samples", [])
    if not isinstance(samples, list):
        raise EvidenceError(f"{_BENCH}: {side}.samples should be a list")
    release = raw.get("release")
    return BenchStats(
        values["throughput"],
        values["p50"],
        values["p95"],
        tuple(_number(_BENCH, s, f"{side}.samples[{i}]") for i, s in enumerate(samples)),
        release if isinstance(release, str) else None,
    )


def _bench_changes(
    document: dict[str, Any],
) -> tuple[dict[str, tuple[float, float]], float | None, tuple[int, ...]]:
    """The optional ``"changes"``: intervals by figure, their confidence, cycles per round."""
    if "changes" not in document:
        return {}, None, ()
    raw = _object(_BENCH, document["changes"], "changes")
    confidence = _number(_BENCH, raw.get("confidence"), "changes.confidence", 0.0, 1.0)
    rounds = raw.get("rounds", [])
    if not isinstance(rounds, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in rounds
    ):
        raise EvidenceError(f"{_BENCH}: changes.rounds should be a list of cycle counts")
    intervals = {}
    for figure in BENCH_FIGURES:
        where = f"changes.{figure}"
        entry = _object(_BENCH, raw.get(figure), where)
        low = _number(_BENCH, entry.get("low"), f"{where}.low", -math.inf)
        high = _number(_BENCH, entry.get("high"), f"{where}.high", -math.inf)
        if high < low:
            raise EvidenceError(f"{_BENCH}: {where}.high is below {where}.low")
        intervals[figure] = (low, high)
    return intervals, confidence, tuple(rounds)


def parse_bench(data: str | bytes) -> BenchComparison:
    """Our benchmark comparison format (see the module docstring)."""
    document = _object(_BENCH, _json(_BENCH, data), "the document")
    intervals, confidence, rounds = _bench_changes(document)
    return BenchComparison(
        _bench_side(document, "baseline"),
        _bench_side(document, "candidate"),
        intervals,
        confidence,
        rounds,
    )


# --- soak -----------------------------------------------------------------------------------

_SOAK = "soak verdict JSON"
VERDICTS = ("healthy", "breached", "not enough data")


@dataclass(frozen=True)
class SoakVerdict:
    verdict: str  # one of VERDICTS
    observed_seconds: float  # observed, healthy time; gaps not counted
    release: str | None = None
    reasons: tuple[str, ...] = ()
    stage: str | None = None  # where the soak ran: the production gate takes only staging's
    time_scale: float = 1.0  # > 1: the monitor ran on an accelerated clock (a demo)


def parse_soak(data: str | bytes) -> SoakVerdict:
    """Our soak verdict format (see the module docstring)."""
    document = _object(_SOAK, _json(_SOAK, data), "the document")
    verdict = document.get("verdict", document.get("state"))
    if verdict not in VERDICTS:
        raise EvidenceError(
            f"{_SOAK}: verdict should be one of {', '.join(VERDICTS)}, got {verdict!r}"
        )
    if "observed_seconds" not in document:
        raise EvidenceError(f"{_SOAK}: observed_seconds is missing")
    observed = _number(_SOAK, document["observed_seconds"], "observed_seconds")
    release = document.get("release")
    stage = document.get("stage")
    scale = _number(_SOAK, document.get("time_scale", 1), "time_scale", low=1.0)
    return SoakVerdict(
        verdict,
        observed,
        release if isinstance(release, str) else None,
        _strings(_SOAK, document.get("reasons"), "reasons"),
        stage if isinstance(stage, str) else None,
        scale,
    )


def soak_evidence(
    verdict: Verdict, release: str, stage: str | None = None, time_scale: float = 1.0
) -> SoakVerdict:
    """The gate's view of a soak the monitor judged (no file, no JSON in between)."""
    return SoakVerdict(
        verdict.state, verdict.observed_seconds, release, tuple(verdict.reasons), stage, time_scale
    )


# --- all of it ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What the gates judge; a missing part fails its gate closed.

    ``files`` names the file each part came from, by gate name (``{"coverage": "cov.json"}``).
    """

    tests: TestRun | None = None
    coverage: float | None = None  # percent
    mutation: MutationRun | None = None
    audit: Audit | None = None
    performance: BenchComparison | None = None
    soak: SoakVerdict | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    code: tuple[CodeIssue, ...] | None = None  # bandit's findings on the service's code
    waivers: tuple[Waiver, ...] = ()  # accepted findings, in force when judged
    expired_waivers: tuple[Waiver, ...] = ()
