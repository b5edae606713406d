"""Issue J, part 6 end to end: a planted slow leak breaches the soak on its memory slope, the
same soak of the unmodified release does not.

The leaking release is the sample release plus three Dockerfile lines (soakgate.core.leak):
its entrypoint starts a process that holds LEAK_KIB more KiB every second, then execs the
release's own command — nothing is asked of the service. The unmodified release soaks in dev
while the leaking one soaks in staging, each under its own real monitor (``soakgate soak
run``, an engine sample a second) for SOAK_SECONDS with a memory-trend span of 30 s. The
threshold is scaled to that span: a leak of 256 KiB/s is about 10x the sample service's
memory per hour, far above MEMORY_SLOPE %/h; a flat service has no slope at all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import docker
import pytest

from soakgate.adapters.docker.engine import build_from
from soakgate.adapters.soak import leak_launcher
from soakgate.adapters.state.soaks import SoakStore
from soakgate.core.leak import leak_lines
from soakgate.core.release import Release
from soakgate.scratch import ROOT, ScratchProject, past_gates

from .test_soak import SHORT_SLO

pytestmark = pytest.mark.integration
REPORTS = ROOT / "reports"
LEAK_KIB = 256  # KiB a second: 900 MiB an hour
LEAK_CAP_MIB = 64
SOAK_SECONDS = 45
MEMORY_SLOPE = 300  # % of the start level per hour
MEMORY_SLO = f"""{SHORT_SLO}memory_trend_min_span = "30s"
memory_trend_min_samples = 20
memory_slope_percent_per_hour = {MEMORY_SLOPE}
"""
SLOPE_ROW = "memory slope (soak; low end of 90 % interval)"


def leaking_release(good: Release, engine: docker.DockerClient) -> Release:
    """The release ``good`` beside a process leaking LEAK_KIB KiB a second."""
    config = engine.images.get(good.digest).attrs.get("Config") or {}
    lines = leak_lines(
        leak_launcher.source(),
        config.get("Entrypoint"),
        config.get("Cmd"),
        LEAK_KIB,
        max_mib=LEAK_CAP_MIB,
    )
    tag = "soakgate-test/leak:1"
    image = build_from(good.digest, lines, tag)
    return Release(str(image.id), good.python, "leak", "test", good.created, 0, tag)


def deploy(project: ScratchProject, stage: str, release: Release) -> None:
    result = project.soakgate(
        "deploy", stage, "--release", release.digest, "--skip-verify", *past_gates(stage)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def monitor(project: ScratchProject, stage: str) -> subprocess.Popen[str]:
    log = project.state / "soak" / f"memory-{stage}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    every = ["--duration", str(SOAK_SECONDS), "--judge-every", "5", "--engine-every", "1"]
    return subprocess.Popen(
        [sys.executable, "-m", "soakgate.cli.soak", "run", stage, "--policy", "alert", *every],
        cwd=project.root,
        env=project.env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def status(project: ScratchProject, stage: str) -> dict[str, Any]:
    result = project.run(sys.executable, "-m", "soakgate.cli.soak", "status", stage, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def slope_row(verdict: dict[str, Any]) -> dict[str, Any]:
    (row,) = [row for row in verdict["slo"] if row["name"] == SLOPE_ROW]
    return row


def log_text(project: ScratchProject) -> str:
    return "".join(
        path.read_text(errors="replace") for path in sorted((project.state / "soak").glob("*.log"))
    )


def test_a_planted_slow_leak_breaches_on_memory_growth_and_the_flat_release_does_not(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    path = scratch.root / "soakgate.toml"
    path.write_text(re.sub(r"(?ms)^\[slo\].*\Z", MEMORY_SLO, path.read_text()))
    flat = releases["3.14"]
    leak = leaking_release(flat, engine)
    scratch.record([leak])
    deploy(scratch, "dev", flat)
    deploy(scratch, "staging", leak)

    started = time.monotonic()
    monitors = {stage: monitor(scratch, stage) for stage in ("dev", "staging")}
    try:
        for process in monitors.values():
            assert process.wait(timeout=SOAK_SECONDS + 60) == 0, log_text(scratch)
    finally:
        for process in monitors.values():
            if process.poll() is None:
                process.kill()
    soaked = time.monotonic() - started

    leaking = status(scratch, "staging")
    steady = status(scratch, "dev")
    leak_verdict, flat_verdict = leaking["verdict"], steady["verdict"]
    leak_trend, flat_trend = leak_verdict["memory_trend"], flat_verdict["memory_trend"]
    assert leak_trend is not None and flat_trend is not None, log_text(scratch)

    # the leak: breached on its memory slope, and on nothing else
    assert leak_verdict["state"] == "breached", leak_verdict["reasons"]
    assert [r["name"] for r in leak_verdict["slo"] if r["ok"] is False] == [SLOPE_ROW]
    assert leak_verdict["reasons"][0].startswith(SLOPE_ROW)
    assert slope_row(leak_verdict)["measured"] == leak_trend["low_percent_per_hour"]
    assert leak_trend["low_percent_per_hour"] > MEMORY_SLOPE
    # the slope is the planted rate, within the noise of the service's own memory
    assert leak_trend["slope_mib_per_hour"] == pytest.approx(LEAK_KIB * 3600 / 1024, rel=0.35)
    with SoakStore.open(scratch.state) as store:
        (soak,) = store.soaks("staging")
    assert soak.state == "breached", log_text(scratch)

    # the unmodified release: judged, flat, not breached
    assert flat_verdict["state"] != "breached", flat_verdict["reasons"]
    assert slope_row(flat_verdict)["ok"] is True
    assert flat_trend["low_percent_per_hour"] <= MEMORY_SLOPE
    assert abs(flat_trend["slope_mib_per_hour"]) < 0.2 * leak_trend["slope_mib_per_hour"]

    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "soak-memory-trend.json").write_text(
        json.dumps(
            {
                "leak_kib_per_second": LEAK_KIB,
                "planted_mib_per_hour": LEAK_KIB * 3600 / 1024,
                "threshold_percent_per_hour": MEMORY_SLOPE,
                "soak_seconds": round(soaked, 1),
                "leak": {"verdict": leak_verdict["state"], **leak_trend},
                "flat": {"verdict": flat_verdict["state"], **flat_trend},
            },
            indent=2,
        )
        + "\n"
    )
