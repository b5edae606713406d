"""Find the project and load the environment file that ./bootstrap generates; on the way,
keep the state directory private (0700, its files 0600)."""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

from soakgate.adapters.private_files import tighten_state

ENV_FILE = Path(".soakgate") / "env"
_EXPORT = re.compile(r'export[ \t]+([A-Z_][A-Z0-9_]*)="([^"\n]*)"\Z')


def find_project(start: Path | None = None) -> Path | None:
    """Return the nearest directory at or above ``start`` holding soakgate's Pulumi.yaml."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "Pulumi.yaml").is_file() and (directory / "pyproject.toml").is_file():
            return directory
    return None


def parse_env_file(text: str, base: MutableMapping[str, str]) -> dict[str, str]:
    """Return the variables ``text`` exports, with ``$NAME`` expanded against ``base``."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _EXPORT.match(line.strip())
        if not match:
            continue
        name, raw = match.groups()
        values[name] = re.sub(
            r"\$(\w+)|\$\{(\w+)\}",
            lambda m: base.get(m.group(1) or m.group(2), ""),
            raw,
        )
    return values


def load_env(project: Path | None, environ: MutableMapping[str, str] = os.environ) -> bool:
    """Apply the project's env file to ``environ``; return False when there is none yet."""
    if project is None:
        return False
    path = project / ENV_FILE
    if not path.is_file():
        return False
    environ.update(parse_env_file(path.read_text(), environ))
    tighten_state(path.parent)
    home = environ.get("SOAKGATE_HOME")
    if home and Path(home) != path.parent:
        tighten_state(Path(home))
    return True
