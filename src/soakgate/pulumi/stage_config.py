"""A stage's stack config (``soakgate:*`` in ``Pulumi.<stage>.yaml``), validated into
:class:`~soakgate.pulumi.stage.StageArgs` before any resource is declared, so a malformed
config changes nothing.

    soakgate:release: sha256:…          the desired release (image digest)
    soakgate:python: "3.14"             a label: the release's Python series
    soakgate:port: 18081                loopback port of the proxy (default: soakgate.toml)
    soakgate:env: {KEY: value}          environment of the app containers
    soakgate:secretEnv: (secret) {...}  secrets, encrypted by Pulumi; files in /run/secrets
    soakgate:memoryMb: 256              memory limit of each app container
    soakgate:cpus: 1.0                  CPU limit of each app container
    soakgate:healthPath: /health        liveness path (default: soakgate.toml)
    soakgate:healthTimeout: 60          seconds a new release has to become healthy
    soakgate:hosts: local               or ssh://USER@HOST[:PORT] ...: the Docker hosts the stage
                                        runs on, reached over SSH (the proxy then listens on
                                        every address of each host; Ansible's inventory too)
    soakgate:rollout: {limit: 1, wait: 30}
                                        on SSH hosts: switch 1 host at a time, each group
                                        watched 30 s before the next (default: all at once)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi

from soakgate.adapters.config_file import load_config
from soakgate.adapters.stage.engine import AppSpec
from soakgate.adapters.stage.stack_file import check_stack_value
from soakgate.adapters.state.releases import state_dir
from soakgate.core.hosts import Host
from soakgate.core.rollout import ENV as ROLLOUT_ENV
from soakgate.core.rollout import Rollout, parse_rollout
from soakgate.core.validation import ConfigInvalid, env_map
from soakgate.errors import ConfigError
from soakgate.pulumi.stage import StageArgs

PROXY_IMAGE = "soakgate/proxy:nginx"


def _fail(stack: str, key: str, problem: str) -> ConfigError:
    return ConfigError(
        f"Pulumi.{stack}.yaml soakgate:{key}: {problem}",
        hint=f"fix it with: pulumi config set soakgate:{key} VALUE --stack {stack}",
    )


def _value(config: pulumi.Config, stack: str, key: str, default: Any = None) -> Any:
    """``soakgate:<key>`` validated like ``soakgate status`` validates it (stack_file), or
    ``default`` when unset."""
    raw: Any = config.get(key)
    if raw is None:
        return default
    if key in ("env", "rollout") or (key == "hosts" and raw.lstrip().startswith("[")):
        try:
            raw = config.get_object(key)  # a YAML map or list arrives as JSON text
        except Exception:  # Pulumi raises its own ConfigTypeError for JSON it cannot parse
            expected = {"env": "a map of NAME: value", "rollout": "{limit: N, wait: SECONDS}"}.get(
                key, "a list of ssh:// URLs"
            )
            raise _fail(stack, key, f"expected {expected}") from None
    try:
        return check_stack_value(stack, key, raw)
    except ConfigInvalid as exc:
        raise _fail(stack, key, str(exc).removeprefix(f"{exc.path}: ")) from None


def secret_env(config: pulumi.Config, stack: str) -> pulumi.Output[dict[str, str]] | None:
    """``soakgate:secretEnv`` as a Pulumi secret (encrypted in the state, in the inputs and
    outputs of every resource it reaches), validated first: names are variable names, which
    also makes them safe file names under /run/secrets."""
    if config.get("secretEnv") is None:
        return None
    try:
        raw = config.get_object("secretEnv")
    except Exception:
        raise _fail(stack, "secretEnv", "expected a map of NAME: value") from None
    try:
        values = env_map(f"Pulumi.{stack}.yaml soakgate:secretEnv", raw)
    except ConfigInvalid as exc:
        raise _fail(stack, "secretEnv", str(exc).removeprefix(f"{exc.path}: ")) from None
    return pulumi.Output.secret(values)


def stage_args(
    project: Path, config: pulumi.Config, built: pulumi.Output[str] | None = None
) -> StageArgs:
    """Validate the stack config of the current stack into the Stage's arguments; ``built``:
    the release when none is configured (an image built by this very update)."""
    stack = pulumi.get_stack()
    stage = _value(config, stack, "stage", stack)
    hosts = tuple(_value(config, stack, "hosts", ()))
    settings = load_config(project)
    release: Any = _value(config, stack, "release", "") or built
    if not release:
        raise _fail(stack, "release", "expected an image digest sha256:<64 hex digits>, got ''")
    secrets = secret_env(config, stack)  # validated with the rest, before any resource
    if hosts and not isinstance(release, str):
        raise _fail(stack, "release", "a stage on SSH hosts deploys a release by its digest")
    if hosts and secrets is not None:
        raise ConfigError(
            f"Pulumi.{stack}.yaml soakgate:secretEnv: secret files reach only this machine's"
            f" engine so far, and {stage} runs on {len(hosts)} SSH host(s)",
            hint=f"pulumi config rm soakgate:secretEnv --stack {stack}",
        )
    rollout = _rollout(config, stack, hosts)
    spec = AppSpec(
        port=settings.service.port,
        health_path=_value(config, stack, "healthPath", settings.service.health_path),
        health_timeout=_value(config, stack, "healthTimeout", 60.0),
        memory_mb=_value(config, stack, "memoryMb", 256),
        cpus=_value(config, stack, "cpus", 1.0),
        envs=_value(config, stack, "env", {}),
    )
    return StageArgs(
        stage=stage,
        port=_value(config, stack, "port", settings.stages[stage].port),
        release=release,
        spec=spec,
        conf_dir=state_dir() / "stages" / stage / "proxy",
        proxy_image=_value(config, stack, "proxyImage", PROXY_IMAGE),
        namespace=settings.namespace,
        secret_env=secrets,
        hosts=hosts,
        bind_address="0.0.0.0" if hosts else "127.0.0.1",  # on SSH hosts: the service port
        rollout=rollout,
    )


def _rollout(config: pulumi.Config, stack: str, hosts: tuple[Host, ...]) -> Rollout:
    """``soakgate:rollout``, or the one ``soakgate deploy --limit --wait`` gave this update
    (the environment wins); refused on a stage that is not on SSH hosts."""
    given = os.environ.get(ROLLOUT_ENV)
    if given:
        try:
            rollout = parse_rollout("--limit/--wait", given)
        except ConfigInvalid as exc:
            raise ConfigError(
                str(exc), hint="e.g. soakgate deploy STAGE --limit 1 --wait 30"
            ) from None
    else:
        rollout = _value(config, stack, "rollout", Rollout())
    if rollout.limit and not hosts:
        raise ConfigError(
            f"{stack}: a rollout in host groups needs a stage on SSH hosts (soakgate:hosts);"
            f" {stack} runs on this machine's engine",
            hint=f"drop --limit/--wait, or: pulumi config rm soakgate:rollout --stack {stack}",
        )
    return rollout
