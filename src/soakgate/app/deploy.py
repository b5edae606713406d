"""Use case: deploy a release to a stage through its Pulumi stack (Automation API), under the
stage lock, after checks that refuse bad input before anything changes.

A quarantined release (rolled back from, or its soak breached) is refused unless the request
says ``allow_bad`` with a reason, which goes on the ledger. A stage with an incoming gate
(staging, production) takes only a release its gates admit (app.admission): promoted, a
rollback target, or passing its gates now, or bypassing them with a reason on the ledger.
Before ``up``, what a killed command left is recovered: Pulumi's stack lock of a process that
is gone, and the pending operations of its update; ``up`` then refreshes, so it decides on
what really runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.admission import require_admission
from soakgate.app.ports import Stages, World, real_world
from soakgate.core.config import check_stage
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.core.rollback import bad_marks
from soakgate.core.rollout import Rollout
from soakgate.errors import BadRelease, ConfigError, DeployFailed


@dataclass(frozen=True)
class DeployRequest:
    stage: str
    release: str | None = None  # digest, digest prefix or image tag
    python: str | None = None  # newest release of this Python series
    allow_bad: bool = False  # deploy a quarantined release anyway (needs a reason)
    reason: str = ""
    lock_wait: float | None = None  # seconds to wait for the stage lock; None: refuse at once
    # gates passed by a reason when the release has no passing gate decision for the stage
    # ({"soak": "hotfix"}, or {"all": …}); kept on the ledger as a bypass
    overrides: dict[str, str] = field(default_factory=dict)
    via: str = "deploy"  # what asks: deploy, rollback, drill (named on the ledger)
    rollout: Rollout | None = None  # on SSH hosts: switch in groups (--limit, --wait)


def resolve_release(db: StateDB, stages: Stages, request: DeployRequest) -> Release:
    """The release a request names, present on this Docker host."""
    if bool(request.release) == bool(request.python):
        raise ConfigError("name exactly one of --release DIGEST or --python VERSION")
    if request.python:
        found = [r for r in db.releases() if r.python_series == request.python]
        if not found:
            raise ConfigError(
                f"no release for Python {request.python}", hint="build one first: soakgate build"
            )
        release = found[0]
    else:
        assert request.release is not None
        release = db.require_release(request.release)
    if not stages.image_present(release.digest):
        raise ConfigError(
            f"release {release.short} is not present on this Docker host",
            hint="rebuild it (soakgate build) or load it (docker load)",
        )
    return release


def check_port_free(stages: Stages, stage: str) -> None:
    """Refuse a port some other process holds (our own proxy may hold it)."""
    port = stages.port_taken(stage)
    if port is not None:
        raise ConfigError(
            f"port {port} of stage {stage} is already taken on 127.0.0.1",
            hint=f"free it or pick another: pulumi config set soakgate:port N --stack {stage}",
        )


def deploy(
    project: Project,
    request: DeployRequest,
    *,
    on_event: Callable[[Any], None] | None = None,
    warn: Callable[[str], None] = lambda message: None,
    world: World | None = None,
) -> tuple[Release, dict[str, Any]]:
    """Deploy the requested release to the stage; return it with the stack's outputs."""
    check_stage(request.stage)
    stages, stacks = world or real_world(project)
    if request.rollout is not None and not stacks.config(request.stage).get("hosts"):
        raise ConfigError(
            f"--limit/--wait: {request.stage} runs on this machine's engine, not on SSH hosts",
            hint="drop --limit/--wait, or name the stage's hosts:"
            f" soakgate:hosts in Pulumi.{request.stage}.yaml",
        )
    with StateDB.open(project.state) as db:
        release = resolve_release(db, stages, request)
    check_port_free(stages, request.stage)
    if request.allow_bad and not request.reason.strip():
        raise ConfigError(
            "--allow-bad needs --reason TEXT", hint="the reason is kept on the ledger"
        )
    asked = time.time()
    with stages.lock(request.stage, f"soakgate deploy {request.stage}", request.lock_wait):
        started = time.time()  # "seconds" is the deploy itself, under the lock; not the wait
        check_not_bad(project.state, request, release)
        require_admission(
            project,
            request.stage,
            release,
            overrides=request.overrides,
            via=request.via,
            stages=stages,
        )
        previous = stacks.config(request.stage).get("release")
        try:
            outputs = stacks.up(request.stage, release, on_event, warn, rollout=request.rollout)
        except DeployFailed as failed:
            record(
                project.state,
                "refusal",
                request.stage,
                previous,
                release.digest,
                {"action": "deploy", "error": failed.message.splitlines()[0]},
            )
            raise
        record(
            project.state,
            "deploy",
            request.stage,
            previous,
            release.digest,
            {
                "seconds": round(time.time() - started, 2),
                "python": release.python,
                "waited_seconds": round(started - asked, 2),
            },
        )
    return release, outputs


def check_not_bad(state: Path, request: DeployRequest, release: Release) -> None:
    """Refuse a quarantined release, unless allowed (then the override is on the ledger)."""
    with LedgerStore.open(state) as ledger:
        mark = bad_marks(ledger.events()).get(release.digest)
    if mark is None:
        return
    if not request.allow_bad:
        raise BadRelease(
            f"release {release.short} is quarantined: {mark.reason} ({mark.actor}, {mark.time})",
            hint="deploy a good release, or give --allow-bad --reason TEXT (kept on the ledger)",
        )
    record(
        state,
        "override",
        request.stage,
        None,
        release.digest,
        {"gate": "quarantine", "reason": request.reason, "was": mark.reason},
    )


def record(
    state: Path,
    kind: str,
    stage: str,
    from_release: str | None,
    to_release: str | None,
    data: dict[str, Any],
) -> None:
    """Append one event to the ledger."""
    with LedgerStore.open(state) as ledger:
        ledger.append(
            kind, stage=stage, from_release=from_release, to_release=to_release, data=data
        )
