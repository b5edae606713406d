"""Use case: keep an incident of a rollback — the evidence about the release rolled away from,
for the roadmap's step "investigate issues" — right after the switch, while its container is
still there (the emergency flip leaves it warm, a cold rollback deploys into the other slot).

    incident = keep_incident(project.state, project.config, stacks, engine, plan, summary)
    # "20261205T004512Z-dev", or None when nothing could be kept (a warning says why)

What is kept: the bad container's last 200 log lines and its ``docker inspect`` (secret values
redacted), the ledger entries that let the release into the stage (gate decisions,
promotions, overrides, refusals, deploys) and its soak verdict, if it was soaked. It runs
after the traffic switch and outside the measured time to restore, bounded in time
(``seconds``): whatever is not gathered by then, or fails, is named in the incident's
``problems`` and in a warning; an incident never fails or slows a rollback beyond the bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from soakgate.adapters.state.incidents import IncidentStore
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.app.ports import Stacks, StageEngine
from soakgate.core.config import ProjectConfig
from soakgate.core.incident import Incident, gate_record, redact_inspect
from soakgate.core.ledger import format_time
from soakgate.core.rollback import RollbackPlan
from soakgate.errors import SoakgateError

Warn = Callable[[str], None]
LOG_LINES = 200
SECONDS = 10.0  # the most an incident adds to a rollback (after the switch)


@runtime_checkable
class Containers(Protocol):
    """Read-only evidence of the engine's containers."""

    def inspect_container(self, name: str) -> dict[str, Any] | None: ...

    def log_tail(self, name: str, lines: int) -> list[str]: ...


def containers_of(engine: StageEngine) -> Containers | None:
    """Where ``engine``'s containers can be read: the engine itself when it offers that (the
    fakes), the local Docker engine for a stage engine on it, else None."""
    if isinstance(engine, Containers):
        return engine
    from soakgate.adapters.stage.engine import StageEngine as DockerStageEngine

    if isinstance(engine, DockerStageEngine):
        from soakgate.adapters.docker.container_evidence import EngineContainers

        return EngineContainers(engine.light.host)
    return None


def _secret_names(stacks: Stacks, stage: str) -> set[str]:
    """The names of the stage's ``soakgate:secretEnv`` (mounted as files, but a value could
    still be set as a variable too)."""
    secret = stacks.config(stage).get("secretEnv")
    return {str(name) for name in secret} if isinstance(secret, dict) else set()


def _container_summary(name: str, slot: str, attrs: dict[str, Any]) -> dict[str, Any]:
    state = attrs.get("State") or {}
    return {
        "name": name,
        "slot": slot,
        "id": attrs.get("Id"),
        "image": attrs.get("Image"),
        "status": state.get("Status"),
        "restarts": attrs.get("RestartCount"),
        "exit_code": state.get("ExitCode"),
        "oom_killed": state.get("OOMKilled"),
        "started_at": state.get("StartedAt"),
        "finished_at": state.get("FinishedAt"),
    }


class _Gathering:
    """The parts of one incident, filled in by a worker thread; what is not done by the
    deadline is named as not collected."""

    PARTS = ("container", "gates", "soak")

    def __init__(
        self,
        incident: Incident,
        state: Path,
        config: ProjectConfig,
        stacks: Stacks,
        engine: StageEngine,
        containers: Containers | None,
    ) -> None:
        self.incident = incident
        self.state, self.config, self.stacks, self.engine = state, config, stacks, engine
        self.containers = containers
        self.done: set[str] = set()
        self.problems: list[str] = []

    def run(self) -> None:
        for part, gather in (
            ("container", self._container),
            ("gates", self._gates),
            ("soak", self._soak),
        ):
            try:
                gather()
            except Exception as exc:  # any failure is a partial incident, never a failed rollback
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                self.problems.append(f"{part}: {str(message).splitlines()[0]}")
            self.done.add(part)

    def _container(self) -> None:
        incident = self.incident
        if self.containers is None:
            raise SoakgateError("this stage engine offers no container evidence")
        if incident.release is None:
            raise SoakgateError("the release rolled away from is not known")
        table = self.engine.read_slots()
        slots = [s for s in (table.blue, table.green) if s.digest == incident.release]
        slots.sort(key=lambda s: s.name == table.active)  # the one traffic left first
        if not slots:
            raise SoakgateError("no slot runs the bad release any more: its container is gone")
        slot = slots[0].name
        name = self.engine.names.app(slot)
        attrs = self.containers.inspect_container(name)
        if attrs is None:
            raise SoakgateError(f"container {name} is gone")
        try:
            secrets = _secret_names(self.stacks, incident.stage)
        except Exception as exc:  # an unreadable stack file: redact by name alone
            secrets = set()
            self.problems.append(f"secret names: {getattr(exc, 'message', exc)}")
        incident.container = _container_summary(name, slot, attrs)
        incident.inspect = redact_inspect(attrs, secrets)
        incident.logs = self.containers.log_tail(name, LOG_LINES)

    def _gates(self) -> None:
        incident = self.incident
        if incident.release is None:
            return
        with LedgerStore.open(self.state) as ledger:
            events = ledger.events(incident.stage)
        incident.gates = [
            asdict(event) for event in gate_record(events, incident.stage, incident.release)
        ]

    def _soak(self) -> None:
        from soakgate.app.soak.status import release_soak

        incident = self.incident
        if incident.release is None:
            return
        try:
            _, stage, verdict, _ = release_soak(self.state, incident.release, self.config.slo)
        except SoakgateError as never:
            if "has not been soaked" in never.message:
                return
            raise
        incident.soak = {"stage": stage, **verdict.as_dict()}


def gather_incident(
    state: Path,
    config: ProjectConfig,
    stacks: Stacks,
    engine: StageEngine,
    plan: RollbackPlan,
    summary: dict[str, Any],
    *,
    containers: Containers | None,
    seconds: float = SECONDS,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Incident:
    """The incident of the rollback ``plan`` (``summary``: its figures), gathered for at most
    ``seconds``; what was not gathered is in its ``problems``."""
    when = now()
    store = IncidentStore(state)
    incident = Incident(
        id=store.new_id(plan.stage, when),
        created=format_time(when),
        stage=plan.stage,
        release=plan.from_release,
        restored=plan.to_release,
        rollback={"path": plan.path, "reason": plan.reason, **summary},
    )
    gathering = _Gathering(incident, state, config, stacks, engine, containers)
    worker = threading.Thread(target=gathering.run, name="incident", daemon=True)
    worker.start()
    worker.join(seconds)
    problems = list(gathering.problems)
    late = [part for part in _Gathering.PARTS if part not in gathering.done]
    if late:
        problems.append(f"{', '.join(late)}: not collected within {seconds:g} s")
    # a copy: a worker still running past the deadline changes nothing that is kept
    return replace(
        incident,
        container=dict(incident.container),
        logs=list(incident.logs),
        gates=list(incident.gates),
        problems=problems,
    )


def keep_incident(
    state: Path,
    config: ProjectConfig,
    stacks: Stacks,
    engine: StageEngine,
    plan: RollbackPlan,
    summary: dict[str, Any],
    *,
    warn: Warn = lambda message: None,
    containers: Containers | None = None,
    seconds: float | None = None,
) -> str | None:
    """Gather and store the incident of a rollback whose switch is done (for at most
    ``seconds``, default :data:`SECONDS`); its id, or None when none could be stored. Never
    raises: each problem is a warning."""
    try:
        reader = containers if containers is not None else containers_of(engine)
        bound = SECONDS if seconds is None else seconds
        incident = gather_incident(
            state, config, stacks, engine, plan, summary, containers=reader, seconds=bound
        )
        IncidentStore(state).save(incident)
    except Exception as exc:  # the rollback has switched already: it must not fail here
        warn(f"no incident kept of the {plan.stage} rollback: {getattr(exc, 'message', exc)}")
        return None
    for problem in incident.problems:
        warn(f"incident {incident.id} is partial: {problem}")
    return incident.id
