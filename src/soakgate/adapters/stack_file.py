"""Read a stage's ``Pulumi.<stage>.yaml`` directly: fast, no Pulumi process (status, verify
and the emergency path read it). Writes go through Pulumi (``stack.set_config``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from soakgate.errors import ConfigError


def stack_config(project: Path, stage: str) -> dict[str, Any]:
    """The ``config:`` map of the stage's stack file, keys without the ``soakgate:`` prefix."""
    path = project / f"Pulumi.{stage}.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML ({exc})", hint=f"fix {path}") from exc
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path.name}: config: expected a map", hint=f"fix {path}")
    return {
        key.removeprefix("soakgate:"): value
        for key, value in config.items()
        if key.startswith("soakgate:")
    }
