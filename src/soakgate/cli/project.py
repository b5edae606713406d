"""The soakgate project the CLI works on: the nearest one at or above the current directory."""

from __future__ import annotations

from pathlib import Path

from soakgate.adapters.envfile import find_project
from soakgate.errors import ConfigError


def project_root() -> Path:
    """Return the soakgate project around the current directory, or fail with a fix."""
    project = find_project()
    if project is None:
        raise ConfigError(
            "not inside a soakgate project (no Pulumi.yaml and pyproject.toml here or above)",
            hint="cd into the soakgate checkout",
        )
    return project
