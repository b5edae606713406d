"""A stage's stack config (``soakgate:*`` in ``Pulumi.<stage>.yaml``), validated into
:class:`~soakgate.pulumi.stage.StageArgs` before any resource is declared, so a malformed
config changes nothing.

    soakgate:release: sha256:…          the desired release (image digest)
    soakgate:python: "3.14"             a label: the release's Python series
    soakgate:port: 18081                loopback port of the proxy (default: soakgate.toml)
    soakgate:env: {KEY: value}          environment of the app containers
    soakgate:secretEnv: (secret) {...}  secret environment, stored encrypted by Pulumi
    soakgate:memoryMb: 256              memory limit of each app container
    soakgate:cpus: 1.0                  CPU limit of each app container
    soakgate:healthPath: /health        liveness path (default: soakgate.toml)
    soakgate:healthTimeout: 60          seconds a new release has to become healthy
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi

from soakgate.adapters.config_file import load_config
from soakgate.adapters.stage_engine import AppSpec
from soakgate.adapters.state_db import state_dir
from soakgate.core.config import STAGES
from soakgate.errors import ConfigError
from soakgate.pulumi.stage import StageArgs

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PROXY_IMAGE = "soakgate/proxy:nginx"


def _fail(stack: str, key: str, problem: str) -> ConfigError:
    return ConfigError(
        f"Pulumi.{stack}.yaml soakgate:{key}: {problem}",
        hint=f"fix it with: pulumi config set soakgate:{key} VALUE --stack {stack}",
    )


def _number(
    config: pulumi.Config, stack: str, key: str, default: float, low: float, high: float
) -> float:
    raw = config.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _fail(stack, key, f"expected a number, got {raw!r}") from None
    if not low <= value <= high:
        raise _fail(stack, key, f"expected a number between {low:g} and {high:g}, got {raw}")
    return value


def _mapping(config: pulumi.Config, stack: str, key: str, secret: bool = False) -> dict[str, str]:
    try:
        raw: Any = (config.get_secret_object(key) if secret else config.get_object(key)) or {}
    except Exception:
        raise _fail(stack, key, "expected a map of NAME: value") from None
    if isinstance(raw, pulumi.Output):
        raise _fail(stack, key, "secret maps are read through `soakgate:secretEnv` only")
    if not isinstance(raw, dict) or not all(isinstance(v, (str, int, float)) for v in raw.values()):
        raise _fail(stack, key, "expected a map of NAME: value")
    return {str(k): str(v) for k, v in raw.items()}


def stage_args(project: Path, config: pulumi.Config) -> StageArgs:
    """Validate the stack config of the current stack into the Stage's arguments."""
    stack = pulumi.get_stack()
    stage = config.get("stage") or stack
    if stage not in STAGES:
        raise _fail(stack, "stage", f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
    settings = load_config(project)
    release = config.get("release") or ""
    if not DIGEST.match(release):
        raise _fail(
            stack, "release", f"expected an image digest sha256:<64 hex digits>, got {release!r}"
        )
    port = int(_number(config, stack, "port", settings.stages[stage].port, 1024, 65535))
    health_path = config.get("healthPath") or settings.service.health_path
    if not health_path.startswith("/"):
        raise _fail(stack, "healthPath", f'expected a path starting with "/", got {health_path!r}')
    envs = _mapping(config, stack, "env")
    spec = AppSpec(
        port=settings.service.port,
        health_path=health_path,
        health_timeout=_number(config, stack, "healthTimeout", 60, 1, 3600),
        memory_mb=int(_number(config, stack, "memoryMb", 256, 32, 65536)),
        cpus=_number(config, stack, "cpus", 1.0, 0.1, 64),
        envs=envs,
    )
    return StageArgs(
        stage=stage,
        port=port,
        release=release,
        spec=spec,
        conf_dir=state_dir() / "stages" / stage / "proxy",
        proxy_image=config.get("proxyImage") or PROXY_IMAGE,
        namespace=settings.namespace,
    )
