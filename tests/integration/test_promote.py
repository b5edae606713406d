"""Issue D end to end on real stages: a release that passes its gates is promoted dev → staging
by digest; one whose coverage is below the threshold is refused with the gate table, staging
unchanged, the refusal on the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from soakgate.core.release import Release
from soakgate.scratch import ScratchProject

pytestmark = pytest.mark.integration


def evidence_files(
    directory: Path, *, coverage: float, advisories: Path, tests: int = 12, failures: int = 0
) -> list[str]:
    """Standard report files a team's CI would hand over: JUnit XML, coverage.py JSON, mutmut."""
    directory.mkdir(parents=True, exist_ok=True)
    cases = "".join(
        f'<testcase classname="tests.test_app" name="test_{n}" time="0.01">'
        + ("<failure message='boom'/>" if n < failures else "")
        + "</testcase>"
        for n in range(tests)
    )
    (directory / "junit.xml").write_text(
        f'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{tests}"'
        f' failures="{failures}" errors="0" skipped="0">{cases}</testsuite></testsuites>'
    )
    (directory / "coverage.json").write_text(json.dumps({"totals": {"percent_covered": coverage}}))
    (directory / "mutation.json").write_text(
        json.dumps({"killed": 85, "survived": 15, "total": 100})
    )
    return [
        "--junit",
        str(directory / "junit.xml"),
        "--coverage",
        str(directory / "coverage.json"),
        "--mutation",
        str(directory / "mutation.json"),
        "--advisories",
        str(advisories),
        "--skip",
        "perf",
    ]


def served_release(project: ScratchProject, stage: str) -> str:
    release: str = httpx.get(f"{project.url(stage)}/version", timeout=5).json()["release"]
    return release


def test_promotion_by_digest_and_a_refusal_below_the_coverage_threshold(
    scratch: ScratchProject, releases: dict[str, Release], tmp_path: Path, advisories: Path
) -> None:
    good, weak = releases["3.14"], releases["3.12"]
    assert (
        scratch.soakgate("deploy", "dev", "--release", good.digest, "--skip-verify").returncode == 0
    )
    collect = scratch.soakgate(
        "evidence",
        "collect",
        good.digest,
        *evidence_files(tmp_path / "good", coverage=85, advisories=advisories),
    )
    assert collect.returncode == 0, collect.stdout + collect.stderr

    first = scratch.soakgate("gates", "dev", "staging", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    (perf,) = [gate for gate in json.loads(first.stdout)["gates"] if gate["name"] == "performance"]
    # nothing runs in staging yet: nothing to regress from, and the gate says so
    assert perf["passed"] and "nothing runs in staging" in perf["measured"], perf
    promote = scratch.soakgate("promote", "dev", "staging")
    assert promote.returncode == 0, promote.stdout + promote.stderr
    assert served_release(scratch, "staging") == served_release(scratch, "dev") == good.digest
    assert "soak monitor of staging started" in promote.stdout  # the soak begins on its own
    status = scratch.soakgate("soak", "status", "staging")
    assert status.returncode == 0 and good.short in status.stdout, status.stdout + status.stderr
    stopped = scratch.soakgate("soak", "stop", "staging", "--end")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr

    assert (
        scratch.soakgate("deploy", "dev", "--release", weak.digest, "--skip-verify").returncode == 0
    )
    collect = scratch.soakgate(
        "evidence",
        "collect",
        weak.digest,
        *evidence_files(tmp_path / "weak", coverage=60, advisories=advisories),
    )
    assert collect.returncode == 0, collect.stdout + collect.stderr
    refused = scratch.soakgate("promote", "dev", "staging", "--no-soak")
    assert refused.returncode == 11
    assert "coverage" in refused.stdout and "fail" in refused.stdout  # the gate table
    assert refused.stderr.splitlines()[0].startswith(
        f"error: promotion of {weak.short} from dev to staging refused: coverage"
    )
    assert served_release(scratch, "staging") == good.digest  # unchanged

    events = json.loads(scratch.soakgate("history", "staging", "--json").stdout)
    kinds = [(event["kind"], event["to_release"]) for event in events]
    assert ("gate", good.digest) in kinds and ("promote", good.digest) in kinds
    assert ("override", good.digest) not in kinds  # every gate passed: nothing bypassed
    assert kinds[-1] == ("refusal", weak.digest)
    refusal = events[-1]["data"]
    failed = {gate["name"] for gate in refusal["gates"] if not gate["passed"]}
    assert "coverage" in failed
    assert scratch.soakgate("ledger", "verify").returncode == 0


def test_unknown_gate_override_is_refused_and_nothing_happens(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    assert (
        scratch.soakgate(
            "deploy", "dev", "--release", releases["3.14"].digest, "--skip-verify"
        ).returncode
        == 0
    )
    result = scratch.soakgate(
        "promote", "dev", "staging", "--override", "vibes", "--reason", "x", "--no-soak"
    )
    assert result.returncode == 2
    assert "vibes" in result.stderr.splitlines()[0]
    assert httpx.get(f"{scratch.url('dev')}/version", timeout=5).status_code == 200
    assert not (scratch.state / "stages" / "staging" / "proxy").exists()


def test_promote_from_an_empty_stage_is_refused(scratch: ScratchProject) -> None:
    result = scratch.soakgate("promote", "staging", "production", "--no-soak")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "error: nothing runs in staging"


def test_promotions_only_go_forward(scratch: ScratchProject) -> None:
    result = scratch.soakgate("promote", "production", "dev")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "error: no promotion from production to dev"
