"""Read soakgate.toml from the project and turn its mistakes into one-line ConfigErrors.

config = load_config(project)   # ConfigError: stages.production.rto: should be …
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from soakgate.adapters.state.db import state_dir
from soakgate.core.config import ConfigInvalid, ProjectConfig, parse_config
from soakgate.core.project import Project
from soakgate.core.security import WAIVER_FILE, Waiver, parse_waivers
from soakgate.errors import ConfigError

CONFIG_FILE = "soakgate.toml"
MAX_BYTES = 1 << 20  # a configuration file, not a data set


def _inside(project: Path, key: str, relative: str, base: Path) -> None:
    """Refuse a path that resolves (symbolic links followed) outside the project."""
    root = project.resolve()
    target = (base / relative).resolve()
    if target != root and not target.is_relative_to(root):
        raise ConfigInvalid(key, f"resolves to {target}, outside the project {root}")


def check_paths(project: Path, config: ProjectConfig) -> None:
    """The service's build context, Dockerfile and requirements all lie inside the project."""
    service = config.service
    _inside(project, "service.context", service.context, project)
    context = project / service.context
    _inside(project, "service.dockerfile", service.dockerfile, context)
    for index, name in enumerate(service.requirements):
        _inside(project, f"service.requirements[{index}]", name, context)


def load_config(project: Path) -> ProjectConfig:
    """Load and validate ``soakgate.toml``; defaults apply when the file is absent."""
    path = project / CONFIG_FILE
    if not path.is_file():
        return ProjectConfig()
    hint = f"fix {path} (the shipped {CONFIG_FILE} shows every key with its default)"
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_BYTES:
            raise ConfigError(f"{CONFIG_FILE}: larger than {MAX_BYTES} bytes", hint=hint)
        data = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{CONFIG_FILE}: cannot be read ({exc.strerror})", hint=hint) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{CONFIG_FILE}: not UTF-8 text (bad byte at offset {exc.start})", hint=hint
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CONFIG_FILE}: not valid TOML ({exc})", hint=hint) from None
    except RecursionError:
        raise ConfigError(f"{CONFIG_FILE}: nested too deeply", hint=hint) from None
    try:
        config = parse_config(data)
        check_paths(project, config)
    except ConfigInvalid as exc:
        raise ConfigError(str(exc), hint=hint) from None
    return config


def load_project(root: Path) -> Project:
    """The project at ``root``: its validated ``soakgate.toml`` and its state directory."""
    return Project(root, load_config(root), state_dir(root))


def load_waivers(root: Path) -> tuple[Waiver, ...]:
    """The accepted security findings of ``security-waivers.toml`` (none without the file)."""
    path = root / WAIVER_FILE
    if not path.is_file():
        return ()
    hint = f"fix {path}: [[waiver]] tables of id, reason and expires (a date)"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        return parse_waivers(document)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{WAIVER_FILE}: cannot be read ({exc})", hint=hint) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{WAIVER_FILE}: not valid TOML ({exc})", hint=hint) from None
    except ConfigInvalid as exc:
        raise ConfigError(f"{WAIVER_FILE}: {exc}", hint=hint) from None
