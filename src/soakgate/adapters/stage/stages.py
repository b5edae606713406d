"""The real :class:`soakgate.app.ports.Stages` and :class:`~soakgate.app.ports.Stacks`: the
stages on this Docker engine, and their Pulumi stacks through the Automation API.

    stages, stacks = EngineStages(project), PulumiStacks(project.root)
    with stages.lock("staging", "soakgate deploy staging", wait=None):
        stacks.up("staging", release)
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from soakgate.adapters.docker.light import LightDocker
from soakgate.adapters.stage.engine import StageEngine
from soakgate.adapters.stage.hosts_engine import HostsEngine, host_conf_dir
from soakgate.adapters.stage.lock import stage_lock
from soakgate.adapters.stage.stack_file import stack_config, stack_hosts
from soakgate.core.hosts import Host
from soakgate.core.names import StageNames
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.core.rollout import ENV as ROLLOUT_ENV
from soakgate.core.rollout import Rollout
from soakgate.errors import ConfigError, DeployFailed, SoakgateError

Warn = Callable[[str], None]
STACK_KEYS = ("release", "python")


def hosts_engine(
    stage: str, port: int, namespace: str, hosts: Sequence[Host], warn: Warn | None = None
) -> HostsEngine:
    """The stage on its SSH hosts: one StageEngine per host over the process's connections."""
    from soakgate.adapters.ssh.connection import connections
    from soakgate.adapters.stage.host_io import SshHost

    names = StageNames(stage, namespace)
    pool = connections()
    return HostsEngine(
        stage,
        port,
        {
            host.name: StageEngine(
                stage, host_conf_dir(names), port, namespace, io=SshHost(pool.get(host))
            )
            for host in hosts
        },
        warn or (lambda message: None),
    )


class EngineStages:
    """The stages of one project on the local Docker engine."""

    def __init__(self, project: Project) -> None:
        self.project = project.root
        self.config = project.config
        self.state = project.state

    def port(self, stage: str) -> int:
        """The stage's proxy port: its stack file's ``soakgate:port``, else soakgate.toml's."""
        return int(stack_config(self.project, stage).get("port") or self.config.stages[stage].port)

    def conf_dir(self, stage: str) -> Path:
        return self.state / "stages" / stage / "proxy"

    def engine(self, stage: str, warn: Warn | None = None) -> StageEngine | HostsEngine:
        """The stage on this machine's engine, or on its SSH hosts (never this machine's
        containers in the name of a stage that runs elsewhere)."""
        try:
            hosts = stack_hosts(self.project, stage)
        except ConfigError:  # unreadable: reading the port says so (an emergency path warns on)
            hosts = ()
        if hosts:
            return hosts_engine(stage, self.port(stage), self.config.namespace, hosts, warn)
        try:
            port = self.port(stage)
        except ConfigError as broken:
            if warn is None:
                raise
            published = published_port(StageNames(stage, self.config.namespace).proxy)
            warn(f"{broken.message}; using the port the {stage} proxy publishes ({published})")
            port = published or self.config.stages[stage].port
        return StageEngine(stage, self.conf_dir(stage), port, self.config.namespace)

    def lock(self, stage: str, command: str, wait: float | None) -> AbstractContextManager[object]:
        return stage_lock(self.state, stage, command, wait=wait)

    def image_present(self, digest: str) -> bool:
        import docker.errors

        from soakgate.adapters.docker import engine as docker_engine

        try:
            docker_engine.client().images.get(digest)
        except docker.errors.ImageNotFound:
            return False
        return True

    def port_taken(self, stage: str) -> int | None:
        from soakgate.adapters.docker import engine as docker_engine

        with contextlib.suppress(ConfigError):
            if stack_hosts(self.project, stage):
                return None  # the port is on the stage's hosts, not this machine's
        port = self.port(stage)
        proxy = docker_engine.find_container(StageNames(stage, self.config.namespace).proxy)
        if proxy is not None and proxy.status == "running":
            return None  # our own proxy holds it
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return port
        return None

    def build_variant(self, digest: str, lines: list[str], tag: str) -> tuple[str, int]:
        from soakgate.adapters.docker import engine as docker_engine

        image = docker_engine.build_from(digest, lines, tag)
        return str(image.id), int(image.attrs.get("Size", 0))

    def image_command(self, digest: str) -> tuple[list[str], list[str]]:
        from soakgate.adapters.docker import engine as docker_engine

        config = docker_engine.client().images.get(digest).attrs.get("Config") or {}
        return list(config.get("Entrypoint") or []), list(config.get("Cmd") or [])


def published_port(proxy: str) -> int | None:
    """The host port the proxy container publishes (the truth when the stack file is not)."""
    try:
        data = LightDocker().inspect(proxy)
    except SoakgateError:
        return None
    bindings = ((data or {}).get("HostConfig") or {}).get("PortBindings") or {}
    for binding in bindings.values():
        for entry in binding or []:
            with contextlib.suppress(TypeError, ValueError, KeyError):
                return int(entry["HostPort"])
    return None


class PulumiStacks:
    """The stages' stacks of one project (``Pulumi.<stage>.yaml``, the local backend)."""

    def __init__(self, project: Path) -> None:
        self.project = project

    def config(self, stage: str) -> dict[str, Any]:
        return stack_config(self.project, stage)

    def up(
        self,
        stage: str,
        release: Release,
        on_event: Callable[[Any], None] | None = None,
        warn: Warn = lambda message: None,
        *,
        rollout: Rollout | None = None,
    ) -> dict[str, Any]:
        """Write the release into the stage's stack config and run ``up`` (with a refresh);
        ``rollout`` (``--limit``/``--wait``) reaches the program for this update only.

        Call it under the stage lock. What a killed command left is recovered first: Pulumi's
        stack lock of a process that is gone, and the pending operations of its update. On
        failure the previous config values are put back, so the stack file never claims a
        release that did not deploy.
        """
        from pulumi import automation as auto

        from soakgate.adapters.stage.pulumi_locks import clear_pending, recover_stack_lock
        from soakgate.adapters.stage.pulumi_stacks import error_summary, select_stack

        recover_stack_lock(stage, warn=warn)
        try:
            stack = select_stack(self.project, stage)
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
            # this update's rollout, or none: never one left in the caller's environment
            given = rollout.as_env() if rollout is not None else ""
            workspace = stack.workspace
            workspace.env_vars = {**workspace.env_vars, ROLLOUT_ENV: given}
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

    def build_images(
        self, stack_name: str, on_event: Callable[[Any], None] | None = None
    ) -> dict[str, Any]:
        """``up`` on ``stack_name`` with ``soakgate:buildImages``: its ``images`` output."""
        from pulumi import automation as auto

        from soakgate.adapters.stage.pulumi_stacks import error_summary, select_stack

        stack = select_stack(self.project, stack_name)
        flag = stack.get_all_config().get("soakgate:buildImages", auto.ConfigValue(""))
        if flag.value != "true":
            stack.set_config("soakgate:buildImages", auto.ConfigValue("true"))
        try:
            result = stack.up(on_event=on_event, color="never")
        except auto.errors.CommandError as error:
            raise SoakgateError(
                f"build failed:\n{error_summary(error)}",
                hint="fix the build, then run soakgate build again",
            ) from None
        images = result.outputs.get("images")
        return dict(images.value) if images else {}
