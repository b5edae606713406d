"""``soakgate demo`` for real, in a scratch copy of the project: every step of the migration
on real containers, the report looked at in headless Chromium, a re-run that resumes, a run
killed half-way that resumes where it was, and ``--clean`` leaving the engine as it was
found (containers, networks, images and volumes listed before and after).

The package index is the one pip is configured with (the builds' wheelhouses come from it
too): where it serves no OSV data, the demo's vulnerability gate fails closed and is
overridden on the ledger with its reason, and the test checks exactly that."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from soakgate.adapters.demo_workspace import engine_inventory
from soakgate.adapters.state.releases import StateDB
from soakgate.app.evidence import load_evidence
from soakgate.core.demo import ACCELERATION, STEPS
from soakgate.scratch import ROOT, ScratchProject, make_scratch
from tests.integration.browser import chromium, screenshot

pytestmark = pytest.mark.integration


def run_demo(
    project: ScratchProject, *args: str, timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    return project.soakgate("demo", *args, timeout=timeout)


def workspace_of(project: ScratchProject) -> Path:
    return project.root / ".soakgate" / "demo"


def console_errors(page: Path, profile: Path) -> list[str]:
    """What Chromium's console said about ``page`` at the error level (its own start-up noise
    about GPUs and D-Bus is not the page's)."""
    result = subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=3000", "--dump-dom", f"file://{page}",
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "<h2>Timeline</h2>" in result.stdout, result.stderr[-2000:]
    return [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.fixture
def demo_project(
    tmp_path: Path, toolchain_env: dict[str, str], engine: docker.DockerClient, base_images: None
) -> Any:
    project = make_scratch(tmp_path, toolchain_env, with_service=True)
    project.env["COLUMNS"] = "120"
    try:
        yield project
    finally:
        run_demo(project, "--clean", timeout=300)


def test_the_demo_walks_the_migration_resumes_and_cleans_up(
    demo_project: ScratchProject, engine: docker.DockerClient, tmp_path: Path
) -> None:
    before = engine_inventory(engine)

    # killed half-way (in its soak): nothing is lost, the next run resumes there
    child = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "soakgate"), "demo"],
        cwd=demo_project.root, env=demo_project.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    assert child.stdout is not None
    seen = []
    for line in child.stdout:
        seen.append(line)
        if "soak of 3.14 in staging" in line:
            time.sleep(5)
            os.killpg(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "".join(seen)
    journal = json.loads((workspace_of(demo_project) / "demo.json").read_text())
    assert "promote-staging" in journal["steps"] and "soak" not in journal["steps"]

    resumed = run_demo(demo_project)
    out = resumed.stdout
    assert resumed.returncode == 0, out + resumed.stderr
    assert out.count("(done before)") == len([s for s in STEPS if s.key in journal["steps"]])
    assert "soak staging: healthy" in out and f"ACCELERATED x{ACCELERATION}" in out
    assert "production: 3.14" in out and "promoted" in out
    drill = next(line for line in out.splitlines() if line.startswith("✓ drill"))
    assert "budget 1h (within), 0 failed of" in drill, drill
    revert = next(line for line in out.splitlines() if line.startswith("✓ rollback to 3.12"))
    assert "(within), 0 failed of" in revert, revert
    assert "verified: dev" in out
    for digest_line in (
        line for line in out.splitlines() if "sha256:" in line and line.startswith("✓ built")
    ):
        assert digest_line.count("sha256:") == 2 and "…" not in digest_line  # whole digests

    # the evidence behind the gates: real, complete, audited from the (loopback) index
    state = workspace_of(demo_project) / ".soakgate"
    with StateDB.open(state) as db:
        built = {
            r.python_series: r for r in reversed(db.releases()) if "drill" not in r.app_version
        }
    evidence = load_evidence(state, built["3.14"])
    assert evidence.tests is not None and evidence.tests.pass_rate == 100.0
    assert evidence.coverage is not None and evidence.coverage >= 90.0
    assert evidence.mutation is not None and evidence.mutation.not_checked == 0  # a full run
    assert evidence.mutation.scored > 100 and evidence.mutation.score > 50
    folder = state / "evidence" / built["3.14"].digest.removeprefix("sha256:")
    mutation = json.loads((folder / "manifest.json").read_text())["evidence"]["mutation"]
    assert mutation["details"]["source_revision"] == built["3.14"].revision
    assert mutation["tools"]["python"] == built["3.14"].python  # its own image's interpreter
    assert evidence.audit is not None
    assert evidence.performance is not None
    assert evidence.performance.baseline.release == built["3.12"].digest
    if evidence.audit.unaudited:  # no advisory source answered (an index without OSV data)
        # then the vulnerability gate failed closed and only it was overridden, with why
        assert out.count("overridden on the ledger (no advisory source answered)") == 3, out
        gates = [line for line in out.splitlines() if line.startswith("✓ ") and "promoted" in line]
        assert len(gates) == 3 and all("every gate but vulnerabilities" in g for g in gates)
    else:
        assert "overridden" not in out  # every gate passed on its evidence
    # the project's own stages are untouched: the demo ran in its own namespace
    own = [
        c.name
        for c in engine.containers.list(all=True)
        if c.name.startswith(f"{demo_project.namespace}-")
    ]
    assert own == [], own

    report = demo_project.root / "reports" / "demo.html"
    page = report.read_text()
    for heading in (
        "Timeline",
        "Gates and their evidence",
        "Soaks",
        "Rollbacks against their budgets",
        "3.12 vs 3.14",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert f"ACCELERATED x{ACCELERATION}" in page and page.count("<svg") >= 6
    shots = ROOT / "reports"
    shots.mkdir(exist_ok=True)
    for width, height in ((1280, 2400), (390, 2400)):
        png = shots / f"demo-report-{width}.png"
        screenshot(report, png, (width, height), tmp_path / f"profile-{width}")
        assert png.stat().st_size > 20_000
    assert console_errors(report, tmp_path / "profile-console") == []

    # a second run finds everything done and changes nothing
    again = run_demo(demo_project, timeout=120)
    assert again.returncode == 0 and again.stdout.count("(done before)") == len(STEPS)

    cleaned = run_demo(demo_project, "--clean", timeout=300)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    after = engine_inventory(engine)
    assert after == before
    assert not workspace_of(demo_project).exists() and not report.exists()
    # what it downloaded stays for the next demo (no engine object), and it says so
    downloads = demo_project.root / ".soakgate" / "cache" / "demo"
    assert f"kept its download cache {downloads} " in cleaned.stdout
    assert any((downloads / ".wheelhouse").rglob("*.whl"))
    assert any((downloads / "evidence").rglob("*.whl"))
