"""``<state>/soak/<stage>.json``: what the stage's monitor is and did (policy, pid, log,
outages, traffic), written whole by the monitor; and its log, ``<state>/soak/<stage>.log``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MONITOR_DIR = "soak"


def monitor_dir(state: Path) -> Path:
    return state / MONITOR_DIR


def monitor_file(state: Path, stage: str) -> Path:
    """``<state>/soak/<stage>.json``: what the monitor of the stage is and did."""
    return monitor_dir(state) / f"{stage}.json"


def log_file(state: Path, stage: str) -> Path:
    return monitor_dir(state) / f"{stage}.log"


def read_monitor_file(state: Path, stage: str) -> dict[str, Any]:
    """The monitor file's content; {} when there is none or it cannot be read."""
    try:
        data = json.loads(monitor_file(state, stage).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_monitor_file(state: Path, stage: str, data: dict[str, Any]) -> None:
    path = monitor_file(state, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    partial.replace(path)
