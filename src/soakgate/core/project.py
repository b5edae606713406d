"""The project a command works on, read once: where it is, what it says, where its state is.

project = load_project()          # adapters.config_file: finds it, reads soakgate.toml
deploy(project, DeployRequest("dev"), world=...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from soakgate.core.config import ProjectConfig

if TYPE_CHECKING:  # paths are only carried and joined here: no file is touched
    from pathlib import Path


@dataclass(frozen=True)
class Project:
    """A soakgate project: its checkout (``root``), its ``soakgate.toml`` (``config``) and the
    directory of its state (``state``: soakgate.db, journals, proxy files, the lock)."""

    root: Path
    config: ProjectConfig
    state: Path

    def report(self, name: str) -> Path:
        """Where a command writes a report file (``reports/`` of the checkout)."""
        return self.root / "reports" / name
