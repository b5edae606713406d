"""Issue I: the gates cannot be walked around. A plain ``pulumi up`` of a gated stage with a
release its gates never admitted fails at preview with the gate table and changes nothing;
the same release goes through once promoted. Evidence counts only for the transition it was
measured for: a bench against another baseline, a soak of another release, a soak in dev,
and a HIGH bandit finding are each refused at their own gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docker
import pytest

from soakgate.core.release import Release
from soakgate.scratch import ScratchProject, past_gates
from tests.integration.test_promote import evidence_files

pytestmark = pytest.mark.integration
OTHER = "sha256:" + "c" * 64


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def fixture_deploy(project: ScratchProject, stage: str, release: Release) -> None:
    ok(
        project.soakgate(
            "deploy", stage, "--release", release.digest, "--skip-verify", *past_gates(stage)
        )
    )


def snapshot(project: ScratchProject, engine: docker.DockerClient) -> dict[str, Any]:
    """What a refused update must not change: containers, proxy files, ledger, stack state."""
    containers = {
        c.name: (c.id, c.status)
        for c in engine.containers.list(all=True, filters={"name": project.namespace})
    }
    proxy = project.state / "stages" / "production" / "proxy"
    files = {p.name: p.read_bytes() for p in proxy.glob("*")} if proxy.is_dir() else {}
    ledger = ok(project.soakgate("history", "--json")).stdout
    stack = project.state / "pulumi-state" / ".pulumi" / "stacks" / "soakgate" / "production.json"
    return {
        "containers": containers,
        "proxy": files,
        "ledger": ledger,
        "stack": stack.read_bytes() if stack.exists() else None,
    }


def test_a_plain_pulumi_up_of_an_ungated_release_fails_at_preview_and_changes_nothing(
    scratch: ScratchProject,
    releases: dict[str, Release],
    engine: docker.DockerClient,
    tmp_path: Path,
    advisories: Path,
) -> None:
    old, new = releases["3.12"], releases["3.14"]
    fixture_deploy(scratch, "production", old)
    fixture_deploy(scratch, "staging", new)
    before = snapshot(scratch, engine)
    ok(scratch.pulumi("config", "set", "soakgate:release", new.digest, "--stack", "production"))
    for command in (("preview",), ("up", "--yes")):
        result = scratch.pulumi(*command, "--stack", "production")
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert f"release {new.short} may not enter production (pulumi up)" in output
        assert "no passing gate decision for staging_to_production" in output
        assert "gates staging → production for" in output  # the gate table, gate by gate
        for gate in ("tests", "coverage", "mutation", "vulnerabilities", "performance", "soak"):
            assert f"  {gate} " in output, gate
        assert "soakgate promote staging production" in output
    assert snapshot(scratch, engine) == before  # containers, proxy, ledger, stack state

    collect = scratch.soakgate(
        "evidence",
        "collect",
        new.digest,
        *evidence_files(tmp_path, coverage=85, advisories=advisories),
    )
    ok(collect)
    promoted = scratch.soakgate(
        "promote",
        "staging",
        "production",
        "--override",
        "soak",
        "--override",
        "performance",
        "--reason",
        "integration test: no week to wait, no bench to run",
    )
    ok(promoted)
    outputs = scratch.stack_outputs("production")
    assert outputs["active_release"] == new.digest
    # the very same plain `pulumi up` now goes through (and has nothing to change)
    ok(scratch.pulumi("up", "--yes", "--stack", "production"))
    ok(scratch.pulumi("preview", "--expect-no-changes", "--stack", "production"))
    events = json.loads(ok(scratch.soakgate("history", "production", "--json")).stdout)
    decision = [e for e in events if e["kind"] == "gate" and e["to_release"] == new.digest]
    assert len(decision) == 1 and decision[0]["data"]["via"] == "promote"
    assert sorted(decision[0]["data"]["overrides"]) == ["performance", "soak"]


def gate_of(project: ScratchProject, source: str, target: str, name: str) -> dict[str, Any]:
    result = project.soakgate("gates", source, target, "--json")
    assert result.returncode in (0, 11), result.stdout + result.stderr
    gates = {gate["name"]: gate for gate in json.loads(result.stdout)["gates"]}
    return gates[name]


def supply(project: ScratchProject, release: Release, kind: str, path: Path) -> None:
    pieces = ("tests", "mutation", "audit", "perf")
    skips = [arg for piece in pieces for arg in ("--skip", piece)]
    ok(project.soakgate("evidence", "collect", release.digest, f"--{kind}", str(path), *skips))


def test_evidence_of_another_transition_is_refused_at_its_gate(
    scratch: ScratchProject, releases: dict[str, Release], tmp_path: Path
) -> None:
    old, new = releases["3.12"], releases["3.14"]
    fixture_deploy(scratch, "production", old)
    fixture_deploy(scratch, "staging", new)

    side = {"throughput": 100.0, "p50": 5.0, "p95": 9.0, "samples": [5.0] * 50}
    bench = tmp_path / "bench.json"
    bench.write_text(
        json.dumps(
            {"baseline": {"release": OTHER, **side}, "candidate": {"release": new.digest, **side}}
        )
    )
    supply(scratch, new, "bench", bench)
    performance = gate_of(scratch, "staging", "production", "performance")
    assert not performance["passed"]
    assert f"the bench measured against {OTHER[:19]}" in performance["reasons"][0]
    assert f"production runs {old.digest[:19]}" in performance["reasons"][0]
    bench.write_text(bench.read_text().replace(OTHER, old.digest))
    supply(scratch, new, "bench", bench)
    assert gate_of(scratch, "staging", "production", "performance")["passed"]

    soak = tmp_path / "soak.json"
    week = {"verdict": "healthy", "observed_seconds": 8 * 86400}
    for document, why in (
        ({**week, "release": OTHER, "stage": "staging"}, f"not of {new.digest[:19]}"),
        ({**week, "release": new.digest, "stage": "dev"}, "the soak ran in dev"),
        ({**week, "release": new.digest}, "the soak ran in an unnamed stage"),
    ):
        soak.write_text(json.dumps(document))
        supply(scratch, new, "soak", soak)
        result = gate_of(scratch, "staging", "production", "soak")
        assert not result["passed"] and any(why in r for r in result["reasons"]), result
    soak.write_text(json.dumps({**week, "release": new.digest, "stage": "staging"}))
    supply(scratch, new, "soak", soak)
    assert gate_of(scratch, "staging", "production", "soak")["passed"]


def test_a_high_bandit_finding_blocks_both_gates_and_a_medium_one_blocks_production(
    scratch: ScratchProject, releases: dict[str, Release], tmp_path: Path, advisories: Path
) -> None:
    release = releases["3.14"]
    fixture_deploy(scratch, "dev", release)
    fixture_deploy(scratch, "staging", release)
    ok(
        scratch.soakgate(
            "evidence",
            "collect",
            release.digest,
            *evidence_files(tmp_path, coverage=90, advisories=advisories),
        )
    )
    # the real scan of the sample: one MEDIUM finding, waived in security-waivers.toml
    vulnerabilities = gate_of(scratch, "staging", "production", "vulnerabilities")
    assert "code: 1 MEDIUM, 1 waived" in vulnerabilities["measured"], vulnerabilities

    finding = {
        "test_id": "B602",
        "issue_severity": "HIGH",
        "issue_confidence": "HIGH",
        "filename": "app/main.py",
        "line_number": 3,
        "issue_text": "subprocess call with shell=True identified",
    }
    report = tmp_path / "bandit.json"
    report.write_text(json.dumps({"errors": [], "results": [finding]}))
    supply(scratch, release, "bandit", report)
    for source, target in (("dev", "staging"), ("staging", "production")):
        gate = gate_of(scratch, source, target, "vulnerabilities")
        assert not gate["passed"], gate
        assert "code: app/main.py:3: B602 subprocess call with shell=True" in " ".join(
            gate["reasons"]
        )
    report.write_text(
        json.dumps({"errors": [], "results": [{**finding, "issue_severity": "MEDIUM"}]})
    )
    supply(scratch, release, "bandit", report)
    assert "code: 1 MEDIUM" in gate_of(scratch, "dev", "staging", "vulnerabilities")["measured"]
    production = gate_of(scratch, "staging", "production", "vulnerabilities")
    assert not production["passed"] and "B602" in " ".join(production["reasons"])
