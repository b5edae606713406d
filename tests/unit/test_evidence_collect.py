"""Evidence collection: the argv and container arguments of each collector, the audit's
fail-closed combination, the bundle and its manifest, and the use case with fake collectors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.evidence.audit import (
    PipAuditRun,
    audit_document,
    audit_packages,
    bandit_argv,
    bandit_summary,
    pinned_requirements,
    pip_audit_argv,
    sbom_json,
    sbom_packages,
)
from soakgate.adapters.evidence.mutation import MutationOutcome
from soakgate.adapters.evidence.perf import PerfPlan, SideStats, percentiles, run_kwargs
from soakgate.adapters.evidence.tests import TestsOutcome
from soakgate.adapters.state.evidence import EvidenceStore, EvidenceTampered
from soakgate.app.evidence import (
    check_request,
    collect_evidence,
    load_evidence,
    measure,
    pieces_to_run,
)
from soakgate.cli.evidence import render_bundle
from soakgate.core.config import ProjectConfig, ServiceConfig, WorkloadRequest
from soakgate.core.evidence import MutationRun, parse_bench, parse_pip_audit
from soakgate.core.gates import DEFAULT_THRESHOLDS, evaluate_gates
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.errors import ConfigError

RELEASE = Release("sha256:" + "a" * 64, "3.14.0", "1.0.0", "abc123", "2026-11-26", 1, "svc:1")
OTHER = Release("sha256:" + "b" * 64, "3.12.1", "1.0.0", "abc123", "2026-11-26", 1, "svc:2")
REBUILD = Release("sha256:" + "c" * 64, "3.14.2", "1.0.0", "abc123", "2026-11-27", 1, "svc:3")
JUNIT = (
    '<testsuites><testsuite name="pytest" tests="2">'
    '<testcase classname="tests.test_a" name="test_one"/>'
    '<testcase classname="tests.test_a" name="test_two"/>'
    "</testsuite></testsuites>"
)
COVERAGE = json.dumps({"totals": {"percent_covered": 93.5, "num_statements": 100}})
INSTALLED = {"starlette": "0.30.0", "fastapi": "0.165.0"}
STARLETTE_ADVISORY = {
    "id": "GHSA-f96h-pmfr-66vw",
    "aliases": ["CVE-2024-47874"],
    "summary": "Starlette denial of service",
    "database_specific": {"severity": "HIGH"},
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "starlette"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.40.0"}]}],
        }
    ],
}
ALL_SKIPPED = json.dumps(
    {
        "dependencies": [
            {"name": name, "skip_reason": f"Dependency not found on PyPI: {name}"}
            for name in INSTALLED
        ],
        "fixes": [],
    }
)


def bench_document(base_ms: float = 10.0, cand_ms: float = 10.0) -> dict[str, Any]:
    def side(release: str, ms: float) -> dict[str, Any]:
        return {
            "release": release,
            "throughput": 1000 / ms,
            "p50": ms,
            "p95": 2 * ms,
            "samples": [ms, ms, 2 * ms],
        }

    return {"baseline": side(OTHER.digest, base_ms), "candidate": side(RELEASE.digest, cand_ms)}


# --- argv and container arguments -----------------------------------------------------------


def test_audit_and_bandit_argv(tmp_path: Path) -> None:
    argv = pip_audit_argv(tmp_path / "r.txt")
    assert argv[1:5] == ["-m", "pip_audit", "-r", str(tmp_path / "r.txt")]
    assert {"--no-deps", "--disable-pip", "json"} <= set(argv)
    assert bandit_argv(tmp_path / "app")[1:] == [
        "-m",
        "bandit",
        "-r",
        str(tmp_path / "app"),
        "-f",
        "json",
        "-q",
    ]
    assert pinned_requirements({"b": "2", "a": "1"}) == "a==1\nb==2\n"


def test_perf_containers_get_the_same_limits() -> None:
    plan = PerfPlan(cpus=1.0, memory_mb=256)
    base = run_kwargs("sha256:a", "x-baseline", "net", plan, 8000)
    cand = run_kwargs("sha256:b", "x-candidate", "net", plan, 8000)
    for key in ("nano_cpus", "mem_limit", "read_only", "tmpfs", "network", "cap_drop"):
        assert base[key] == cand[key]
    assert base["nano_cpus"] == 1_000_000_000 and base["mem_limit"] == "256m"


# --- the audit fails closed -----------------------------------------------------------------


def test_offline_pip_audit_leaves_every_package_unaudited() -> None:
    result = audit_packages(INSTALLED, advisories=None, pip_audit=PipAuditRun(ALL_SKIPPED))
    assert result.audit.vulnerabilities == ()
    assert [entry.split(":")[0] for entry in result.audit.unaudited] == ["fastapi", "starlette"]
    assert "not found on PyPI" in result.audit.unaudited[0]
    assert result.sources["pip-audit"] == "audited 0 of 2 packages, 0 vulnerabilities"
    gate = _vulnerability_gate(result.audit)
    assert not gate.passed and gate.measured == "0 known, 2 packages not audited; code: no issues"


def test_no_source_at_all_leaves_every_package_unaudited() -> None:
    failed = PipAuditRun(None, "pip-audit failed (exit 1): ConnectionError")
    result = audit_packages(INSTALLED, advisories=None, pip_audit=failed)
    assert len(result.audit.unaudited) == 2
    assert "ConnectionError" in result.audit.unaudited[0]
    assert "--advisories DIR" in result.audit.unaudited[0]


def test_advisories_audit_the_packages_and_give_severities() -> None:
    result = audit_packages(
        INSTALLED, advisories=[STARLETTE_ADVISORY], pip_audit=PipAuditRun(ALL_SKIPPED)
    )
    assert result.audit.unaudited == ()
    (vuln,) = result.audit.vulnerabilities
    assert (vuln.package, vuln.id, vuln.severity) == ("starlette", "GHSA-f96h-pmfr-66vw", "HIGH")
    assert result.relevant_advisories == (STARLETTE_ADVISORY,)


def test_pip_audit_findings_get_the_advisory_severity() -> None:
    found = json.dumps(
        {
            "dependencies": [
                {
                    "name": "starlette",
                    "version": "0.30.0",
                    "vulns": [{"id": "PYSEC-1", "aliases": ["CVE-2024-47874"], "fix_versions": []}],
                },
                {"name": "fastapi", "version": "0.165.0", "vulns": []},
            ]
        }
    )
    result = audit_packages(
        INSTALLED, advisories=[STARLETTE_ADVISORY], pip_audit=PipAuditRun(found)
    )
    (vuln,) = result.audit.vulnerabilities
    assert vuln.severity == "HIGH" and "PYSEC-1" in vuln.ids


def test_audit_document_reads_back_as_pip_audit_json() -> None:
    result = audit_packages(INSTALLED, advisories=None, pip_audit=PipAuditRun(ALL_SKIPPED))
    document = audit_document(INSTALLED, result.audit)
    assert parse_pip_audit(json.dumps(document)).unaudited == result.audit.unaudited


def test_sbom_lists_the_image_packages_as_pypi_components() -> None:
    text = sbom_json(RELEASE, INSTALLED)
    document = json.loads(text)
    assert document["specVersion"] == "1.5" and document["bomFormat"] == "CycloneDX"
    assert document["metadata"]["component"]["bom-ref"] == RELEASE.digest
    assert sbom_packages(text) == INSTALLED


def test_bandit_summary_counts_by_severity() -> None:
    report = {"results": [{"issue_severity": "MEDIUM"}, {"issue_severity": "HIGH"}]}
    assert bandit_summary(json.dumps(report)) == {"HIGH": 1, "MEDIUM": 1, "LOW": 0}


def _vulnerability_gate(audit: Any) -> Any:
    from soakgate.core.evidence import Evidence

    results = evaluate_gates(
        "dev_to_staging", DEFAULT_THRESHOLDS["dev_to_staging"], Evidence(audit=audit, code=())
    )
    return next(result for result in results if result.name == "vulnerabilities")


# --- perf statistics ------------------------------------------------------------------------


def test_side_summary_reads_back_with_the_core_parser() -> None:
    stats = SideStats("sha256:a", [float(v) for v in range(1, 101)], busy_seconds=2.0)
    summary = stats.summary()
    assert summary["throughput"] == 50.0
    assert (summary["p50"], summary["p95"]) == percentiles(stats.samples) == (50.5, 95.05)
    bench = parse_bench(json.dumps({"baseline": summary, "candidate": summary}))
    assert bench.p95_increase == 0.0


# --- the store ------------------------------------------------------------------------------


def test_store_writes_files_manifest_and_rows(tmp_path: Path) -> None:
    with EvidenceStore.open(tmp_path) as store:
        record = store.put(
            RELEASE, "junit", JUNIT.encode(), name="junit.xml", tools={"pytest": "9.2.0"}
        )
        folder = store.folder(RELEASE.digest)
        assert folder == tmp_path / "evidence" / ("a" * 64)
        manifest = json.loads((folder / "manifest.json").read_text())
        entry = manifest["evidence"]["junit"]
        assert entry["file"] == "junit.xml" and entry["sha256"] == record.sha256
        assert entry["tools"] == {"pytest": "9.2.0"} and entry["collected_at"]
        assert store.read(RELEASE.digest, "junit") == JUNIT.encode()
        store.fail(RELEASE, "junit", "pytest wrote no JUnit report\nTraceback …")
        assert not (folder / "junit.xml").exists()
        assert store.failures(RELEASE.digest) == {"junit": "pytest wrote no JUnit report"}
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["evidence"] == {} and "junit" in manifest["failures"]


def test_a_changed_evidence_file_is_refused(tmp_path: Path) -> None:
    with EvidenceStore.open(tmp_path) as store:
        store.put(RELEASE, "coverage", COVERAGE.encode(), name="coverage.json")
        (store.folder(RELEASE.digest) / "coverage.json").write_text(
            COVERAGE.replace("93.5", "99.5")
        )
        with pytest.raises(EvidenceTampered, match="changed since it was collected"):
            store.read(RELEASE.digest, "coverage")


# --- the use case with fakes ----------------------------------------------------------------


class FakeCollectors:
    """Answers as the real collectors would; ``fail`` names pieces that raise. Any call not
    expected by the test fails it."""

    def __init__(
        self,
        tmp: Path,
        *,
        fail: Mapping[str, Exception] | None = None,
        expect: set[str] | None = None,
        same_code: bool = True,
    ) -> None:
        self.tmp, self.fail, self.expect = tmp, dict(fail or {}), expect
        self.same = same_code
        self.calls: list[str] = []
        self.services: list[ServiceConfig] = []
        self.perf_call: dict[str, Any] = {}

    def _call(self, name: str) -> None:
        if self.expect is not None and name not in self.expect:
            raise AssertionError(f"unexpected collector call: {name}")
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def tests(
        self, release: Release, context: Path, service: ServiceConfig, cache: Path, work: Path
    ) -> TestsOutcome:
        self._call("tests")
        self.services.append(service)
        (work / "junit.xml").write_text(JUNIT)
        (work / "coverage.json").write_text(COVERAGE)
        return TestsOutcome(
            work / "junit.xml", work / "coverage.json", 0, "2 passed", tools={"pytest": "9.2.0"}
        )

    def mutation(
        self, release: Release, context: Path, service: ServiceConfig, cache: Path, work: Path
    ) -> MutationOutcome:
        self._call("mutation")
        self.services.append(service)
        stats = work / "stats.json"
        stats.write_text(json.dumps({"killed": 8, "survived": 2, "total": 10}))
        return MutationOutcome(
            MutationRun(killed=8, survived=2),
            stats,
            "",
            1.0,
            {"mutmut": "3.8.1", "python": release.python},
            {"image": release.digest},
        )

    def fingerprint(self, context: Path, service: ServiceConfig) -> str:
        return "f" * 64

    def same_code(self, release: Release, context: Path, service: ServiceConfig) -> bool:
        self._call("same_code")
        return self.same

    def inventory(self, release: Release) -> dict[str, str]:
        self._call("inventory")
        return dict(INSTALLED)

    def pip_audit(self, installed: Mapping[str, str]) -> PipAuditRun:
        self._call("pip_audit")
        return PipAuditRun(ALL_SKIPPED, None, "2.10.1")

    def bandit(self, source: Path) -> tuple[str, str | None]:
        self._call("bandit")
        finding = {"test_id": "B104", "issue_severity": "MEDIUM", "issue_confidence": "MEDIUM"}
        return json.dumps({"results": [finding]}), "1.9.4"

    def perf(
        self,
        baseline: str,
        candidate: str,
        port: int,
        health_path: str,
        namespace: str,
        *,
        workload: tuple[WorkloadRequest, ...],
        limit: float,
        seconds: float = 40.0,
    ) -> dict[str, Any]:
        self._call("perf")
        self.perf_call = {"workload": workload, "limit": limit, "seconds": seconds}
        return bench_document()


def collect(tmp_path: Path, collectors: FakeCollectors, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "baseline": OTHER.digest,
        "advisories": None,
        "files": {},
        "skip": set(),
    }
    options.update(kwargs)
    messages: list[str] = []
    bundle = collect_evidence(
        Project(tmp_path, ProjectConfig(), tmp_path / "state"),
        RELEASE,
        progress=messages.append,
        collectors=collectors,
        clock=lambda: "2026-11-26T08:00:00Z",
        **options,
    )
    return bundle


def statuses(bundle: Any) -> dict[str, str]:
    return {row.kind: row.status for row in bundle.rows}


def test_perf_seconds_reach_the_bench(tmp_path: Path) -> None:
    collectors = FakeCollectors(tmp_path)
    collect(tmp_path, collectors, perf_seconds=15.0)
    assert collectors.perf_call["seconds"] == 15.0
    assert collectors.perf_call["limit"] == 5.0  # the strictest gate's limit, as before


def test_every_piece_collected(tmp_path: Path) -> None:
    collectors = FakeCollectors(tmp_path)
    bundle = collect(tmp_path, collectors)
    assert bundle.complete
    assert statuses(bundle) == {
        "junit": "collected",
        "coverage": "collected",
        "mutation": "collected",
        "audit": "collected",
        "sbom": "collected",
        "bandit": "collected",
        "bench": "collected",
        "soak": "missing",
    }
    manifest = json.loads(bundle.manifest.read_text())
    assert set(manifest["evidence"]) >= {
        *("junit", "coverage", "tests-log", "mutation", "mutmut-stats"),
        *("sbom", "audit", "pip-audit", "bandit", "bench"),
    }
    assert manifest["evidence"]["mutation"]["details"]["source_revision"] == "abc123"
    assert manifest["evidence"]["mutation"]["details"]["image"] == RELEASE.digest
    assert manifest["evidence"]["mutation"]["tools"]["python"] == RELEASE.python
    assert collectors.services == [ProjectConfig().service] * 2  # tests and mutation got it
    evidence = load_evidence(tmp_path / "state", RELEASE)
    assert evidence.tests is not None and evidence.tests.passed == 2
    assert evidence.coverage == 93.5
    assert evidence.mutation == MutationRun(killed=8, survived=2)
    assert evidence.audit is not None and len(evidence.audit.unaudited) == 2  # offline: closed
    assert evidence.files["coverage"].endswith("coverage.json")
    assert load_evidence(tmp_path / "state", RELEASE.digest) == evidence  # a digest works too


def test_one_failing_piece_does_not_stop_the_others(tmp_path: Path) -> None:
    from soakgate.adapters.state.evidence import CollectFailed

    collectors = FakeCollectors(
        tmp_path, fail={"tests": CollectFailed("image gone"), "inventory": RuntimeError("boom")}
    )
    bundle = collect(tmp_path, collectors)
    assert bundle.failures == {"tests": "image gone", "audit": "RuntimeError: boom"}
    rows = {row.kind: row for row in bundle.rows}
    assert rows["junit"].status == rows["coverage"].status == "failed"
    assert rows["junit"].reason == "image gone"
    assert rows["bandit"].status == "collected"  # the audit piece's other half still ran
    assert rows["mutation"].status == rows["bench"].status == "collected"
    evidence = load_evidence(tmp_path / "state", RELEASE)
    thresholds = DEFAULT_THRESHOLDS["dev_to_staging"]
    results = {r.name: r for r in evaluate_gates("dev_to_staging", thresholds, evidence)}
    assert not results["tests"].passed and not results["vulnerabilities"].passed


def test_a_later_failure_removes_older_evidence(tmp_path: Path) -> None:
    from soakgate.adapters.state.evidence import CollectFailed

    collect(tmp_path, FakeCollectors(tmp_path))
    bundle = collect(tmp_path, FakeCollectors(tmp_path, fail={"perf": CollectFailed("no room")}))
    assert statuses(bundle)["bench"] == "failed"
    assert load_evidence(tmp_path / "state", RELEASE).performance is None


def test_no_baseline_fails_the_performance_piece_closed(tmp_path: Path) -> None:
    collectors = FakeCollectors(tmp_path)
    bundle = collect(tmp_path, collectors, baseline=None)
    assert bundle.failures["perf"].startswith("no baseline: nothing runs in the target stage")
    assert "perf" not in collectors.calls


def test_supplied_files_replace_their_pieces(tmp_path: Path) -> None:
    junit, coverage = tmp_path / "j.xml", tmp_path / "c.json"
    junit.write_text(JUNIT)
    coverage.write_text(COVERAGE)
    mutation = tmp_path / "m.json"
    mutation.write_text(json.dumps({"killed": 1, "survived": 0}))
    soak = tmp_path / "s.json"
    soak.write_text(json.dumps({"verdict": "healthy", "observed_seconds": 700000}))
    collectors = FakeCollectors(
        tmp_path, expect={"inventory", "pip_audit", "bandit", "perf"}
    )  # tests and mutation must not run
    files = {"junit": junit, "coverage": coverage, "mutation": mutation, "soak": soak}
    bundle = collect(tmp_path, collectors, files=files)
    assert statuses(bundle)["junit"] == statuses(bundle)["soak"] == "supplied"
    manifest = json.loads(bundle.manifest.read_text())
    assert manifest["evidence"]["soak"]["source"] == "supplied"
    assert load_evidence(tmp_path / "state", RELEASE).soak is not None


def test_skipped_pieces_keep_their_earlier_evidence(tmp_path: Path) -> None:
    collect(tmp_path, FakeCollectors(tmp_path))
    collectors = FakeCollectors(tmp_path, expect={"perf"})
    bundle = collect(tmp_path, collectors, skip={"tests", "mutation", "audit"})
    assert statuses(bundle)["junit"] == "kept" and statuses(bundle)["bench"] == "collected"


def mutation_row(tmp_path: Path, release: Release, collectors: FakeCollectors) -> Any:
    bundle = collect_evidence(
        Project(tmp_path, ProjectConfig(), tmp_path / "state"),
        release,
        baseline=None,
        advisories=None,
        files={},
        skip={"tests", "audit", "perf"},
        progress=lambda _: None,
        collectors=collectors,
    )
    return next(row for row in bundle.rows if row.kind == "mutation")


def test_mutation_is_reused_for_the_same_source_under_the_same_python(tmp_path: Path) -> None:
    collect(tmp_path, FakeCollectors(tmp_path))
    row = mutation_row(tmp_path, REBUILD, FakeCollectors(tmp_path, expect={"same_code"}))
    assert row.status == "reused" and "same source as aaaaaaaaaaaa" in row.measured


def test_mutation_runs_again_under_another_python(tmp_path: Path) -> None:
    collect(tmp_path, FakeCollectors(tmp_path))
    collectors = FakeCollectors(tmp_path, expect={"same_code", "mutation"})
    row = mutation_row(tmp_path, OTHER, collectors)
    assert row.status == "collected" and "mutation" in collectors.calls


def test_mutation_refuses_source_that_is_not_the_release(tmp_path: Path) -> None:
    collectors = FakeCollectors(tmp_path, same_code=False)
    bundle = collect(tmp_path, collectors)
    assert "is not the code of release" in bundle.failures["mutation"]
    assert "mutation" not in collectors.calls


def test_bad_requests_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--skip lint: unknown piece"):
        check_request({"lint"}, {})
    bad = tmp_path / "cov.json"
    bad.write_text('{"totals": {}}')
    with pytest.raises(ConfigError, match=r"--coverage .*cov.json: coverage JSON: totals has no"):
        check_request(set(), {"coverage": bad})
    with pytest.raises(ConfigError, match="not a directory"):
        collect(tmp_path, FakeCollectors(tmp_path, expect=set()), advisories=tmp_path / "none")


def test_pieces_to_run() -> None:
    assert pieces_to_run(set(), {}) == ["tests", "mutation", "audit", "perf"]
    assert pieces_to_run({"perf"}, {"junit": Path("j")}) == ["tests", "mutation", "audit"]
    assert pieces_to_run(set(), {"junit": Path("j"), "coverage": Path("c")})[0] == "mutation"


def test_measured_lines_and_table(tmp_path: Path) -> None:
    assert measure("junit", JUNIT.encode()) == "2/2 passed, 0 failed"
    bench = json.dumps(bench_document(10.0, 12.0)).encode()
    assert measure("bench", bench).startswith("throughput -16.7 %, p50 +20.0 %, p95 +20.0 %")
    bundle = collect(tmp_path, FakeCollectors(tmp_path), baseline=None)
    table = render_bundle(bundle)
    assert [column.header for column in table.columns] == ["kind", "status", "measured", "file"]
