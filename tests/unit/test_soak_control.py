"""Soak control (start, stop, status of the background monitor) against fake processes: no
engine, no real process, a real SQLite soak store in a temp dir."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from soakgate.adapters.soak.monitor_file import monitor_file, write_monitor_file
from soakgate.adapters.state.soaks import SoakStore
from soakgate.app.soak.control import live_monitor, start_monitor, stop_monitor
from soakgate.app.soak.monitor import NothingDeployed, StageTarget
from soakgate.app.soak.status import soak_status
from soakgate.core.config import ProjectConfig
from soakgate.core.project import Project
from soakgate.core.soak import Sample, SloConfig
from soakgate.errors import LockHeld, SoakgateError
from soakgate.testing import FakeChild, FakeProcesses

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
ROOT = Path("/nonexistent-project")


def deployed() -> StageTarget:
    return StageTarget("staging", "http://127.0.0.1:1", "blue", A, "app-staging-blue", "green", B)


def nothing() -> StageTarget:
    return StageTarget("staging", "http://127.0.0.1:1")


def beating(state: Path):  # type: ignore[no-untyped-def]
    """A spawn that plays a monitor starting: it claims the soak with its pid and beats."""

    def on_spawn(child: FakeChild, argv: list[str]) -> None:
        with SoakStore.open(state) as store:
            recorder = store.begin("staging", A, B, pid=child.pid)
            recorder.add(Sample(time.time(), True, 200, 1.0))
            recorder.flush()

    return on_spawn


def test_start_spawns_the_monitor_and_returns_at_its_first_heartbeat(tmp_path: Path) -> None:
    processes = FakeProcesses(on_spawn=beating(tmp_path))
    started = start_monitor(
        Project(ROOT, ProjectConfig(), tmp_path),
        "staging",
        policy="rollback",
        processes=processes,
        locate=deployed,
    )
    assert started.pid == 40001
    (kind, argv), *rest = processes.calls
    assert kind == "spawn" and not rest
    assert argv[-5:] == ["soakgate.cli.soak", "run", "staging", "--policy", "rollback"]
    with SoakStore.open(tmp_path) as store:
        soak = store.open_soak("staging")
    assert soak is not None and soak.id == started.soak_id and soak.pid == started.pid


def test_start_refuses_while_a_live_monitor_beats(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, pid=777).flush()
    processes = FakeProcesses(alive={777: True})
    with pytest.raises(LockHeld, match="already soaked by monitor pid 777"):
        start_monitor(
            Project(ROOT, ProjectConfig(), tmp_path),
            "staging",
            processes=processes,
            locate=deployed,
        )
    assert processes.calls == []  # nothing spawned


def test_start_takes_over_from_a_dead_monitor(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, pid=777).flush()
    processes = FakeProcesses(on_spawn=beating(tmp_path))  # 777 is not alive
    started = start_monitor(
        Project(ROOT, ProjectConfig(), tmp_path), "staging", processes=processes, locate=deployed
    )
    assert started.pid == 40001


def test_start_refuses_a_stage_with_nothing_deployed_and_spawns_nothing(tmp_path: Path) -> None:
    processes = FakeProcesses()
    with pytest.raises(NothingDeployed, match="nothing deployed on staging"):
        start_monitor(
            Project(ROOT, ProjectConfig(), tmp_path), "staging", processes=processes, locate=nothing
        )
    assert processes.calls == []


def test_a_bad_policy_or_stage_is_refused_before_anything_runs(tmp_path: Path) -> None:
    processes = FakeProcesses()
    with pytest.raises(SoakgateError, match="unknown soak policy 'maybe'"):
        start_monitor(
            Project(ROOT, ProjectConfig(), tmp_path),
            "staging",
            policy="maybe",
            processes=processes,
            locate=deployed,
        )
    with pytest.raises(SoakgateError, match="unknown stage 'qa'"):
        start_monitor(Project(ROOT, ProjectConfig(), tmp_path), "qa", processes=processes)
    assert processes.calls == []


def test_a_monitor_that_exits_at_once_is_an_error_with_its_log(tmp_path: Path) -> None:
    def crash(child: FakeChild, argv: list[str]) -> None:
        log = tmp_path / "soak" / "staging.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("Traceback …\nValueError: bad config\n")
        child.exit(1)

    processes = FakeProcesses(on_spawn=crash)
    with pytest.raises(SoakgateError) as raised:
        start_monitor(
            Project(ROOT, ProjectConfig(), tmp_path),
            "staging",
            processes=processes,
            locate=deployed,
        )
    assert "exited at once (exit 1)" in raised.value.message
    assert "ValueError: bad config" in raised.value.message


def test_a_monitor_that_never_reports_is_terminated(tmp_path: Path) -> None:
    processes = FakeProcesses()  # spawned, alive, silent
    with pytest.raises(SoakgateError, match="did not report within 0s"):
        start_monitor(
            Project(ROOT, ProjectConfig(), tmp_path),
            "staging",
            processes=processes,
            locate=deployed,
            wait=0.3,
        )
    assert processes.calls[-1] == ("terminate", 40001)  # nothing left running


def test_stop_terminates_the_soaks_writer_and_keeps_the_soak_open(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, pid=777).flush()
    processes = FakeProcesses(alive={777: True})
    stopped = stop_monitor(tmp_path, "staging", processes=processes)
    assert (stopped.pid, stopped.ended) == (777, False)
    assert processes.calls == [("terminate", 777)]
    with SoakStore.open(tmp_path) as store:
        assert store.open_soak("staging") is not None  # the week goes on


def test_stop_end_ends_the_soak_even_with_no_monitor(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, pid=777).flush()
    stopped = stop_monitor(tmp_path, "staging", end=True, processes=FakeProcesses())
    assert (stopped.pid, stopped.ended) == (None, True)
    with SoakStore.open(tmp_path) as store:
        assert store.open_soak("staging") is None
        assert store.soaks("staging")[0].end_reason == "stopped"


def test_stop_without_a_monitor_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, pid=777).flush()
    processes = FakeProcesses()
    with pytest.raises(SoakgateError, match="no soak monitor runs for staging"):
        stop_monitor(tmp_path, "staging", processes=processes)
    assert processes.calls == []


def test_a_monitor_that_will_not_stop_is_named_with_the_kill_to_use(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, pid=777).flush()
    processes = FakeProcesses(alive={777: True}, exits_on_term=False)
    with pytest.raises(SoakgateError) as raised:
        stop_monitor(tmp_path, "staging", wait=0.2, processes=processes)
    assert raised.value.hint is not None and "kill -KILL 777" in raised.value.hint


def test_liveness_is_the_soaks_writer_else_a_monitor_the_file_names(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, pid=777).flush()
        soak = store.open_soak("staging")
    write_monitor_file(tmp_path, "staging", {"pid": 888, "soak_id": 1, "status": "running"})
    file_data = json.loads(monitor_file(tmp_path, "staging").read_text())
    assert live_monitor(soak, file_data, FakeProcesses(alive={777: True})) == 777
    assert live_monitor(soak, file_data, FakeProcesses(alive={888: True})) == 888
    not_a_monitor = FakeProcesses(alive={888: False})  # pid reused by something else
    assert live_monitor(soak, file_data, not_a_monitor) is None
    assert live_monitor(None, {}, FakeProcesses(alive={777: True})) is None


def test_status_says_alive_only_for_a_live_monitor(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, pid=777).flush()
    slo = SloConfig()
    alive = soak_status(tmp_path, "staging", slo, processes=FakeProcesses(alive={777: True}))
    dead = soak_status(tmp_path, "staging", slo, processes=FakeProcesses())
    assert (alive.monitor.pid, alive.monitor.alive) == (777, True)
    assert (dead.monitor.pid, dead.monitor.alive) == (777, False)
