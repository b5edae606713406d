"""Evidence files → data: JUnit, coverage, mutation, pip-audit, OSV advisories, bench, soak.

tests/data/osv holds real advisories: the GHSA-*.json files are copied from GitHub's
advisory database (OSV format); PYSEC-2023-48.json is PyPA's advisory-database YAML of that
id, converted to JSON unchanged.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # only to cross-check our parser on well-formed input
from pathlib import Path
from typing import Any

import pytest

from soakgate.core.evidence import (
    UNKNOWN,
    Audit,
    EvidenceError,
    MutationRun,
    SoakVerdict,
    Vulnerability,
    advisory_severity,
    combine_audits,
    cvss3_base_score,
    match_advisories,
    parse_advisory,
    parse_bench,
    parse_coverage,
    parse_junit,
    parse_mutation,
    parse_pip_audit,
    parse_soak,
    summarize_mutmut_meta,
)

OSV_DIR = Path(__file__).resolve().parents[1] / "data" / "osv"

# What pytest 8 writes for: one pass, one failure, one skip, one setup error, one xfail.
PYTEST_JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">\
<testsuite name="pytest" errors="1" failures="1" skipped="2" tests="5" time="0.086" \
timestamp="2025-06-02T06:58:41.624329+00:00" hostname="ci"><testcase classname="test_s" \
name="test_ok" time="0.001" /><testcase classname="test_s" name="test_fail" time="0.001">\
<failure message="AssertionError: a &lt; b &amp; c&#10;assert 1 == 2">&gt;   def test_fail():
E   AssertionError: a &lt; b &amp; c

test_s.py:3: AssertionError</failure></testcase><testcase classname="test_s" name="test_skip" \
time="0.000"><skipped type="pytest.skip" message="no docker">test_s.py:4: no docker</skipped>\
</testcase><testcase classname="test_s" name="test_err" time="0.000"><error message="failed on \
setup with &quot;RuntimeError: x&quot;">E   RuntimeError: x</error></testcase><testcase \
classname="test_s" name="test_xf" time="0.001"><skipped type="pytest.xfail" message="" />\
</testcase></testsuite></testsuites>"""


def junit(cases: str, root: str = "testsuites") -> str:
    inner = f'<testsuite name="pytest" tests="9">{cases}</testsuite>'
    return inner if root == "testsuite" else f"<testsuites>{inner}</testsuites>"


# --- JUnit ----------------------------------------------------------------------------------


def test_a_real_pytest_report() -> None:
    run = parse_junit(PYTEST_JUNIT.encode())
    assert (run.tests, run.failures, run.errors, run.skipped, run.passed) == (5, 1, 1, 2, 1)
    assert run.pass_rate == 20.0
    assert run.failed_names == ("test_s::test_fail", "test_s::test_err")


def test_our_counts_agree_with_elementtree() -> None:
    tree = ET.fromstring(PYTEST_JUNIT)  # our own constant, not input
    cases = tree.findall(".//testcase")
    run = parse_junit(PYTEST_JUNIT)
    assert run.tests == len(cases)
    assert run.skipped == sum(1 for c in cases if c.find("skipped") is not None)


def test_all_passed_is_100_percent() -> None:
    run = parse_junit(junit('<testcase name="a"/><testcase name="b"></testcase>'))
    assert (run.tests, run.passed, run.pass_rate) == (2, 2, 100.0)


def test_skipped_tests_do_not_count_as_passed() -> None:
    run = parse_junit(junit('<testcase name="a"/><testcase name="b"><skipped/></testcase>'))
    assert run.pass_rate == 50.0


def test_zero_tests_is_not_100_percent() -> None:
    run = parse_junit('<testsuites><testsuite name="pytest" tests="0"/></testsuites>')
    assert (run.tests, run.pass_rate) == (0, 0.0)


def test_only_skipped_tests_is_0_percent() -> None:
    run = parse_junit(junit('<testcase name="a"><skipped message="no docker"/></testcase>'))
    assert (run.tests, run.skipped, run.pass_rate) == (1, 1, 0.0)


def test_a_failure_and_a_teardown_error_count_once() -> None:
    run = parse_junit(junit('<testcase name="a"><failure/><error/></testcase>'))
    assert (run.tests, run.failures, run.errors) == (1, 1, 0)


def test_a_testsuite_root_comments_and_cdata() -> None:
    text = (
        '<?xml version="1.0"?>\n<!-- made by <hand> -->\n'
        '<testsuite tests="1"><testcase name="a"><system-out><![CDATA[<not a tag>]]>'
        "</system-out></testcase></testsuite>\n"
    )
    assert parse_junit(text).passed == 1


def test_suite_counts_are_used_when_there_are_no_testcases() -> None:
    text = (
        '<testsuites tests="12"><testsuite tests="7" failures="1" skipped="1"/>'
        '<testsuite tests="5" errors="2"/></testsuites>'
    )
    run = parse_junit(text)
    assert (run.tests, run.failures, run.errors, run.skipped) == (12, 1, 2, 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "JUnit XML: the file is empty"),
        ("  \n", "JUnit XML: the file is empty"),
        (b"\xff\xfe<x/>", "JUnit XML: not UTF-8 text"),
        ('<testsuites><testsuite tests="1"><testcase name="a">', r"\(truncated file\?\) at"),
        ("<testsuites><testsuite></testsuites>", "does not match the open element at line 1"),
        ("<testsuites>\n<testcase name=a/></testsuites>", "malformed markup .* at line 2"),
        ('<coverage line-rate="0.8"/>', "root element is <coverage>"),
        ("<testsuites/><testsuites/>", "a second root element after the root element"),
        ("garbage<testsuites/>", "malformed markup .* at line 1"),
        ('<testsuites><testsuite name="&#1;"/></testsuites>', "names no XML character"),
        ('<testsuite tests="many"/>', 'tests="many" is not a number'),
        (
            '<!DOCTYPE lolz [<!ENTITY lol "lol">]><testsuites>&lol;</testsuites>',
            "DOCTYPE or ENTITY declarations are not accepted",
        ),
        ('{"tests": 3}', "malformed markup .* at line 1"),
    ],
)
def test_malformed_junit(data: str | bytes, message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        parse_junit(data)


# --- coverage -------------------------------------------------------------------------------


def coverage_json(**totals: Any) -> str:
    base = {
        "covered_lines": 812,
        "num_statements": 974,
        "percent_covered": 83.36755646817248,
        "percent_covered_display": "83",
        "missing_lines": 162,
        "excluded_lines": 4,
    }
    meta = {"format": 3, "version": "7.6.1", "branch_coverage": False}
    return json.dumps({"meta": meta, "files": {}, "totals": {**base, **totals}})


def test_coverage_percent() -> None:
    assert parse_coverage(coverage_json()) == pytest.approx(83.36755646817248)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "coverage JSON: the file is empty"),
        ('{"totals": ', "coverage JSON: not valid JSON"),
        ("[]", "coverage JSON: the document should be an object, got list"),
        ('{"meta": {}}', "coverage JSON: no totals"),
        ('{"totals": {}}', "totals has no percent_covered"),
        (coverage_json(percent_covered="83"), "should be a number, got '83'"),
        (coverage_json(percent_covered=101), "should be between 0 and 100, got 101"),
        (coverage_json(num_statements=0, percent_covered=100.0), "0 statements measured"),
    ],
)
def test_malformed_coverage(data: str, message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        parse_coverage(data)


# --- mutation -------------------------------------------------------------------------------


def test_mutation_summary() -> None:
    run = parse_mutation(
        '{"killed": 70, "timeout": 3, "caught_by_type_check": 2, "segfault": 0,'
        ' "survived": 20, "no_tests": 5, "skipped": 4}'
    )
    assert (run.total, run.detected, run.scored) == (104, 75, 100)
    assert run.score == 75.0
    assert parse_mutation(json.dumps(run.to_dict())) == run


def test_mutmut_cicd_stats_total_beyond_the_counts_is_not_checked() -> None:
    stats = {
        "killed": 80,
        "survived": 10,
        "total": 100,
        "no_tests": 0,
        "skipped": 0,
        "suspicious": 0,
        "timeout": 0,
        "check_was_interrupted_by_user": 1,
        "segfault": 0,
    }
    run = parse_mutation(json.dumps(stats))
    assert (run.interrupted, run.not_checked, run.total) == (1, 9, 100)


def test_mutmut_meta_files() -> None:
    meta = {
        "exit_code_by_key": {
            "app.x__mutmut_1": 1,
            "app.x__mutmut_2": 0,
            "app.x__mutmut_3": 36,
            "app.x__mutmut_4": 37,
            "app.x__mutmut_5": None,
            "app.x__mutmut_6": 33,
            "app.x__mutmut_7": 34,
            "app.x__mutmut_8": 99,
        },
        "hash_by_function_name": {},
        "durations_by_key": {},
        "estimated_durations_by_key": {},
    }
    other = {**meta, "exit_code_by_key": {"app.y__mutmut_1": 3, "app.y__mutmut_2": -11}}
    run = summarize_mutmut_meta([json.dumps(meta), json.dumps(other).encode()])
    assert run == MutationRun(
        killed=2,
        survived=1,
        timeout=1,
        suspicious=1,
        no_tests=1,
        skipped=1,
        not_checked=1,
        caught_by_type_check=1,
        segfault=1,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{}", "no mutants counted"),
        ('{"killed": -1}', "killed should be a count, got -1"),
        ('{"killed": "5"}', "killed should be a count"),
        ('{"killed": 5, "total": 4}', "total 4 is less than the counts' sum"),
        ("", "mutation results: the file is empty"),
    ],
)
def test_malformed_mutation(data: str, message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        parse_mutation(data)


def test_malformed_mutmut_meta() -> None:
    with pytest.raises(EvidenceError, match="no exit_code_by_key"):
        summarize_mutmut_meta(["{}"])
    with pytest.raises(EvidenceError, match="no mutants found"):
        summarize_mutmut_meta([])


# --- pip-audit ------------------------------------------------------------------------------

PIP_AUDIT = {
    "dependencies": [
        {"name": "fastapi", "version": "0.110.0", "vulns": []},
        {
            "name": "Starlette",
            "version": "0.38.6",
            "vulns": [
                {
                    "id": "GHSA-f96h-pmfr-66vw",
                    "fix_versions": ["0.40.0"],
                    "aliases": ["CVE-2024-47874"],
                    "description": "Starlette treats multipart/form-data parts without a …",
                }
            ],
        },
        {
            "name": "service",
            "skip_reason": "Dependency not found on PyPI and could not be audited: service (1.0)",
        },
    ],
    "fixes": [{"name": "starlette", "old_version": "0.38.6", "new_version": "0.40.0"}],
}


def test_pip_audit() -> None:
    audit = parse_pip_audit(json.dumps(PIP_AUDIT))
    assert audit.vulnerabilities == (
        Vulnerability(
            package="starlette",
            version="0.38.6",
            id="GHSA-f96h-pmfr-66vw",
            severity=UNKNOWN,
            aliases=("CVE-2024-47874",),
            fix_versions=("0.40.0",),
            summary="Starlette treats multipart/form-data parts without a …",
        ),
    )
    assert audit.unaudited == (
        "service: Dependency not found on PyPI and could not be audited: service (1.0)",
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "the document should be an object"),
        ({"fixes": []}, "no dependencies list"),
        ({"dependencies": [{"version": "1"}]}, r"dependencies\[0\] has no name"),
        ({"dependencies": [{"name": "x"}]}, "x has no version"),
        ({"dependencies": [{"name": "x", "version": "1", "vulns": [{}]}]}, "has no id"),
        (
            {"dependencies": [{"name": "x", "version": "1", "vulns": [{"id": "A", "aliases": 3}]}]},
            "A.aliases should be a list of strings",
        ),
    ],
)
def test_malformed_pip_audit(document: Any, message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        parse_pip_audit(json.dumps(document))


# --- OSV advisories -------------------------------------------------------------------------


def advisories() -> list[dict[str, Any]]:
    return [parse_advisory(path.read_bytes()) for path in sorted(OSV_DIR.glob("*.json"))]


def advisory(advisory_id: str) -> dict[str, Any]:
    return parse_advisory((OSV_DIR / f"{advisory_id}.json").read_text())


def found(installed: dict[str, str]) -> set[tuple[str, str, str]]:
    return {
        (v.package, v.id, v.severity)
        for v in match_advisories(installed, advisories()).vulnerabilities
    }


def test_the_data_directory_holds_real_advisories() -> None:
    ids = {a["id"] for a in advisories()}
    assert ids == {
        "GHSA-f96h-pmfr-66vw",
        "GHSA-h5c8-rqwp-cp95",
        "GHSA-j8r2-6x86-q33q",
        "GHSA-wj6h-64fc-37mp",
        "GHSA-www2-v7xj-xrc6",
        "PYSEC-2023-48",
    }


def test_an_old_fastapi_stack_is_matched_with_severities() -> None:
    installed = {
        "fastapi": "0.95.0",
        "Starlette": "0.24.0",
        "Jinja2": "3.1.2",
        "urllib3": "1.22",
        "requests": "2.28.1",
        "ecdsa": "0.18.0",
    }
    assert found(installed) == {
        ("starlette", "GHSA-f96h-pmfr-66vw", "HIGH"),
        ("starlette", "PYSEC-2023-48", UNKNOWN),
        ("jinja2", "GHSA-h5c8-rqwp-cp95", "MODERATE"),
        ("urllib3", "GHSA-www2-v7xj-xrc6", "CRITICAL"),
        ("requests", "GHSA-j8r2-6x86-q33q", "MODERATE"),
        ("ecdsa", "GHSA-wj6h-64fc-37mp", "HIGH"),
    }


def test_a_current_stack_is_clean() -> None:
    installed = {
        "starlette": "0.40.0",
        "jinja2": "3.1.3",
        "urllib3": "1.23",
        "requests": "2.31.0",
        "ecdsa": "0.18.1",
    }
    assert found(installed) == set()


@pytest.mark.parametrize(
    ("package", "version", "affected"),
    [
        # introduced "0", fixed 0.40.0 (GHSA-f96h-pmfr-66vw) and 0.25.0 (PYSEC-2023-48)
        ("starlette", "0.39.2", {"GHSA-f96h-pmfr-66vw"}),
        ("starlette", "0.40.0", set()),
        ("starlette", "0.40.0rc1", {"GHSA-f96h-pmfr-66vw"}),
        ("starlette", "0.12.0b2", {"GHSA-f96h-pmfr-66vw", "PYSEC-2023-48"}),
        ("starlette", "0.25.0", {"GHSA-f96h-pmfr-66vw"}),
        # introduced 2.3.0, fixed 2.31.0
        ("requests", "2.2.1", set()),
        ("requests", "2.3.0", {"GHSA-j8r2-6x86-q33q"}),
        ("requests", "2.30.0", {"GHSA-j8r2-6x86-q33q"}),
        ("requests", "2.31", set()),
        # introduced "0", last_affected 0.18.0: 0.18.0 is affected, anything later is not
        ("ecdsa", "0.18.0", {"GHSA-wj6h-64fc-37mp"}),
        ("ecdsa", "0.18.0.post1", set()),
        ("ecdsa", "0.18.1", set()),
        ("ecdsa", "0.19.0", set()),
        ("ecdsa", "0.13", {"GHSA-wj6h-64fc-37mp"}),
        # fixed 1.23: its pre-releases are before it
        ("urllib3", "1.23rc1", {"GHSA-www2-v7xj-xrc6"}),
        ("urllib3", "1.23.0", set()),
        ("urllib3", "1.26.18", set()),
    ],
)
def test_version_ranges(package: str, version: str, affected: set[str]) -> None:
    audit = match_advisories({package: version}, advisories())
    assert {v.id for v in audit.vulnerabilities} == affected


def test_matched_vulnerabilities_carry_aliases_and_fixes() -> None:
    (vuln,) = match_advisories({"requests": "2.30.0"}, advisories()).vulnerabilities
    assert vuln.aliases == ("CVE-2023-32681",)
    assert vuln.fix_versions == ("2.31.0",)
    assert vuln.summary == "Unintended leak of Proxy-Authorization header in requests"


def test_the_explicit_versions_list_matches_too() -> None:
    pysec = advisory("PYSEC-2023-48")
    pysec["affected"][0]["ranges"] = []  # only the listed versions remain
    assert match_advisories({"starlette": "0.24.0"}, [pysec]).vulnerabilities[0].id == (
        "PYSEC-2023-48"
    )
    assert match_advisories({"starlette": "0.24.1"}, [pysec]).vulnerabilities == ()


def test_withdrawn_advisories_and_other_ecosystems_are_ignored() -> None:
    withdrawn = {**advisory("GHSA-www2-v7xj-xrc6"), "withdrawn": "2024-01-01T00:00:00Z"}
    npm = advisory("GHSA-www2-v7xj-xrc6")
    npm["affected"][0]["package"]["ecosystem"] = "npm"
    assert match_advisories({"urllib3": "1.0"}, [withdrawn, npm]) == Audit()


def test_an_installed_version_that_is_not_pep440_is_unaudited() -> None:
    audit = match_advisories({"urllib3": "1.22-custom-build"}, advisories())
    assert audit.vulnerabilities == ()
    assert audit.unaudited == (
        "urllib3: version '1.22-custom-build' is not PEP 440 (GHSA-www2-v7xj-xrc6 unchecked)",
    )


def test_an_advisory_with_a_bad_version_is_malformed() -> None:
    bad = advisory("GHSA-www2-v7xj-xrc6")
    bad["affected"][0]["ranges"][0]["events"][1] = {"fixed": "one.two"}
    with pytest.raises(EvidenceError, match=r"GHSA-www2-v7xj-xrc6: 'one\.two' is not a PEP 440"):
        match_advisories({"urllib3": "1.0"}, [bad])


def test_malformed_advisory_files() -> None:
    with pytest.raises(EvidenceError, match="OSV advisory: no id"):
        parse_advisory('{"affected": []}')
    with pytest.raises(EvidenceError, match="OSV advisory: the file is empty"):
        parse_advisory(b"")


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),  # CVE-2018-20060
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N", 6.1),  # CVE-2023-32681
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", 7.4),  # CVE-2024-23342
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", 5.4),  # CVE-2024-22195
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ],
)
def test_cvss3_base_scores(vector: str, score: float) -> None:
    assert cvss3_base_score(vector) == score


def test_severity_falls_back_to_the_cvss3_vector() -> None:
    jinja = advisory("GHSA-h5c8-rqwp-cp95")
    del jinja["database_specific"]
    assert advisory_severity(jinja) == "MODERATE"  # 5.4
    starlette = advisory("GHSA-f96h-pmfr-66vw")
    del starlette["database_specific"]
    assert advisory_severity(starlette) == UNKNOWN  # only a CVSS 4 vector


def test_pip_audit_severities_come_from_the_advisories() -> None:
    audit = parse_pip_audit(json.dumps(PIP_AUDIT))
    osv = match_advisories({"starlette": "0.38.6"}, advisories())
    combined = combine_audits(audit, osv)
    assert [(v.id, v.severity) for v in combined.vulnerabilities] == [
        ("GHSA-f96h-pmfr-66vw", "HIGH")
    ]
    assert combined.unaudited == audit.unaudited


def test_combining_matches_by_alias() -> None:
    pysec = Vulnerability("starlette", "0.24.0", "PYSEC-2023-48", aliases=("GHSA-74m5-2c7w-9w3x",))
    ghsa = Vulnerability("starlette", "0.24.0", "GHSA-74m5-2c7w-9w3x", severity="HIGH")
    (merged,) = combine_audits(Audit((pysec,)), Audit((ghsa,))).vulnerabilities
    assert (merged.id, merged.severity) == ("PYSEC-2023-48", "HIGH")


# --- performance and soak -------------------------------------------------------------------


def bench(baseline: dict[str, Any], candidate: dict[str, Any]) -> str:
    return json.dumps({"baseline": baseline, "candidate": candidate})


def test_bench_regressions() -> None:
    comparison = parse_bench(
        bench(
            {"release": "sha256:aa", "throughput": 1000, "p50": 10, "p95": 40, "samples": [9, 11]},
            {"throughput": 950, "p50": 10.5, "p95": 38},
        )
    )
    assert comparison.throughput_drop == pytest.approx(5.0)
    assert comparison.p50_increase == pytest.approx(5.0)
    assert comparison.p95_increase == pytest.approx(-5.0)
    assert comparison.baseline.samples == (9.0, 11.0)
    assert comparison.baseline.release == "sha256:aa"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"baseline": {"throughput": 1, "p50": 1, "p95": 1}}', "benchmark JSON: no candidate"),
        (
            bench({"throughput": 1, "p50": 1, "p95": 1}, {"throughput": 1, "p50": 1}),
            "candidate.p95 is missing",
        ),
        (
            bench({"throughput": 0, "p50": 1, "p95": 1}, {"throughput": 1, "p50": 1, "p95": 1}),
            "baseline.throughput should be above 0",
        ),
        (
            bench({"throughput": 1, "p50": 5, "p95": 1}, {"throughput": 1, "p50": 1, "p95": 1}),
            "baseline.p95 is below baseline.p50",
        ),
        ("", "benchmark JSON: the file is empty"),
    ],
)
def test_malformed_bench(data: str, message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        parse_bench(data)


def test_soak_verdict() -> None:
    verdict = parse_soak(
        '{"release": "sha256:bb", "verdict": "breached", "observed_seconds": 86400,'
        ' "reasons": ["p99 latency 812 ms > 500 ms"]}'
    )
    assert (verdict.verdict, verdict.observed_seconds) == ("breached", 86400.0)
    assert verdict.reasons == ("p99 latency 812 ms > 500 ms",)


def test_soak_verdict_as_judge_soak_writes_it() -> None:
    document = {"state": "healthy", "observed_seconds": 605123.5, "required_seconds": 604800}
    assert parse_soak(json.dumps(document)) == SoakVerdict("healthy", 605123.5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"verdict": "fine", "observed_seconds": 1}', "verdict should be one of healthy"),
        ('{"verdict": "healthy"}', "observed_seconds is missing"),
        ('{"verdict": "healthy", "observed_seconds": -1}', "should be at least 0"),
        ("null", "the document should be an object, got NoneType"),
    ],
)
def test_malformed_soak(data: str, message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        parse_soak(data)
