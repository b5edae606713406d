"""Use case: the soak monitor as a background process — start it detached and wait for its
first heartbeat, stop it (SIGTERM: it commits and goes), optionally ending the soak.

    start_monitor(project, "staging", policy="rollback", processes=PROCESSES)
    stop_monitor(state, "staging", end=True)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soakgate.adapters.soak.monitor_file import (
    log_file,
    read_monitor_file,
    write_monitor_file,
)
from soakgate.adapters.soak.process import PROCESSES
from soakgate.adapters.state.soaks import Soak, SoakStore
from soakgate.app.ports import Processes
from soakgate.app.soak.monitor import (
    NothingDeployed,
    StageTarget,
    resolve_policy,
    stage_locator,
)
from soakgate.core.config import check_stage
from soakgate.core.project import Project
from soakgate.errors import LockHeld, SoakgateError

# --- background monitor ------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    pid: int
    log: Path
    soak_id: int
    seconds: float  # from spawn to the first heartbeat


def monitor_command(stage: str, policy: str | None, extra: tuple[str, ...] = ()) -> list[str]:
    """The argv of a foreground monitor (``python -m soakgate.cli.soak run STAGE``)."""
    argv = [sys.executable, "-m", "soakgate.cli.soak", "run", stage]
    if policy:
        argv += ["--policy", policy]
    return argv + list(extra)


def start_monitor(
    project: Project,
    stage: str,
    *,
    policy: str | None = None,
    extra: tuple[str, ...] = (),
    wait: float = 30.0,
    processes: Processes = PROCESSES,
    locate: Callable[[], StageTarget] | None = None,
) -> Started:
    """Spawn the monitor detached (new session, output to ``<state>/soak/<stage>.log``) and
    return once its first heartbeat is on disk."""
    check_stage(stage)
    with SoakStore.open(project.state) as store:
        current = store.open_soak(stage)
        if current is not None and current.pid is not None and processes.alive(current.pid):
            age = time.time() - (current.heartbeat or 0.0)
            if age <= 30.0:
                raise LockHeld(
                    f"stage {stage} is already soaked by monitor pid {current.pid}"
                    f" (soak #{current.id})",
                    hint=f"soakgate soak status {stage}; stop it with: soakgate soak stop {stage}",
                )
        if policy is not None:
            resolve_policy(project.state, stage, project.config, store, policy)
        target = (locate or stage_locator(project, stage))()
        if target.release is None:
            raise NothingDeployed(
                f"nothing deployed on {stage}: deploy first",
                hint=f"soakgate deploy {stage} --release DIGEST",
            )
        log = log_file(project.state, stage)
        spawned = time.time()
        child = processes.spawn(monitor_command(stage, policy, extra), cwd=project.root, log=log)
        deadline = spawned + wait
        while time.time() < deadline:
            if child.poll() is not None:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
                raise SoakgateError(
                    f"the soak monitor of {stage} exited at once"
                    f" (exit {child.returncode}):\n{tail}",
                    hint=f"see {log}",
                )
            soak = store.open_soak(stage)
            if soak is not None and soak.pid == child.pid and (soak.heartbeat or 0) >= spawned - 1:
                return Started(child.pid, log, soak.id, time.time() - spawned)
            time.sleep(0.1)
        processes.terminate(child.pid)
        raise SoakgateError(
            f"the soak monitor of {stage} (pid {child.pid}) did not report within {wait:.0f}s",
            hint=f"see {log}",
        )


@dataclass(frozen=True)
class Stopped:
    pid: int | None
    soak_id: int | None
    ended: bool
    seconds: float


def live_monitor(soak: Soak | None, data: dict[str, Any], processes: Processes) -> int | None:
    """The pid of the stage's live monitor, or None — the one answer to "is it alive?": the
    soak's writer (its row in soakgate.db) while that process lives, else the process the
    monitor file names while it is still a monitor (one that let its soak go)."""
    if soak is not None and soak.pid is not None and processes.alive(soak.pid):
        return soak.pid
    pid = data.get("pid")
    if isinstance(pid, int) and processes.alive(pid) and processes.is_monitor(pid):
        return pid
    return None


def stop_monitor(
    state: Path,
    stage: str,
    *,
    end: bool = False,
    wait: float = 30.0,
    processes: Processes = PROCESSES,
) -> Stopped:
    """SIGTERM the stage's monitor and wait for it to commit and go; ``end`` also ends the
    soak (a later start begins a new one)."""
    check_stage(stage)
    began = time.time()
    with SoakStore.open(state) as store:
        soak = store.open_soak(stage)
        pid = live_monitor(soak, read_monitor_file(state, stage), processes)
        if pid is None and not (end and soak is not None):
            raise SoakgateError(
                f"no soak monitor runs for {stage}", hint=f"soakgate soak status {stage}"
            )
        if pid is not None:
            processes.terminate(pid)
            deadline = time.time() + wait
            while processes.alive(pid):
                if time.time() > deadline:
                    raise SoakgateError(
                        f"the soak monitor of {stage} (pid {pid}) did not stop within {wait:.0f}s",
                        hint=f"kill it: kill -KILL {pid} (committed samples are kept)",
                    )
                time.sleep(0.1)
        ended = False
        if end:
            soak = store.open_soak(stage)
            if soak is not None:
                recorder = store.begin(
                    stage, soak.release, soak.baseline, time_scale=soak.time_scale
                )
                recorder.finish(because="stopped")
                ended = True
                previous = read_monitor_file(state, stage)
                if previous:
                    previous.update(status="stopped", stopped_because="soak ended by soak stop")
                    write_monitor_file(state, stage, previous)
        return Stopped(pid, soak.id if soak else None, ended, time.time() - began)
