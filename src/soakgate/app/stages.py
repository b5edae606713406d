"""Use case: what each stage really runs — read from the engine and the proxy, not from the
Pulumi state, so it is true also after an emergency flip or a killed command."""

from __future__ import annotations

from dataclasses import dataclass

from soakgate.adapters.stage.engine import StageEngine
from soakgate.adapters.stage.host_io import http_answer
from soakgate.adapters.stage.hosts_engine import HostsEngine, combined, describe, shape
from soakgate.adapters.stage.stack_file import stack_config
from soakgate.adapters.stage.stages import EngineStages
from soakgate.adapters.state.releases import StateDB
from soakgate.core.project import Project
from soakgate.core.proxy_conf import answered_address
from soakgate.core.slots import SlotTable
from soakgate.errors import SoakgateError


@dataclass(frozen=True)
class SlotView:
    name: str
    container: str | None
    digest: str | None
    python: str
    running: bool


@dataclass(frozen=True)
class StageView:
    stage: str
    namespace: str
    url: str
    port: int
    active: str | None
    slots: tuple[SlotView, ...]
    recorded_release: str | None  # soakgate:release in Pulumi.<stage>.yaml
    health: str  # "healthy", "unhealthy (503)", "down", "not deployed"

    @property
    def active_view(self) -> SlotView | None:
        return next((slot for slot in self.slots if slot.name == self.active), None)

    @property
    def warm_view(self) -> SlotView | None:
        return next((s for s in self.slots if s.name != self.active and s.container), None)

    @property
    def deployed(self) -> bool:
        return any(slot.container for slot in self.slots)


def stage_engine(project: Project, stage: str) -> StageEngine | HostsEngine:
    return EngineStages(project).engine(stage)


def probe_health(port: int, path: str, active: str | None) -> str:
    """Health of the stage as a user sees it: one GET through its proxy."""
    answer = http_answer("127.0.0.1", port, path, timeout=3)
    if answer is None:
        return "down"
    if answer.status != 200:
        return f"unhealthy ({answer.status})"
    if active and answer.slot != active:
        return f"DRIFT: the proxy serves {answer.slot or 'no slot'}, the record says {active}"
    return "healthy"


def routing_drift(engine: StageEngine, path: str, active: str | None) -> str:
    """Empty when the answer through the proxy came from the container that holds the active
    slot now; else what is wrong (the release that answers, not a marker, is what counts)."""
    answer = http_answer("127.0.0.1", engine.proxy_port, path, timeout=3)
    if answer is None or active is None:
        return ""
    if answer.slot != active:
        return f"DRIFT: the proxy serves {answer.slot or 'no slot'}, the record says {active}"
    answered = answered_address(answer.upstream or "")
    try:
        expected = engine.address(engine.names.app(active))
    except SoakgateError:
        return f"DRIFT: the {active} container is gone"
    if answered and answered != expected:
        return f"DRIFT: answered by {answered}, but the {active} slot is at {expected}"
    return ""


def view_stage(project: Project, stage: str, db: StateDB) -> StageView:
    """The truth about one stage, read from its engine (or every host of it) and proxy."""
    config = stack_config(project.root, stage)
    engine = stage_engine(project, stage)
    if isinstance(engine, HostsEngine):
        return view_hosts_stage(project, stage, db, engine, config.get("release"))
    table = engine.read_slots()
    slots = slot_views(table, db)
    url = f"http://127.0.0.1:{engine.proxy_port}"
    deployed = any(slot.container for slot in slots)
    health = "not deployed"
    if deployed:
        health = probe_health(engine.proxy_port, project.config.service.health_path, table.active)
        if health == "healthy":
            health = (
                routing_drift(engine, project.config.service.health_path, table.active) or health
            )
    recorded = config.get("release")
    return StageView(
        stage,
        project.config.namespace,
        url,
        engine.proxy_port,
        table.active,
        slots,
        recorded,
        health,
    )


def slot_views(table: SlotTable, db: StateDB) -> tuple[SlotView, ...]:
    views = []
    for name in ("blue", "green"):
        slot = table.slot(name)
        release = db.find_release(slot.digest) if slot.digest else None
        python = release.python if release else ""
        views.append(SlotView(name, slot.container, slot.digest, python, slot.running))
    return tuple(views)


def view_hosts_stage(
    project: Project, stage: str, db: StateDB, engine: HostsEngine, recorded: str | None
) -> StageView:
    """A stage on SSH hosts: the table they all agree on, and health through each host's
    proxy; a host that does not answer, or one that serves something else, is named (SPLIT)."""
    path = project.config.service.health_path
    readouts = engine.readouts()
    read = [r for r in readouts if r.table is not None]
    url = "ssh: " + ", ".join(engine.engines)
    first = read[0].table if read else None
    agreed = first is not None and all(
        r.table is not None and shape(r.table) == shape(first) for r in read
    )
    problems = [f"{r.host} unreachable ({r.problem})" for r in readouts if r.table is None]
    if agreed:
        first = combined([r.table for r in read if r.table is not None])
    if first is None or not agreed:
        parts = [f"{r.host} serves {describe(r.table)}" for r in read]
        health = "SPLIT: " + "; ".join(parts + problems) if read else "; ".join(problems)
        slots = slot_views(first, db) if first is not None else ()
        return StageView(
            stage, project.config.namespace, url, engine.proxy_port, None, slots, recorded, health
        )
    deployed = any(not slot.empty for slot in (first.blue, first.green))
    for readout in read:
        if not deployed:
            break
        io = engine.engines[readout.host].io
        answer = io.proxy_get(engine.proxy_port, path, timeout=3)
        if answer is None:
            problems.append(f"{readout.host} down")
        elif answer.status != 200:
            problems.append(f"{readout.host} unhealthy ({answer.status})")
        elif first.active and answer.slot != first.active:
            problems.append(f"{readout.host} DRIFT: its proxy serves {answer.slot or 'no slot'}")
    if not deployed:
        health = "not deployed"
    elif problems:
        health = ("SPLIT: " if len(problems) < len(readouts) else "") + "; ".join(problems)
    else:
        health = f"healthy on {len(read)} hosts"
    return StageView(
        stage,
        project.config.namespace,
        url,
        engine.proxy_port,
        first.active,
        slot_views(first, db),
        recorded,
        health,
    )
