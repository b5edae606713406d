"""What the service reads from its environment, read once at start-up.

Usage:

    settings = Settings.from_env({"SERVICE_DELAY_MS": "250"})
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass

from app import __version__

TRUE = frozenset({"1", "true", "yes", "on"})


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in TRUE


def _delay_ms(environ: Mapping[str, str]) -> int:
    raw = environ.get("SERVICE_DELAY_MS", "").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"SERVICE_DELAY_MS must be a whole number of ms, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"SERVICE_DELAY_MS must be >= 0, not {value}")
    return value


def _slowdown_percent(environ: Mapping[str, str]) -> float:
    raw = environ.get("SERVICE_SLOWDOWN_PERCENT", "").strip() or "0"
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"SERVICE_SLOWDOWN_PERCENT must be a number, not {raw!r}") from None
    if not 0 <= value <= 100:
        raise ValueError(f"SERVICE_SLOWDOWN_PERCENT must be 0-100, not {raw}")
    return value


@dataclass(frozen=True)
class Settings:
    """The service's knobs; the defaults make a healthy, fast release."""

    release: str = "unknown"
    app_version: str = __version__
    source_revision: str = "unknown"
    fail_health: bool = False
    fail_ready: bool = False
    delay_ms: int = 0
    slowdown_percent: float = 0.0
    eager_tasks: bool = False  # the fan-out's tasks start eagerly (asyncio.eager_task_factory)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings from ``environ``; empty values count as unset."""
        return cls(
            release=environ.get("SOAKGATE_RELEASE") or "unknown",
            app_version=environ.get("APP_VERSION") or __version__,
            source_revision=environ.get("SOURCE_REVISION") or "unknown",
            fail_health=_flag(environ, "SERVICE_FAIL_HEALTH"),
            fail_ready=_flag(environ, "SERVICE_FAIL_READY"),
            delay_ms=_delay_ms(environ),
            slowdown_percent=_slowdown_percent(environ),
            eager_tasks=_flag(environ, "SERVICE_EAGER_TASKS"),
        )

    def version(self) -> dict[str, str]:
        """The body of ``/version``."""
        return {
            "release": self.release,
            "app_version": self.app_version,
            "python": platform.python_version(),
            "source_revision": self.source_revision,
        }
