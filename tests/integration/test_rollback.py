"""Issue F end to end: emergency rollback under load with no failed request, Python revert to
3.12 verified by testinfra with a clean `pulumi preview`, the ledger's record, refusals, and a
rollback killed between its switch and its reconcile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import docker
import httpx
import pytest

from soakgate.adapters.load import LoadGenerator
from soakgate.adapters.stage.lock import is_locked
from soakgate.core.release import Release
from soakgate.scratch import ROOT, ScratchProject, past_gates

pytestmark = pytest.mark.integration


def deploy(project: ScratchProject, stage: str, release: Release) -> None:
    result = project.soakgate(
        "deploy", stage, "--release", release.digest, "--skip-verify", *past_gates(stage)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def served(project: ScratchProject, stage: str) -> tuple[str, str]:
    response = httpx.get(f"{project.url(stage)}/version", timeout=5)
    assert response.status_code == 200
    return response.json()["release"], response.headers["x-soakgate-slot"]


def history(project: ScratchProject, stage: str) -> list[dict[str, object]]:
    result = project.soakgate("history", stage, "--json")
    assert result.returncode == 0, result.stderr
    events: list[dict[str, object]] = json.loads(result.stdout)
    return events


def test_emergency_rollback_under_load_drops_no_request(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    good, bad = releases["3.12"], releases["3.14"]
    deploy(scratch, "production", good)
    deploy(scratch, "production", bad)
    with LoadGenerator(f"{scratch.url('production')}/version", rate=50, max_seconds=120) as load:
        result = scratch.soakgate(
            "rollback", "production", "--emergency", "--reason", "bad release"
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert load.report.failed == 0, load.report.first_failures
    assert load.report.sent > 50
    assert served(scratch, "production")[0] == good.digest
    assert scratch.pulumi("preview", "--expect-no-changes", "--stack", "production").returncode == 0

    (event,) = [e for e in history(scratch, "production") if e["kind"] == "rollback"]
    data = event["data"]
    assert isinstance(data, dict)
    assert event["from_release"] == bad.digest and event["to_release"] == good.digest
    assert data["path"] == "emergency"
    assert data["budget_seconds"] == 3600
    assert 0 < data["seconds_to_restored"] < 5  # the bench holds the real target (≤ 1 s)
    assert data["margin_seconds"] == pytest.approx(3600 - data["seconds_to_restored"], abs=0.01)
    assert data["verified"] is True and data["reconciled"] is True
    report = {"requests": load.report.sent, "failed": load.report.failed, **data}
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "emergency-rollback.json").write_text(json.dumps(report, indent=2))


def test_python_revert_to_312_is_verified_and_reconciled(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    deploy(scratch, "production", releases["3.12"])
    deploy(scratch, "production", releases["3.14"])
    # make the warm 3.12 slot stale, so the revert is a cold, health-gated deploy
    engine.containers.get(f"{scratch.namespace}-app-production-blue").remove(force=True)
    result = scratch.soakgate("rollback", "production", "--python", "3.12")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "host checks" in result.stdout and "passed" in result.stdout
    version = httpx.get(f"{scratch.url('production')}/version", timeout=5).json()
    assert version["python"].startswith("3.12.")
    assert version["release"] == releases["3.12"].digest
    junit = (scratch.root / "reports" / "verify-production.xml").read_text()
    assert "test_python_version_matches_the_release" in junit and "<failure" not in junit
    assert scratch.pulumi("preview", "--expect-no-changes", "--stack", "production").returncode == 0
    (event,) = [e for e in history(scratch, "production") if e["kind"] == "rollback"]
    assert isinstance(event["data"], dict) and event["data"]["path"] == "cold"


def test_dry_run_changes_nothing(scratch: ScratchProject, releases: dict[str, Release]) -> None:
    deploy(scratch, "staging", releases["3.12"])
    deploy(scratch, "staging", releases["3.14"])
    result = scratch.soakgate("rollback", "staging", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "emergency" in result.stdout and "dry run: nothing changed" in result.stdout
    assert served(scratch, "staging")[0] == releases["3.14"].digest
    assert not [e for e in history(scratch, "staging") if e["kind"] == "rollback"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rollback", "qa"), "error: STAGE: unknown stage 'qa'"),
        (("rollback", "dev"), "error: stage dev was never deployed: there is nothing to roll back"),
    ],
)
def test_refusals(scratch: ScratchProject, args: tuple[str, ...], message: str) -> None:
    result = scratch.soakgate(*args)
    assert result.returncode != 0
    assert result.stderr.splitlines()[0].startswith(message)


def test_unknown_release_is_refused(scratch: ScratchProject, releases: dict[str, Release]) -> None:
    deploy(scratch, "staging", releases["3.12"])
    result = scratch.soakgate("rollback", "staging", "--to", "sha256:" + "9" * 64)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"error: unknown release {'sha256:' + '9' * 64!r}"
    assert served(scratch, "staging")[0] == releases["3.12"].digest


def test_no_previous_release_is_refused(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    deploy(scratch, "dev", releases["3.14"])
    result = scratch.soakgate("rollback", "dev", "--python", "3.14")
    assert result.returncode == 9
    assert result.stderr.splitlines()[0].startswith(
        "error: no rollback of dev: no Python 3.14 release that is not quarantined; traffic"
        " stays on"
    )


def test_second_emergency_rollback_refuses_and_traffic_stays_on_the_good_release(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    """Deploy A, deploy B, emergency rollback (A), the same command again: B is quarantined,
    so the second one refuses in one line and traffic stays on A."""
    good, bad = releases["3.12"], releases["3.14"]
    deploy(scratch, "production", good)
    deploy(scratch, "production", bad)
    first = scratch.soakgate("rollback", "production", "--emergency", "--reason", "p99 doubled")
    assert first.returncode == 0, first.stdout + first.stderr
    assert served(scratch, "production")[0] == good.digest
    second = scratch.soakgate("rollback", "production", "--emergency")
    assert second.returncode == 9, second.stdout + second.stderr
    lines = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "quarantined (p99 doubled" in lines[0], second.stderr
    assert f"traffic stays on {good.digest[:19]}" in lines[0]
    assert [served(scratch, "production")[0] for _ in range(5)] == [good.digest] * 5
    rollbacks = [e for e in history(scratch, "production") if e["kind"] == "rollback"]
    assert len(rollbacks) == 1  # the refusal recorded no rollback
    listed = json.loads(scratch.soakgate("releases", "--json").stdout)
    quarantine = {r["digest"]: r["quarantine"] for r in listed}
    assert quarantine[bad.digest]["reason"] == "p99 doubled" and quarantine[good.digest] is None
    refused = scratch.soakgate("deploy", "production", "--release", bad.digest, "--skip-verify")
    assert refused.returncode == 13 and "is quarantined" in refused.stderr
    assert served(scratch, "production")[0] == good.digest
    allowed = scratch.soakgate(
        "deploy",
        "production",
        "--release",
        bad.digest,
        "--skip-verify",
        "--allow-bad",
        "--reason",
        "fixed config, retrying",
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    overrides = [e for e in history(scratch, "production") if e["kind"] == "override"]
    assert overrides and overrides[-1]["data"]["reason"] == "fixed config, retrying"


def test_live_lock_holder_is_refused(scratch: ScratchProject, releases: dict[str, Release]) -> None:
    deploy(scratch, "staging", releases["3.12"])
    deploy(scratch, "staging", releases["3.14"])
    hold = (
        "import sys, time; from pathlib import Path; from soakgate.adapters.stage.lock import"
        " stage_lock\nwith stage_lock(Path(sys.argv[1]), 'staging', 'ana deploying'):"
        " print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", hold, str(scratch.state)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = scratch.soakgate("rollback", "staging", "--emergency")
        assert result.returncode == 6, result.stdout + result.stderr
        assert result.stderr.splitlines()[0].startswith("error: stage staging is locked by")
        assert f"pid {holder.pid} (ana deploying)" in result.stderr
        assert served(scratch, "staging")[0] == releases["3.14"].digest
    finally:
        holder.kill()
        holder.wait()


def test_killed_after_the_switch_status_shows_truth_and_rerun_completes(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    good, bad = releases["3.12"], releases["3.14"]
    deploy(scratch, "production", good)
    deploy(scratch, "production", bad)
    rollback = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "soakgate"), "rollback", "production", "--emergency"],
        cwd=scratch.root,
        env=scratch.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and served(scratch, "production")[0] != good.digest:
        time.sleep(0.02)
    os.kill(rollback.pid, signal.SIGKILL)  # after the switch, before the reconcile is done
    rollback.wait()
    # nginx's old workers may take a last connection or two while they drain after the reload
    # (seen once in a few hundred runs): five good answers in a row within 5 s, never the bad
    # release for good
    deadline, streak = time.monotonic() + 5, 0
    while streak < 5 and time.monotonic() < deadline:
        streak = streak + 1 if served(scratch, "production")[0] == good.digest else 0
        time.sleep(0.02)
    assert streak == 5, "the bad release still answers 5 s after the rollback's switch"

    status = json.loads(scratch.soakgate("status", "--json").stdout)
    production = next(view for view in status if view["stage"] == "production")
    assert production["active"] == "blue"
    active = next(slot for slot in production["slots"] if slot["name"] == "blue")
    assert active["digest"] == good.digest  # the truth, whatever the stack file still says

    rerun = scratch.soakgate("rollback", "production", "--emergency")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert served(scratch, "production")[0] == good.digest
    assert scratch.pulumi("preview", "--expect-no-changes", "--stack", "production").returncode == 0
    assert not is_locked(scratch.state, "production")


def test_drill_rolls_back_a_slow_release_and_records_the_rto(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    good = releases["3.14"]
    deploy(scratch, "staging", good)
    result = scratch.soakgate("drill", "staging")
    assert result.returncode == 0, result.stdout + result.stderr
    assert served(scratch, "staging")[0] == good.digest  # restored
    (event,) = [e for e in history(scratch, "staging") if e["kind"] == "drill"]
    data = event["data"]
    assert isinstance(data, dict)
    assert event["to_release"] == good.digest and event["from_release"] != good.digest
    assert data["path"] == "emergency" and data["budget_seconds"] == 4 * 3600
    drills = scratch.soakgate("drills")
    assert drills.returncode == 0
    assert "staging" in drills.stdout and "4.0 h" in drills.stdout
