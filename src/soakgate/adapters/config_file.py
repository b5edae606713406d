"""Read soakgate.toml from the project and turn its mistakes into one-line ConfigErrors."""

from __future__ import annotations

import tomllib
from pathlib import Path

from soakgate.core.config import ConfigInvalid, ProjectConfig, parse_config
from soakgate.errors import ConfigError

CONFIG_FILE = "soakgate.toml"


def load_config(project: Path) -> ProjectConfig:
    """Load and validate ``soakgate.toml``; defaults apply when the file is absent."""
    path = project / CONFIG_FILE
    if not path.is_file():
        return ProjectConfig()
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path.name}: not valid TOML ({exc})", hint=f"fix the syntax in {path}"
        ) from exc
    try:
        return parse_config(data)
    except ConfigInvalid as exc:
        raise ConfigError(str(exc), hint=f"see the commented defaults in {CONFIG_FILE}") from exc
