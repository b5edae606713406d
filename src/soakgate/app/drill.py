"""Use case: a rollback drill. On a stage running a good release, deploy a deliberately slow
copy of it (its own command, throttled to a share of one CPU as ``[service.drill]`` says: it
passes the health gate, then serves every request late), roll back as an operator would in an
incident (the emergency path), and record the measured RTO.

    result = drill(project, "staging", deploy_release=..., started=time.time())
    result.rollback.seconds_to_restored      # e.g. 0.7, against a 4 h budget
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from soakgate.adapters.docker import throttle_launcher
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.ports import Stages, World, real_world
from soakgate.app.promote import running_release
from soakgate.app.rollback import RollbackRequest, RollbackResult, rollback
from soakgate.core.admission import DRILL, GATE, decision_data, incoming
from soakgate.core.config import STAGES, DrillConfig, ProjectConfig, check_stage
from soakgate.core.ledger import Event
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.core.stats import percentile
from soakgate.core.throttle import throttle_lines


@dataclass(frozen=True)
class DrillResult:
    stage: str
    good: Release
    drill_release: Release
    rollback: RollbackResult


def make_drill_release(stages: Stages, good: Release, degrade: DrillConfig) -> Release:
    """A copy of ``good`` whose command gets ``degrade.cpus`` of one CPU (built locally)."""
    tag = f"{good.image.rsplit(':', 1)[0]}:drill-{good.short}"
    entrypoint, cmd = stages.image_command(good.digest)
    lines = throttle_lines(throttle_launcher.source(), entrypoint, cmd, degrade.cpus)
    digest, size = stages.build_variant(good.digest, lines, tag)
    return Release(
        digest, good.python, f"{good.app_version}-drill", good.revision, good.created, size, tag
    )


def drill(
    project: Project,
    stage: str,
    *,
    deploy_release: Callable[[Release], None],
    verify: Callable[[str], tuple[bool, list[str]]] | None = None,
    warn: Callable[[str], None] = lambda message: None,
    world: World | None = None,
) -> DrillResult:
    """Deploy a slow copy of the running release, roll it back, record the drill."""
    check_stage(stage)
    world = world or real_world(project)
    with StateDB.open(project.state) as db:
        good = running_release(world.stages, stage, db)
        bad = make_drill_release(world.stages, good, project.config.service.drill)
        db.record_release(bad)
    admit_drill_copy(project, stage, good, bad)
    deploy_release(bad)
    started = time.time()
    result = rollback(
        project,
        RollbackRequest(stage, to=good.digest, emergency=True, reason="rollback drill"),
        started=started,
        verify=verify,
        warn=warn,
        world=world,
    )
    with LedgerStore.open(project.state) as ledger:
        ledger.append(
            "drill",
            stage=stage,
            from_release=bad.digest,
            to_release=good.digest,
            data={
                **result.as_dict(),
                "drill_degrade": project.config.service.drill.degrade,
                "drill_cpus": project.config.service.drill.cpus,
            },
        )
    return DrillResult(stage, good, bad, result)


def admit_drill_copy(project: Project, stage: str, good: Release, copy: Release) -> None:
    """A gated stage takes the drill's copy of its running release as a drill, on the ledger:
    admitted until the drill's own event closes it (core.admission), never as a release."""
    gate = incoming(stage)
    if gate is None:
        return
    with LedgerStore.open(project.state) as ledger:
        ledger.append(
            GATE,
            stage=stage,
            to_release=copy.digest,
            data=decision_data(gate.transition, [], DRILL, copy_of=good.digest),
        )


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
        budget = config.stages[stage].rto_seconds
        stats.append(
            DrillStats(
                stage,
                len(seconds),
                percentile(seconds, 50),
                percentile(seconds, 90),
                seconds[-1],
                budget,
                seconds[-1] <= budget,
            )
        )
    return stats
