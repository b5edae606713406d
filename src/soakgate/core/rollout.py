"""How a deploy rolls out over a stage's hosts: all at once (the default), or in groups.

    Rollout()                       # every host at once: none switches until all are healthy
    Rollout(limit=1, wait=30)       # one host, watched 30 s through its proxy, then the next
    parse_rollout("--limit", "2:10")

With a limit, the hosts go in groups of ``limit`` (in the order the stage names them): each
group starts its candidate, switches when every candidate in it is healthy, and is watched for
``wait`` seconds before the next group starts (a canary by hosts). When a group fails, or a
host already switched stops answering from the new release while it is watched, every host
that switched goes back to the release it served before (still warm in its other slot): no
host is left serving what the others do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from soakgate.core.validation import ConfigInvalid

ENV = "SOAKGATE_ROLLOUT"  # "LIMIT:WAIT", set by `soakgate deploy --limit --wait` for one update
MAX_WAIT = 3600.0  # seconds a group may be watched


@dataclass(frozen=True)
class Rollout:
    limit: int = 0  # hosts per group; 0: every host at once
    wait: float = 0.0  # seconds a switched group is watched before the next group starts

    def groups(self, hosts: list[str]) -> list[list[str]]:
        """``hosts`` in groups of ``limit`` (one group of all without a limit)."""
        if not hosts:
            return []
        size = self.limit or len(hosts)
        return [hosts[start : start + size] for start in range(0, len(hosts), size)]

    def as_env(self) -> str:
        return f"{self.limit}:{self.wait:g}"


def _number(where: str, what: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigInvalid(where, f"{what} should be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigInvalid(where, f"{what} should be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigInvalid(where, f"{what} should be a finite number, got {value!r}")
    return number


def make_rollout(where: str, limit: Any, wait: Any) -> Rollout:
    """Validated: ``limit`` a whole number ≥ 1 (or 0/None: all at once), ``wait`` 0 to 3600 s."""
    hosts = _number(where, "limit", 0 if limit is None else limit)
    if hosts != int(hosts) or hosts < 0:
        raise ConfigInvalid(where, f"limit should be a whole number of hosts >= 1, got {limit!r}")
    seconds = _number(where, "wait", 0 if wait is None else wait)
    if not 0 <= seconds <= MAX_WAIT:
        raise ConfigInvalid(where, f"wait should be 0 to {MAX_WAIT:.0f} seconds, got {wait!r}")
    if seconds and not hosts:
        raise ConfigInvalid(where, "wait needs a limit: hosts switched all at once have no wait")
    return Rollout(int(hosts), seconds)


def parse_rollout(where: str, value: Any) -> Rollout:
    """``{limit: N, wait: S}`` (stack config ``soakgate:rollout``) or ``"N:S"`` (the env)."""
    if isinstance(value, str):
        limit, _, wait = value.partition(":")
        return make_rollout(where, limit.strip() or 0, wait.strip() or 0)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"limit", "wait"})
        if unknown:
            raise ConfigInvalid(where, f"unknown key {unknown[0]!r} (limit, wait)")
        return make_rollout(where, value.get("limit"), value.get("wait"))
    raise ConfigInvalid(where, f"expected {{limit: N, wait: SECONDS}}, got {value!r}")
