"""Use case: deploy a release to a stage through its Pulumi stack (Automation API), under the
stage lock, after checks that refuse bad input before anything changes."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
from pulumi import automation as auto

from soakgate.adapters import docker_engine
from soakgate.adapters.ledger_store import LedgerStore
from soakgate.adapters.pulumi_stacks import error_summary, select_stack
from soakgate.adapters.stack_file import stack_config
from soakgate.adapters.stage_lock import stage_lock
from soakgate.adapters.state_db import StateDB
from soakgate.app.stages import stage_port
from soakgate.core.config import STAGES, ProjectConfig
from soakgate.core.names import StageNames
from soakgate.core.release import Release
from soakgate.errors import ConfigError, DeployFailed

STACK_KEYS = ("release", "python")


@dataclass(frozen=True)
class DeployRequest:
    stage: str
    release: str | None = None  # digest, digest prefix or image tag
    python: str | None = None  # newest release of this Python series


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
    project: Path, stage: str, release: Release, on_event: Callable[[Any], None] | None
) -> dict[str, Any]:
    """Write the release into the stage's stack config and run ``up``.

    On failure the previous config values are put back, so the stack file never claims a
    release that did not deploy.
    """
    stack = select_stack(project, stage)
    before = {key: stack.get_all_config().get(f"soakgate:{key}") for key in STACK_KEYS}
    stack.set_all_config(
        {
            "soakgate:stage": auto.ConfigValue(stage),
            "soakgate:release": auto.ConfigValue(release.digest),
            "soakgate:python": auto.ConfigValue(release.python_series),
        }
    )
    try:
        result = stack.up(on_event=on_event, color="never")
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
    started = time.time()
    with stage_lock(state, request.stage, f"soakgate deploy {request.stage}", warn=warn):
        previous = stack_config(project, request.stage).get("release")
        try:
            outputs = up_with_release(project, request.stage, release, on_event)
        except DeployFailed as failed:
            record(state, "refusal", request.stage, previous, release.digest,
                   {"action": "deploy", "error": failed.message.splitlines()[0]})  # fmt: skip
            raise
        record(state, "deploy", request.stage, previous, release.digest,
               {"seconds": round(time.time() - started, 2), "python": release.python})  # fmt: skip
    return release, outputs


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
