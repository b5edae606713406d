"""Use case: a rollback drill. On a stage running a good release, deploy a deliberately slow
copy of it (it passes the health gate, then serves every work request late), roll back as an
operator would in an incident (the emergency path), and record the measured RTO.

    result = drill(project, config, state, "staging", deploy_release=..., started=time.time())
    result.rollback.seconds_to_restored      # e.g. 0.7, against a 4 h budget
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.promote import running_release
from soakgate.app.rollback import RollbackRequest, RollbackResult, rollback
from soakgate.core.config import STAGES, ProjectConfig
from soakgate.core.ledger import Event
from soakgate.core.release import Release
from soakgate.errors import ConfigError

DRILL_DELAY_MS = 400


@dataclass(frozen=True)
class DrillResult:
    stage: str
    good: Release
    drill_release: Release
    rollback: RollbackResult


def make_drill_release(good: Release, delay_ms: int = DRILL_DELAY_MS) -> Release:
    """A copy of ``good`` that answers every work request ``delay_ms`` late (built locally)."""
    from soakgate.adapters.docker import engine as docker_engine

    tag = f"{good.image.rsplit(':', 1)[0]}:drill-{good.short}"
    image = docker_engine.build_from(
        good.digest, [f"ENV SERVICE_DELAY_MS={delay_ms}", 'LABEL soakgate.drill="true"'], tag
    )
    return Release(
        str(image.id), good.python, f"{good.app_version}-drill", good.revision, good.created,
        int(image.attrs.get("Size", 0)), tag,
    )  # fmt: skip


def drill(
    project: Path,
    config: ProjectConfig,
    state: Path,
    stage: str,
    *,
    deploy_release: Callable[[Release], None],
    verify: Callable[[str], tuple[bool, list[str]]] | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> DrillResult:
    """Deploy a slow copy of the running release, roll it back, record the drill."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}", hint=f"use one of: {', '.join(STAGES)}")
    db = StateDB.open(state)
    try:
        good = running_release(project, config, state, stage, db)
        bad = make_drill_release(good)
        db.record_release(bad)
    finally:
        db.close()
    deploy_release(bad)
    started = time.time()
    result = rollback(
        project, config, state,
        RollbackRequest(stage, to=good.digest, emergency=True, reason="rollback drill"),
        started=started, verify=verify, warn=warn,
    )  # fmt: skip
    ledger = LedgerStore.open(state)
    try:
        ledger.append("drill", stage=stage, from_release=bad.digest, to_release=good.digest,
                      data={**result.as_dict(), "drill_delay_ms": DRILL_DELAY_MS})  # fmt: skip
    finally:
        ledger.close()
    return DrillResult(stage, good, bad, result)


@dataclass(frozen=True)
class DrillStats:
    stage: str
    drills: int
    p50: float
    p90: float
    worst: float
    budget_seconds: int
    within: bool


def drill_stats(events: list[Event], config: ProjectConfig) -> list[DrillStats]:
    """RTO percentiles of the recorded drills, per stage, against the stage's budget."""
    stats = []
    for stage in STAGES:
        seconds = sorted(
            float(event.data["seconds_to_restored"])
            for event in events
            if event.kind == "drill"
            and event.stage == stage
            and "seconds_to_restored" in event.data
        )
        if not seconds:
            continue
        deciles: list[Any] = (
            statistics.quantiles(seconds, n=10) if len(seconds) > 1 else [seconds[0]] * 9
        )
        budget = config.stages[stage].rto_seconds
        stats.append(
            DrillStats(
                stage,
                len(seconds),
                statistics.median(seconds),
                deciles[8],
                seconds[-1],
                budget,
                seconds[-1] <= budget,
            )
        )
    return stats
