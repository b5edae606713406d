"""Validation helpers shared by the configuration parsers (config, gates, SLOs)."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigInvalid(ValueError):
    """A value in the configuration is wrong; ``path`` names it (``stages.dev.port``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def parse_duration(path: str, value: Any) -> int:
    """Return seconds for ``"90s"``, ``"15m"``, ``"4h"``, ``"7d"``."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        raise ConfigInvalid(path, f'expected a duration like "4h" or "30m", got {value!r}')
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
