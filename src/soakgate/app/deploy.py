"""Use case: deploy a release to a stage through its Pulumi stack (Automation API), under the
stage lock, after checks that refuse bad input before anything changes.

A quarantined release (rolled back from, or its soak breached) is refused unless the request
says ``allow_bad`` with a reason, which goes on the ledger. Before ``up``, what a killed
command left is recovered: Pulumi's stack lock of a process that is gone, and the pending
operations of its update; ``up`` then refreshes, so it decides on what really runs."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
from pulumi import automation as auto

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.stage.lock import stage_lock
from soakgate.adapters.stage.pulumi_locks import clear_pending, recover_stack_lock
from soakgate.adapters.stage.pulumi_stacks import error_summary, select_stack
from soakgate.adapters.stage.stack_file import stack_config
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.stages import stage_port
from soakgate.core.config import STAGES, ProjectConfig
from soakgate.core.names import StageNames
from soakgate.core.release import Release
from soakgate.core.rollback import bad_marks
from soakgate.errors import BadRelease, ConfigError, DeployFailed

STACK_KEYS = ("release", "python")


@dataclass(frozen=True)
class DeployRequest:
    stage: str
    release: str | None = None  # digest, digest prefix or image tag
    python: str | None = None  # newest release of this Python series
    allow_bad: bool = False  # deploy a quarantined release anyway (needs a reason)
    reason: str = ""
    lock_wait: float | None = None  # seconds to wait for the stage lock; None: refuse at once


def check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}", hint=f"use one of: {', '.join(STAGES)}")


def resolve_release(db: StateDB, request: DeployRequest) -> Release:
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
    try:
        docker_engine.client().images.get(release.digest)
    except docker.errors.ImageNotFound:
        raise ConfigError(
            f"release {release.short} is not present on this Docker host",
            hint="rebuild it (soakgate build) or load it (docker load)",
        ) from None
    return release


def check_port_free(names: StageNames, port: int) -> None:
    """Refuse a port some other process holds (our own proxy may hold it)."""
    stage = names.stage
    proxy = docker_engine.find_container(names.proxy)
    if proxy is not None and proxy.status == "running":
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(
                f"port {port} of stage {stage} is already taken on 127.0.0.1",
                hint=f"free it or pick another: pulumi config set soakgate:port N --stack {stage}",
            ) from None


def up_with_release(
    project: Path,
    stage: str,
    release: Release,
    on_event: Callable[[Any], None] | None,
    warn: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Write the release into the stage's stack config and run ``up`` (with a refresh).

    Call it under the stage lock. On failure the previous config values are put back, so the
    stack file never claims a release that did not deploy.
    """
    recover_stack_lock(stage, warn=warn)
    try:
        stack = select_stack(project, stage)
        clear_pending(stack, warn=warn)
        before = {key: stack.get_all_config().get(f"soakgate:{key}") for key in STACK_KEYS}
        stack.set_all_config(
            {
                "soakgate:stage": auto.ConfigValue(stage),
                "soakgate:release": auto.ConfigValue(release.digest),
                "soakgate:python": auto.ConfigValue(release.python_series),
            }
        )
    except auto.errors.CommandError as error:
        raise DeployFailed(
            f"the Pulumi stack {stage} cannot be read; nothing was deployed:"
            f" {error_summary(error)}",
            hint=f"fix Pulumi.{stage}.yaml (pulumi config --stack {stage} shows the problem)",
        ) from None
    try:
        result = stack.up(on_event=on_event, color="never", refresh=True)
    except auto.errors.CommandError as error:
        for key, value in before.items():
            if value is None:
                stack.remove_config(f"soakgate:{key}")
            else:
                stack.set_config(f"soakgate:{key}", value)
        raise DeployFailed(
            f"deploy of {release.short} to {stage} failed; traffic stays where it was:\n"
            f"{error_summary(error)}",
            hint=f"see soakgate status; the stack config of {stage} is back as it was",
        ) from None
    return {key: output.value for key, output in result.outputs.items()}


def deploy(
    project: Path,
    config: ProjectConfig,
    state: Path,
    request: DeployRequest,
    *,
    on_event: Callable[[Any], None] | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> tuple[Release, dict[str, Any]]:
    """Deploy the requested release to the stage; return it with the stack's outputs."""
    check_stage(request.stage)
    db = StateDB.open(state)
    try:
        release = resolve_release(db, request)
    finally:
        db.close()
    names = StageNames(request.stage, config.namespace)
    check_port_free(names, stage_port(project, config, request.stage))
    if request.allow_bad and not request.reason.strip():
        raise ConfigError(
            "--allow-bad needs --reason TEXT", hint="the reason is kept on the ledger"
        )
    asked = time.time()
    with stage_lock(
        state, request.stage, f"soakgate deploy {request.stage}", wait=request.lock_wait
    ):
        started = time.time()  # "seconds" is the deploy itself, under the lock; not the wait
        check_not_bad(state, request, release)
        previous = stack_config(project, request.stage).get("release")
        try:
            outputs = up_with_release(project, request.stage, release, on_event, warn)
        except DeployFailed as failed:
            record(state, "refusal", request.stage, previous, release.digest,
                   {"action": "deploy", "error": failed.message.splitlines()[0]})  # fmt: skip
            raise
        record(state, "deploy", request.stage, previous, release.digest,
               {"seconds": round(time.time() - started, 2), "python": release.python,
                "waited_seconds": round(started - asked, 2)})  # fmt: skip
    return release, outputs


def check_not_bad(state: Path, request: DeployRequest, release: Release) -> None:
    """Refuse a quarantined release, unless allowed (then the override is on the ledger)."""
    ledger = LedgerStore.open(state)
    try:
        mark = bad_marks(ledger.events()).get(release.digest)
    finally:
        ledger.close()
    if mark is None:
        return
    if not request.allow_bad:
        raise BadRelease(
            f"release {release.short} is quarantined: {mark.reason} ({mark.actor}, {mark.time})",
            hint="deploy a good release, or give --allow-bad --reason TEXT (kept on the ledger)",
        )
    record(state, "override", request.stage, None, release.digest,
           {"gate": "quarantine", "reason": request.reason, "was": mark.reason})  # fmt: skip


def record(
    state: Path,
    kind: str,
    stage: str,
    from_release: str | None,
    to_release: str | None,
    data: dict[str, Any],
) -> None:
    """Append one event to the ledger."""
    ledger = LedgerStore.open(state)
    try:
        ledger.append(
            kind, stage=stage, from_release=from_release, to_release=to_release, data=data
        )
    finally:
        ledger.close()
