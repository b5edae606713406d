"""The soakgate project the CLI works on: the nearest one at or above the current directory,
read once per command (``soakgate.toml`` validated, state directory settled)."""

from __future__ import annotations

import functools
from pathlib import Path

from soakgate.adapters.envfile import find_project
from soakgate.core.project import Project
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


@functools.cache
def current_project() -> Project:
    """The project of this command, with its configuration: read the first time it is asked
    for (``doctor`` must work where ``soakgate.toml`` is broken), then the same object."""
    from soakgate.adapters.config_file import load_project

    return load_project(project_root())
