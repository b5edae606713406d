"""Use case: read soaks — the stage's soak judged now with its monitor's state, the HTML
report, and the verdict JSON the production gate reads for a release.

    soak_status(state, "staging", config.slo).verdict.state    # "healthy" | "breached" | …
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soakgate.adapters.soak.monitor_file import (
    read_monitor_file,
)
from soakgate.adapters.soak.process import PROCESSES
from soakgate.adapters.state.releases import StateDB
from soakgate.adapters.state.soaks import Soak, SoakStore
from soakgate.app.ports import Processes
from soakgate.app.soak.control import live_monitor
from soakgate.core.config import check_stage
from soakgate.core.soak import (
    BREACHED,
    SloConfig,
    Verdict,
    judge_soak,
)
from soakgate.errors import SoakgateError

# --- reading soaks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorInfo:
    pid: int | None
    alive: bool
    policy: str | None
    status: str | None  # "running", "stopped", "crashed" (as the monitor last wrote it)
    stopped_because: str | None
    heartbeat_age: float | None
    log: str | None
    outages: list[dict[str, Any]]
    traffic: dict[str, Any]


@dataclass(frozen=True)
class SoakStatus:
    stage: str
    soak: Soak
    verdict: Verdict
    monitor: MonitorInfo
    slo: SloConfig

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "soak": dataclasses.asdict(self.soak),
            "monitor": dataclasses.asdict(self.monitor),
            "verdict": self.verdict.as_dict(),
        }


def judge_stored(store: SoakStore, soak: Soak, slo: SloConfig, now: float) -> Verdict:
    """Judge a stored soak at ``now`` (an ended soak at its end); a soak ended by a policy
    rollback stays breached."""
    at = soak.ended_at if soak.ended_at is not None else now
    verdict = judge_soak(
        store.probe_samples(soak.id),
        store.engine_samples(soak.id),
        store.baseline_latencies_ms(soak),
        slo,
        now=at,
        started_at=soak.started_at,
    )
    reason = soak.end_reason or ""
    ended_by_policy = soak.state == BREACHED and reason.startswith(("rolled", "breached"))
    if verdict.state != BREACHED and ended_by_policy:
        verdict = dataclasses.replace(verdict, state=BREACHED, reasons=[reason, *verdict.reasons])
    return verdict


def soak_status(
    state: Path,
    stage: str,
    slo: SloConfig,
    *,
    clock: Callable[[], float] = time.time,
    processes: Processes = PROCESSES,
) -> SoakStatus:
    """The stage's open soak (else its newest), judged now, and its monitor."""
    check_stage(stage)
    with SoakStore.open(state) as store:
        soak = store.open_soak(stage)
        if soak is None:
            soaks = store.soaks(stage)
            if not soaks:
                raise SoakgateError(
                    f"no soak of {stage} yet", hint=f"start one: soakgate soak start {stage}"
                )
            soak = soaks[0]
        now = judge_time(store, soak, clock())
        verdict = judge_stored(store, soak, slo, now)
    data = read_monitor_file(state, stage)
    same = data.get("soak_id") == soak.id
    live = live_monitor(soak, data if same else {}, processes)
    # none alive: the last one known, the soak's writer, else the file's of this soak
    pid = (
        live
        if live is not None
        else soak.pid
        if soak.pid is not None
        else data.get("pid")
        if same
        else None
    )
    alive = live is not None
    monitor = MonitorInfo(
        pid=pid if isinstance(pid, int) else None,
        alive=alive,
        policy=data.get("policy") if same else None,
        status=(data.get("status") if same else None),
        stopped_because=data.get("stopped_because") if same else None,
        heartbeat_age=None if soak.heartbeat is None else max(0.0, now - soak.heartbeat),
        log=data.get("log") if same else None,
        outages=list(data.get("engine_outages") or []) if same else [],
        traffic=dict(data.get("traffic") or {}) if same else {},
    )
    return SoakStatus(stage, soak, verdict, monitor, slo)


def write_report(
    state: Path, stage: str, slo: SloConfig, path: Path, *, clock: Callable[[], float] = time.time
) -> Path:
    """Render the stage's soak (open, else newest) as one self-contained HTML file."""
    from soakgate.adapters.soak.report import load_series, render_report

    status = soak_status(state, stage, slo, clock=clock)
    with SoakStore.open(state) as store:
        series = load_series(store, status.soak.id)
    return render_report(
        status.verdict,
        series,
        path,
        slo=slo,
        stage=stage,
        release=status.soak.release,
        baseline=status.soak.baseline,
    )


def release_soak(
    state: Path,
    release: str,
    slo: SloConfig,
    *,
    clock: Callable[[], float] = time.time,
    stage: str | None = None,
) -> tuple[str, str, Verdict, float]:
    """(digest, stage, verdict now, clock scale) of the newest soak of ``release`` (a digest,
    12+ digit prefix or tag), staging's first, or only ``stage``'s; SoakgateError when it was
    never soaked (there). The scale is 1 unless the monitor ran on an accelerated clock."""
    with StateDB.open(state) as db:
        found = db.find_release(release)
    with SoakStore.open(state) as store:
        digest = found.digest if found is not None else release
        mine = [s for s in store.soaks() if s.release == digest and stage in (None, s.stage)]
        if not mine:
            raise SoakgateError(
                f"release {release} has not been soaked" + (f" in {stage}" if stage else ""),
                hint="deploy it to staging and run: soakgate soak start staging",
            )
        mine.sort(key=lambda s: (s.stage != "staging", -s.id))
        newest = mine[0]
        now = judge_time(store, newest, clock())
        return digest, newest.stage, judge_stored(store, newest, slo, now), newest.time_scale


def release_verdict(
    state: Path, release: str, slo: SloConfig, *, clock: Callable[[], float] = time.time
) -> dict[str, Any]:
    """The verdict JSON of ``soakgate soak verdict``: ``{"release": digest, **verdict}``."""
    digest, stage, verdict, scale = release_soak(state, release, slo, clock=clock)
    return {"release": digest, "stage": stage, **verdict.as_dict(), "time_scale": scale}


def judge_time(store: SoakStore, soak: Soak, now: float) -> float:
    """When to judge ``soak``: ``now``, but an accelerated soak at its last probe (its clock
    is not the wall clock, so the wall clock's now would be a gap or lie in its past)."""
    if soak.time_scale == 1:
        return now
    rows = store.probe_rows(soak.id)
    return rows[-1][0] / 1000.0 if rows else soak.started_at
