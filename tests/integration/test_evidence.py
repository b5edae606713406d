"""Evidence collection for real: the service's tests inside both release images, real mutmut
inside the candidate's image, the audit of the image's packages with real OSV advisories, and
the performance comparison — which must catch a planted ≥ 10 % slowdown and must not flag two
builds of the same code.

The 20-repeat no-false-alarm run (with a CPU hog beside it) lives in ``bench/perf_gate.py``
(``bench/results/perf_gate.json``); here it runs twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from soakgate.adapters.docker.engine import build_from
from soakgate.adapters.evidence.perf import SAMPLE_WORKLOAD, compare_releases
from soakgate.app.evidence import load_evidence
from soakgate.core.evidence import FAIL, PASS, parse_bench
from soakgate.core.gates import DEFAULT_THRESHOLDS, evaluate_gates
from soakgate.core.release import Release
from soakgate.scratch import ScratchProject

pytestmark = pytest.mark.integration
PLANTED_DELAY_MS = 1  # +1 ms on every /work request: about +15 % mean latency on the mix


def soakgate_evidence(project: ScratchProject, *args: str, timeout: float = 1200) -> str:
    result = project.soakgate("evidence", *args, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def service_project(scratch: ScratchProject) -> ScratchProject:
    """The scratch project, which holds the service's source (the code both releases were
    built from)."""
    assert (scratch.root / "images" / "service" / "app").is_dir()
    return scratch


def derived_image(engine: docker.DockerClient, base: Release, line: str) -> Iterator[str]:
    """An image built FROM ``base`` with one more Dockerfile line; removed afterwards."""
    image = build_from(base.digest, [line])
    try:
        yield str(image.id)
    finally:
        engine.images.remove(image.id, force=True)


@pytest.fixture
def slow_image(engine: docker.DockerClient, releases: dict[str, Release]) -> Iterator[str]:
    yield from derived_image(engine, releases["3.14"], f"ENV SERVICE_DELAY_MS={PLANTED_DELAY_MS}")


@pytest.fixture
def rebuilt_image(engine: docker.DockerClient, releases: dict[str, Release]) -> Iterator[str]:
    """A second build of the same code (another image id, the same files)."""
    yield from derived_image(engine, releases["3.14"], "LABEL soakgate.test=rebuild")


def evidence_left(engine: docker.DockerClient, namespace: str) -> list[str]:
    """This test's evidence containers and networks still there (other runs sharing the
    engine have their own namespaces)."""
    labels = {"label": "soakgate.purpose=evidence"}
    containers = [c.name for c in engine.containers.list(all=True, filters=labels)]
    networks = [n.name for n in engine.networks.list(filters=labels)]
    return [name for name in containers + networks if name.startswith(f"{namespace}-")]


def performance_gate(document: dict[str, object]) -> tuple[bool, float, str]:
    """(performance gate passed, worst regression in %, the gate's measured line)."""
    from soakgate.core.evidence import Evidence

    bench = parse_bench(json.dumps(document))
    results = evaluate_gates(
        "dev_to_staging", DEFAULT_THRESHOLDS["dev_to_staging"], Evidence(performance=bench)
    )
    (gate,) = [result for result in results if result.name == "performance"]
    worst = max(bench.throughput_drop, bench.p50_increase, bench.p95_increase)
    return gate.passed, worst, gate.measured


def test_collect_real_evidence_for_both_releases(
    service_project: ScratchProject,
    releases: dict[str, Release],
    engine: docker.DockerClient,
    advisories: Path,
) -> None:
    candidate, baseline = releases["3.14"], releases["3.12"]
    # 3.14's mutation run and its perf against 3.12 are collected for real by the demo's
    # integration test (tests/integration/test_demo.py), which checks both: here they are
    # skipped, and the audit against a local advisory source is what this half adds.
    output = soakgate_evidence(
        service_project,
        "collect",
        candidate.short,
        "--advisories",
        str(advisories),
        "--skip",
        "mutation",
        "--skip",
        "perf",
    )
    assert "junit" in output and "collected" in output, output  # exit 0: nothing failed
    evidence = load_evidence(service_project.state, candidate)
    assert evidence.tests is not None and evidence.tests.tests >= 20
    assert evidence.tests.pass_rate == 100.0
    assert evidence.coverage is not None and evidence.coverage >= 90.0  # the service's own bar
    assert evidence.mutation is None and evidence.performance is None  # skipped: not collected
    assert evidence.audit is not None and evidence.audit.unaudited == ()  # OSV audited all
    results = evaluate_gates(
        "dev_to_staging", DEFAULT_THRESHOLDS["dev_to_staging"], evidence, overrides=None
    )
    passed = {result.name for result in results if result.passed}
    assert {"tests", "coverage", "vulnerabilities"} <= passed, results
    assert "mutation" not in passed  # a skipped piece's gate fails closed
    folder = service_project.state / "evidence" / candidate.digest.removeprefix("sha256:")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["evidence"]["sbom"]["details"]["packages"] > 5
    assert "fastapi" in (folder / "sbom.cdx.json").read_text()

    # The other release: its own image's tests and a full mutation run under its own Python;
    # no advisories and no reachable vulnerability service → unaudited, closed.
    output = soakgate_evidence(service_project, "collect", baseline.digest, "--skip", "perf")
    other = load_evidence(service_project.state, baseline)
    assert other.tests is not None and other.tests.pass_rate == 100.0
    assert other.coverage is not None and other.coverage >= 90.0
    assert other.mutation is not None and other.mutation.not_checked == 0  # a full run
    assert other.mutation.scored > 100 and other.mutation.score > 50
    other_manifest = json.loads(
        (folder.parent / baseline.digest.removeprefix("sha256:") / "manifest.json").read_text()
    )
    mutation = other_manifest["evidence"]["mutation"]
    assert mutation["details"]["source_revision"] == baseline.revision
    assert mutation["tools"]["python"] == baseline.python  # its own image's interpreter
    assert other.audit is not None
    if other.audit.unaudited:  # offline: every package is unaudited, and the gate says so
        results = evaluate_gates("dev_to_staging", DEFAULT_THRESHOLDS["dev_to_staging"], other)
        (gate,) = [result for result in results if result.name == "vulnerabilities"]
        assert not gate.passed and "not audited" in gate.measured
    print(f"coverage 3.14: {evidence.coverage:.2f} %, 3.12: {other.coverage:.2f} %")
    print(f"mutation score 3.12: {other.mutation.score:.2f} % of {other.mutation.scored}")
    assert evidence_left(engine, service_project.namespace) == []


def test_planted_slowdown_is_caught(
    releases: dict[str, Release], slow_image: str, engine: docker.DockerClient
) -> None:
    namespace = f"t{uuid.uuid4().hex[:8]}"
    document = compare_releases(
        releases["3.14"].digest, slow_image, namespace=namespace, workload=SAMPLE_WORKLOAD
    )
    passed, worst, _ = performance_gate(document)
    bench = parse_bench(json.dumps(document))
    print(
        f"planted {PLANTED_DELAY_MS} ms: throughput -{bench.throughput_drop:.1f} %,"
        f" p50 +{bench.p50_increase:.1f} %, p95 +{bench.p95_increase:.1f} %"
    )
    assert not passed
    assert worst >= 10.0  # the planted slowdown shows as ≥ 10 %
    assert evidence_left(engine, namespace) == []


def test_two_builds_of_the_same_code_are_never_failed(
    releases: dict[str, Release], rebuilt_image: str
) -> None:
    # One comparison here; bench.perf_gate runs 20 with a CPU hog beside them and counts the
    # inconclusive ones. A false alarm is a FAIL: some figure's whole 90 % interval beyond the
    # limit. "Inconclusive" (an interval straddling it after every extra round, seen once in
    # a CI run on a loaded machine: p95 [-2.6, +11.7] %) blocks too, but says "measure again".
    document = compare_releases(releases["3.14"].digest, rebuilt_image, workload=SAMPLE_WORKLOAD)
    passed, worst, measured = performance_gate(document)
    verdict = parse_bench(json.dumps(document)).verdict(5.0)
    print(f"same code: {verdict}, worst regression {worst:.2f} %, {measured}")
    assert verdict != FAIL, f"false alarm between identical builds: {measured}"
    assert passed == (verdict == PASS)
    assert passed or measured.startswith("inconclusive: "), measured
