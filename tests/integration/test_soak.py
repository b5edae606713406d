"""Issue E end to end: the real soak monitor on a scratch staging stage.

- SIGKILL the background monitor, start it again: the same soak resumes, no committed sample
  is lost.
- The Docker engine goes away: simulated, not a real dockerd restart (which would kill every
  other test's containers on this shared engine): the monitor talks to the engine through a
  unix-socket proxy this test controls (DOCKER_HOST), and the test stops that proxy and the
  stage's nginx together. The outage must be a gap, not failed probes.
- A release that stops answering (its container paused) is rolled back by the policy: the
  warm slot serves, a load generator started right after the flip sees no failure, and the
  ledger has it.
- A monitor begun while the stage's containers start again (as after an engine restart) waits
  for the stage's first answer: no failed probe, no breach, no rollback.
- Traffic that goes to the warm slot while the record (and the slot header) names the
  active one is drift: the soak is breached at once, though every answer is a 200.
- The HTML report of a simulated week renders in headless Chromium and is not blank.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import numpy as np
import pytest

from soakgate.adapters.load import LoadGenerator
from soakgate.adapters.soak.report import load_series, render_report
from soakgate.adapters.state.soaks import DB_FILE, SoakStore
from soakgate.core.evidence import parse_soak
from soakgate.core.release import Release
from soakgate.core.soak import EngineSample, Sample, SloConfig, judge_soak
from soakgate.scratch import ROOT, ScratchProject, past_gates

from .browser import screenshot
from .setup_missing import missing

pytestmark = pytest.mark.integration
REPORTS = ROOT / "reports"
SHORT_SLO = """[slo]
probe_interval = "1s"
duration = "10m"
window = "1m"
window_min_samples = 10
min_samples = 20
trend_window = "5m"
"""


# --- helpers -----------------------------------------------------------------------------------


def deploy(project: ScratchProject, stage: str, release: Release) -> None:
    result = project.soakgate(
        "deploy", stage, "--release", release.digest, "--skip-verify", *past_gates(stage)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def short_slo(project: ScratchProject) -> None:
    """Windows of a minute and small sample minimums, so breaches show within seconds."""
    path = project.root / "soakgate.toml"
    text = path.read_text()
    text = re.sub(r"(?ms)^\[slo\].*\Z", SHORT_SLO, text)
    path.write_text(text)


def soak_cli(project: ScratchProject, *args: str, timeout: float = 120) -> Any:
    """``soakgate soak …`` (run as ``python -m soakgate.cli.soak`` until main registers it)."""
    return project.run(sys.executable, "-m", "soakgate.cli.soak", *args, timeout=timeout)


def spawn_monitor(
    project: ScratchProject, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    log = project.state / "soak" / "foreground.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "soakgate.cli.soak", "run", "staging", *args],
        cwd=project.root,
        env=env or project.env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def probe_times(state: Path, soak_id: int) -> set[int]:
    """Committed probe times (ms) through a connection of our own."""
    with sqlite3.connect(state / DB_FILE) as connection:
        rows = connection.execute(
            "SELECT t FROM probe_samples WHERE soak_id = ?", (soak_id,)
        ).fetchall()
    return {int(t) for (t,) in rows}


def failed_probes(state: Path, soak_id: int) -> int:
    with sqlite3.connect(state / DB_FILE) as connection:
        row = connection.execute(
            "SELECT count(*) FROM probe_samples WHERE soak_id = ? AND ok = 0", (soak_id,)
        ).fetchone()
    return int(row[0])


def open_soak(state: Path) -> Any:
    with SoakStore.open(state) as store:
        return store.open_soak("staging")


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def write_result(name: str, data: dict[str, object]) -> None:
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")


def log_text(project: ScratchProject) -> str:
    return "".join(
        path.read_text(errors="replace") for path in sorted((project.state / "soak").glob("*.log"))
    )


# --- kill and resume ---------------------------------------------------------------------------


def test_a_killed_monitor_resumes_the_same_soak_and_keeps_every_committed_sample(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    deploy(scratch, "staging", releases["3.12"])
    deploy(scratch, "staging", releases["3.14"])

    started = soak_cli(scratch, "start", "staging", "--policy", "alert")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "started: pid" in started.stdout and "staging.log" in started.stdout
    soak = open_soak(scratch.state)
    assert soak.release == releases["3.14"].digest
    assert soak.baseline == releases["3.12"].digest  # the warm slot's release
    again = soak_cli(scratch, "start", "staging")
    assert again.returncode == 6, again.stdout + again.stderr  # LockHeld
    assert "already soaked by monitor pid" in again.stderr

    wait_for(lambda: len(probe_times(scratch.state, soak.id)) >= 12, 60, "12 committed probes")
    os.kill(soak.pid, signal.SIGKILL)
    killed_at = time.time()
    committed = probe_times(scratch.state, soak.id)
    wait_for(lambda: not Path(f"/proc/{soak.pid}").exists() or _zombie(soak.pid), 10, "death")

    restarted = soak_cli(scratch, "start", "staging")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    resumed = open_soak(scratch.state)
    resumed_after = time.time() - killed_at
    assert resumed.id == soak.id and resumed.pid != soak.pid
    wait_for(
        lambda: len(probe_times(scratch.state, soak.id)) >= len(committed) + 8,
        60,
        "probes after the restart",
    )
    stopped = soak_cli(scratch, "stop", "staging")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr

    final = probe_times(scratch.state, soak.id)
    assert committed <= final, f"{len(committed - final)} committed samples lost"
    soak_after = open_soak(scratch.state)
    assert soak_after is not None and soak_after.id == soak.id and soak_after.pid is None
    status = soak_cli(scratch, "status", "staging", "--json")
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["soak"]["id"] == soak.id
    assert document["monitor"]["alive"] is False
    log = log_text(scratch)
    assert "taking over soak" in log and "resumed" in log
    # the report and the verdict file of the same soak
    html = scratch.root / "out" / "soak.html"
    reported = soak_cli(scratch, "report", "staging", "-o", str(html))
    assert reported.returncode == 0 and reported.stdout.strip() == str(html), reported.stderr
    assert "<svg" in html.read_text()
    evidence = scratch.root / "out" / "soak.json"
    judged = soak_cli(scratch, "verdict", soak.release[:19], "-o", str(evidence))
    assert judged.returncode == 0, judged.stderr
    parsed = parse_soak(evidence.read_text())
    assert parsed.release == soak.release and parsed.verdict == "not enough data"
    write_result(
        "soak-kill-resume",
        {
            "committed_before_kill": len(committed),
            "committed_after_kill_kept": len(committed & final),
            "lost": len(committed - final),
            "final": len(final),
            "seconds_from_kill_to_resumed": round(resumed_after, 2),
            "gaps": document["verdict"]["gaps"],
        },
    )


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True


# --- engine outage (simulated) -----------------------------------------------------------------


class SocketProxy:
    """A unix socket forwarding to the engine's socket, that the test can cut and restore."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self._server: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._connections.clear()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@pytest.fixture
def socket_proxy(tmp_path: Path) -> Iterator[SocketProxy]:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        missing(f"the engine outage is simulated with a unix socket; DOCKER_HOST is {host}")
    proxy = SocketProxy(Path(f"/tmp/sg-{os.getpid()}-{tmp_path.name[-8:]}.sock"), host[7:])
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def test_an_engine_outage_is_a_gap_not_a_breach(
    scratch: ScratchProject,
    releases: dict[str, Release],
    engine: docker.DockerClient,
    socket_proxy: SocketProxy,
) -> None:
    short_slo(scratch)
    deploy(scratch, "staging", releases["3.14"])
    env = {**scratch.env, "DOCKER_HOST": f"unix://{socket_proxy.path}"}
    monitor = spawn_monitor(
        scratch, "--duration", "180", "--judge-every", "5", "--engine-every", "2", env=env
    )
    proxy_name = f"{scratch.namespace}-proxy-staging"
    try:
        soak = wait_for(lambda: open_soak(scratch.state), 30, "the soak to begin")
        wait_for(lambda: len(probe_times(scratch.state, soak.id)) >= 25, 60, "25 probes")
        # the engine "goes down": its API and the stage's containers with it
        socket_proxy.stop()
        down_at = time.time()
        engine.containers.get(proxy_name).stop(timeout=0)
        time.sleep(15)
        # it comes back: first the API, then (2 s later) the containers it restarts
        socket_proxy.start()
        up_at = time.time()
        time.sleep(2)
        engine.containers.get(proxy_name).start()
        before = len(probe_times(scratch.state, soak.id))
        wait_for(
            lambda: len(probe_times(scratch.state, soak.id)) >= before + 10, 60, "probes again"
        )
        monitor.send_signal(signal.SIGTERM)  # soak stop's way: commit, judge, let go
        assert monitor.wait(timeout=60) == 0, log_text(scratch)
    finally:
        if monitor.poll() is None:
            monitor.kill()
        with contextlib.suppress(docker.errors.APIError):
            engine.containers.get(proxy_name).start()

    assert failed_probes(scratch.state, soak.id) == 0, log_text(scratch)
    status = json.loads(soak_cli(scratch, "status", "staging", "--json").stdout)
    verdict = status["verdict"]
    assert verdict["state"] != "breached", verdict["reasons"]
    gaps = [gap for gap in verdict["gaps"] if gap["seconds"] > 10]
    assert len(gaps) == 1, verdict["gaps"]
    assert gaps[0]["start"] <= down_at + 1 and gaps[0]["end"] >= up_at
    (outage,) = status["monitor"]["outages"]
    assert outage["end"] is not None and outage["end"] - outage["start"] >= 14
    write_result(
        "soak-engine-outage",
        {
            "simulated": "engine API cut via a socket proxy + the stage's nginx stopped",
            "outage_seconds": round(up_at - down_at, 1),
            "gap": gaps[0],
            "outage_seen_by_monitor": outage,
            "failed_probes_recorded": 0,
            "verdict": verdict["state"],
        },
    )


# --- the policy rolls a failing release back ----------------------------------------------------


def test_a_release_that_stops_answering_is_rolled_back_by_the_policy(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    short_slo(scratch)
    old, new = releases["3.12"], releases["3.14"]
    deploy(scratch, "staging", old)
    deploy(scratch, "staging", new)
    monitor = spawn_monitor(
        scratch, "--policy", "rollback", "--judge-every", "2", "--duration", "240"
    )
    url = scratch.url("staging")
    paused: Any = None
    try:
        soak = wait_for(lambda: open_soak(scratch.state), 30, "the soak to begin")
        wait_for(lambda: len(probe_times(scratch.state, soak.id)) >= 25, 60, "25 probes")
        slot = httpx.get(f"{url}/version", timeout=5).headers["x-soakgate-slot"]
        paused = engine.containers.get(f"{scratch.namespace}-app-staging-{slot}")
        paused.pause()  # the release stops answering; the engine is fine
        broke_at = time.time()

        def flipped() -> bool:
            try:
                response = httpx.get(f"{url}/version", timeout=1)
            except httpx.HTTPError:
                return False
            return response.headers.get("x-soakgate-slot") not in (None, slot)

        wait_for(flipped, 90, "the policy's flip to the warm slot", interval=0.05)
        flipped_after = time.time() - broke_at
        with LoadGenerator(f"{url}/version", rate=50, max_seconds=5) as load:
            time.sleep(5)
        assert load.report.failed == 0, load.report.as_dict()
        assert httpx.get(f"{url}/version", timeout=5).json()["release"] == old.digest
        code = monitor.wait(timeout=180)
    finally:
        if monitor.poll() is None:
            monitor.kill()
        if paused is not None:
            with contextlib.suppress(docker.errors.APIError):
                paused.unpause()

    from soakgate.adapters.state.ledger import LedgerStore

    ledger = LedgerStore.open(scratch.state)
    try:
        events = ledger.events(stage="staging")
    finally:
        ledger.close()
    kinds = [event.kind for event in events]
    assert "rollback" in kinds, (kinds, log_text(scratch))
    (breach,) = [event for event in events if event.kind == "soak"]
    assert breach.data["policy"] == "rollback"
    assert breach.from_release == new.digest and breach.to_release == old.digest
    with SoakStore.open(scratch.state) as store:
        ended = store.soak(soak.id)
    assert ended is not None and ended.state == "breached" and ended.ended_at is not None
    assert code == 0, log_text(scratch)
    write_result(
        "soak-policy-rollback",
        {
            "from": new.digest,
            "to": old.digest,
            "seconds_from_failure_to_flip": round(flipped_after, 2),
            "load_after_flip": load.report.as_dict(),
            "ledger": kinds,
            "end_reason": ended.end_reason,
        },
    )


def test_a_soak_begun_while_the_stage_restarts_waits_for_it_and_rolls_nothing_back(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    """As just after an engine restart: the stage's proxy and active app stopped, the app
    started again (its health check "starting") and the proxy still down when a monitor with
    the rollback policy begins. The probes before the stage's first answer are not recorded:
    no failed probe, no breach, no rollback, and the stage serves what it served."""
    short_slo(scratch)
    old, new = releases["3.12"], releases["3.14"]
    deploy(scratch, "staging", old)
    deploy(scratch, "staging", new)
    url = scratch.url("staging")
    slot = httpx.get(f"{url}/version", timeout=5).headers["x-soakgate-slot"]
    app = engine.containers.get(f"{scratch.namespace}-app-staging-{slot}")
    proxy = engine.containers.get(f"{scratch.namespace}-proxy-staging")
    proxy.stop(timeout=5)
    app.stop(timeout=5)
    app.start()
    monitor = spawn_monitor(
        scratch, "--policy", "rollback", "--judge-every", "2", "--duration", "15"
    )
    try:
        wait_for(lambda: "is starting" in log_text(scratch), 30, "the monitor to see it starting")
        time.sleep(3)  # the probes through the stopped proxy fail meanwhile
        proxy.start()
        code = monitor.wait(timeout=120)
    finally:
        if monitor.poll() is None:
            monitor.kill()
        proxy.reload()
        if proxy.status != "running":
            proxy.start()
    log = log_text(scratch)
    assert code == 0, log
    soak = open_soak(scratch.state)
    assert soak is not None and soak.release == new.digest, log
    assert soak.state != "breached" and failed_probes(scratch.state, soak.id) == 0, log
    dropped = re.search(r"\((\d+) not: engine down or release starting\)", log)
    assert dropped is not None and int(dropped.group(1)) >= 2, log
    from soakgate.adapters.state.ledger import LedgerStore

    ledger = LedgerStore.open(scratch.state)
    try:
        kinds = [event.kind for event in ledger.events(stage="staging")]
    finally:
        ledger.close()
    assert "rollback" not in kinds and "soak" not in kinds, kinds
    assert httpx.get(f"{url}/version", timeout=5).json()["release"] == new.digest


def test_traffic_sent_to_the_warm_slot_behind_the_records_back_is_drift_and_a_breach(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    """The upstream file is hand-edited as an engine mix-up would leave it: its marker (and so
    the slot header) still names the active slot, the traffic goes to the warm container. Every
    answer is a 200, so only who answered can tell: the monitor stores drift and the soak is
    breached within a few probes (policy alert: on record, nothing flipped)."""
    from soakgate.adapters.config_file import load_config
    from soakgate.adapters.stage.engine import UPSTREAM_FILE
    from soakgate.adapters.state.ledger import LedgerStore
    from soakgate.app.stages import stage_engine
    from soakgate.core.project import Project
    from soakgate.core.proxy_conf import parse_upstream

    short_slo(scratch)
    old, new = releases["3.12"], releases["3.14"]
    deploy(scratch, "staging", old)
    deploy(scratch, "staging", new)
    project = Project(scratch.root, load_config(scratch.root), scratch.state)
    config = project.config
    engine = stage_engine(project, "staging")
    table = engine.read_slots()
    assert table.active_slot is not None
    active, warm = table.active_slot.name, table.inactive_name
    upstream = engine.conf_dir / UPSTREAM_FILE
    original = upstream.read_text()
    marker = parse_upstream(original)
    assert marker is not None and marker.slot == active
    monitor = spawn_monitor(
        scratch, "--policy", "alert", "--judge-every", "60", "--duration", "120"
    )
    try:
        soak = wait_for(lambda: open_soak(scratch.state), 30, "the soak to begin")
        wait_for(lambda: len(probe_times(scratch.state, soak.id)) >= 5, 60, "5 probes")
        assert failed_probes(scratch.state, soak.id) == 0, log_text(scratch)
        port = config.service.port
        upstream.write_text(
            original.replace(
                f'$soakgate_upstream {{ default "{marker.address}:{port}"; }}',
                f'$soakgate_upstream {{ default "{engine.names.app(warm)}:{port}"; }}',
            )
        )
        assert upstream.read_text() != original
        engine.light.reload(engine.names.proxy)
        edited_at = time.time()
        served = wait_for(
            lambda: (
                httpx.get(f"{scratch.url('staging')}/version", timeout=2).json()["release"]
                == old.digest
            ),
            10,
            "the warm slot's release to answer",
        )
        assert served

        def breached() -> Any:
            with SoakStore.open(scratch.state) as store:
                found = store.soak(soak.id)
            return found is not None and found.state == "breached"

        wait_for(breached, 30, "the soak to be breached")
        breached_after = time.time() - edited_at
    finally:
        monitor.terminate()
        monitor.wait(timeout=30)
        upstream.write_text(original)
        engine.light.reload(engine.names.proxy)

    with sqlite3.connect(scratch.state / DB_FILE) as connection:
        errors = [
            error
            for (error,) in connection.execute(
                "SELECT error FROM probe_samples WHERE soak_id = ? AND ok = 0", (soak.id,)
            )
        ]
    assert errors and all(e.startswith("drift: answered by ") for e in errors), errors
    assert f"but the active slot {active}" in errors[0]
    assert "drift on staging" in log_text(scratch)
    ledger = LedgerStore.open(scratch.state)
    try:
        (event,) = [e for e in ledger.events(stage="staging") if e.kind == "soak"]
    finally:
        ledger.close()
    assert event.data["policy"] == "alert"
    assert event.data["reasons"][0].startswith("answered by another release (soak)")
    assert engine.read_slots().active_slot.name == active  # alert: recorded, nothing flipped
    write_result(
        "soak-drift",
        {
            "active_slot": active,
            "traffic_to": warm,
            "seconds_from_edit_to_breach": round(breached_after, 2),
            "drifted_probes": len(errors),
            "first": errors[0],
        },
    )


# --- the report, looked at by a browser ------------------------------------------------------


def simulated_week(directory: Path) -> tuple[Any, Any, SloConfig]:
    """A week and 3 h at one probe every 10 s: a slow hour, a release outage, an engine gap."""
    t0 = 1_700_000_000.0
    step, week = 10.0, 7 * 86400
    slo = SloConfig(probe_interval_seconds=step)
    rng = np.random.default_rng(3)
    count = int(week / step) + 1080  # 3 h more than a week: the gaps do not count
    latencies = rng.lognormal(np.log(80.0), 0.2, count)
    clock = {"now": t0}
    with SoakStore.open(directory) as store:
        recorder = store.begin("staging", "sha256:" + "e" * 64, clock=lambda: clock["now"])
        for i in range(count):
            t = t0 + i * step
            clock["now"] = t
            if 5 * 86400 <= t - t0 < 5 * 86400 + 1800:
                continue  # engine down: no probes
            if 2 * 86400 <= t - t0 < 2 * 86400 + 600:
                recorder.add(Sample(t, False, 502, 2.0, "HTTP 502"))
                continue
            slow = 4 * 86400 <= t - t0 < 4 * 86400 + 2400
            recorder.add(Sample(t, True, 200, float(latencies[i]) * (6 if slow else 1)))
            if i % 6 == 0:
                memory = 150 * 1024**2 + int(i * 40)
                recorder.add_engine(EngineSample(t, 0, False, memory, 2.0))
        recorder.flush()
        soak = recorder.soak
        verdict = judge_soak(
            store.probe_samples(soak.id),
            store.engine_samples(soak.id),
            [],
            slo,
            now=clock["now"],
            started_at=soak.started_at,
        )
        series = load_series(store, soak.id)
        recorder.close()
    return verdict, series, slo


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def test_the_report_of_a_week_renders_in_a_browser(tmp_path: Path) -> None:
    from PIL import Image

    from soakgate.adapters.soak.report import AVAILABILITY, P95, STATE_COLOURS

    verdict, series, slo = simulated_week(tmp_path)
    report = render_report(
        verdict, series, tmp_path / "soak.html", slo=slo, stage="staging", release="sha256:e…"
    )
    png = tmp_path / "soak.png"
    screenshot(report, png, (1400, 3200), tmp_path / "profile")  # down to the memory plot
    REPORTS.mkdir(exist_ok=True)
    shutil.copy2(png, REPORTS / "soak-report-screenshot.png")
    image = Image.open(png).convert("RGB")
    assert image.size == (1400, 3200)
    pixels = np.asarray(image).reshape(-1, 3).astype(np.int32)
    distinct = len(np.unique(pixels[:, 0] * 65536 + pixels[:, 1] * 256 + pixels[:, 2]))
    non_white = int((pixels.min(axis=1) < 240).sum())
    assert distinct > 200, distinct  # text, lines, shading: not a blank page
    assert non_white > 0.05 * len(pixels), non_white

    def share(colour: str, tolerance: int = 12) -> float:
        close = np.abs(pixels - np.array(_rgb(colour))).max(axis=1) <= tolerance
        return float(close.mean())

    # the banner in the verdict's colour, and the plots' own series colours
    assert share(STATE_COLOURS[verdict.state]) > 0.005, verdict.state
    # the plots' lines, in pixels (a line across a plot is about 950 px): p95's and its SLO
    # line, the memory line, and availability's
    assert share(P95) * len(pixels) > 500
    assert share(AVAILABILITY) * len(pixels) > 500
    write_result(
        "soak-report-screenshot",
        {
            "verdict": verdict.state,
            "distinct_colours": distinct,
            "non_white_share": round(non_white / len(pixels), 3),
            "banner_share": round(share(STATE_COLOURS[verdict.state]), 4),
            "p95_pixels": round(share(P95) * len(pixels)),
            "availability_pixels": round(share(AVAILABILITY) * len(pixels)),
        },
    )
