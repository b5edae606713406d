"""The soak monitor's own cost: CPU of the real monitor at 1 probe/s on a real stage, and the
time of one engine sample.

    .venv/bin/python -m bench.soak_monitor      # writes bench/results/soak_monitor.json

Deploys the newest Python 3.14 release to the staging stage of a scratch project (its own
namespace and ports; releases already on this Docker host are reused, else they are built),
runs ``soakgate soak run staging`` (``python -m soakgate.cli.soak``) with the default settings
(probe every 1 s, engine sample every 10 s, verdict every 60 s, /metrics every 60 probes), and
reads the monitor's utime + stime from ``/proc/<pid>/stat`` over 60 s after a 10 s warm-up
(imports and the first verdict are not steady state). Target: < 2 % of one core. Also times
``EngineStats.read`` (inspect + cgroup files) against the stats API's one-shot read.
Bounded: about 2 minutes when the releases exist.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, toolchain_env, write_result
from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.docker.stats import EngineStats
from soakgate.adapters.state.releases import StateDB
from soakgate.adapters.state.soaks import SoakStore
from soakgate.core.release import Release
from soakgate.scratch import ScratchProject, make_scratch, past_gates

WARM_UP_SECONDS = 10.0
MEASURE_SECONDS = 60.0
CPU_TARGET_PERCENT = 2.0
ENGINE_READS = 50
MONITOR = (sys.executable, "-m", "soakgate.cli.soak", "run", "staging")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def present_releases() -> dict[str, Release]:
    """Releases recorded in the checkout's state whose images are on this engine."""
    found: dict[str, Release] = {}
    path = ROOT / ".soakgate"
    if not (path / "soakgate.db").is_file():
        return found
    db = StateDB.open(path)
    try:
        for release in reversed(db.releases()):
            try:
                docker_engine.client().images.get(release.digest)
            except Exception:  # absent images are simply skipped
                continue
            found[release.python_series] = release
    finally:
        db.close()
    return found


def releases(work: Path, env: dict[str, str]) -> tuple[dict[str, Release], ScratchProject | None]:
    found = present_releases()
    if "3.14" in found:
        return found, None
    build = make_scratch(work / "build", env, with_service=True)
    assert build.soakgate("build", timeout=1200).returncode == 0
    db = StateDB.open(build.state)
    try:
        built = {release.python_series: release for release in reversed(db.releases())}
    finally:
        db.close()
    return built, build


def engine_read_times(container: str) -> dict[str, Any]:
    stats = EngineStats()
    stats.read(container, time.time())  # first read: client and cgroup lookup
    runs = []
    for _ in range(ENGINE_READS):
        started = time.perf_counter()
        sample = stats.read(container, time.time())
        runs.append(time.perf_counter() - started)
    assert sample is not None
    api = docker_engine.client().api
    one_shot = []
    for _ in range(3):
        started = time.perf_counter()
        api.stats(container, stream=False)
        one_shot.append(time.perf_counter() - started)
    stats.close()
    return {
        "engine_sample_ms_median": round(1000 * statistics.median(runs), 2),
        "engine_sample_ms_max": round(1000 * max(runs), 2),
        "engine_sample_reads": ENGINE_READS,
        "stats_api_stream_false_seconds": [round(s, 3) for s in one_shot],
        "memory_mib": round(sample.memory_bytes / 1024**2, 1),
    }


def main() -> None:
    env = toolchain_env()
    engine = docker_engine.client()
    with tempfile.TemporaryDirectory(prefix="bench-soak-monitor-") as work:
        found, build = releases(Path(work), env)
        project = make_scratch(Path(work) / "stage", env)
        project.record(list(found.values()))
        monitor: subprocess.Popen[bytes] | None = None
        try:
            deployed = project.soakgate(
                "deploy",
                "staging",
                "--release",
                found["3.14"].digest,
                "--skip-verify",
                *past_gates("staging"),
            )
            assert deployed.returncode == 0, deployed.stderr
            container = f"{project.namespace}-app-staging-blue"
            engine_figures = engine_read_times(container)
            log = Path(work) / "monitor.log"
            total = WARM_UP_SECONDS + MEASURE_SECONDS + 5
            with log.open("wb") as output:
                monitor = subprocess.Popen(
                    [*MONITOR, "--duration", f"{total:.0f}"],
                    cwd=project.root,
                    env=project.env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            started = time.time()
            time.sleep(WARM_UP_SECONDS)
            before = cpu_seconds(monitor.pid)
            at = time.monotonic()
            with SoakStore.open(project.state) as store:
                soak = store.open_soak("staging")
                assert soak is not None, log.read_text()
                probes_before = store.probe_count(soak.id)
            time.sleep(MEASURE_SECONDS)
            after = cpu_seconds(monitor.pid)
            elapsed = time.monotonic() - at
            rss = rss_mib(monitor.pid)
            with SoakStore.open(project.state) as store:
                probes_after = store.probe_count(soak.id)
                engines = len(store.engine_samples(soak.id))
            assert monitor.wait(timeout=60) == 0, log.read_text()
        finally:
            if monitor is not None and monitor.poll() is None:
                monitor.kill()
            project.destroy(engine)
            if build is not None:
                build.destroy(engine)
    percent = 100.0 * (after - before) / elapsed
    write_result(
        "soak_monitor",
        {
            "python": sys.version.split()[0],
            "monitor_cpu_percent_of_a_core": round(percent, 3),
            "monitor_cpu_target_percent": CPU_TARGET_PERCENT,
            "monitor_cpu_ok": percent < CPU_TARGET_PERCENT,
            "measured_seconds": round(elapsed, 1),
            "warm_up_seconds": WARM_UP_SECONDS,
            "cpu_seconds_in_window": round(after - before, 3),
            "cpu_seconds_before_window": round(before, 3),
            "probes_in_window": probes_after - probes_before,
            "engine_samples_total": engines,
            "monitor_rss_mib": round(rss, 1),
            "settings": "probe 1 s, engine sample 10 s, verdict 60 s, /metrics every 60 probes",
            "run_seconds": round(time.time() - started, 1),
            **engine_figures,
        },
    )


if __name__ == "__main__":
    main()
