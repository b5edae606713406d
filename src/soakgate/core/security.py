"""Security evidence beyond dependencies: bandit's findings on the service's own code, and
the waivers a team keeps for findings it accepted (id, reason, expiry date).

    issues = parse_bandit(Path("bandit.json").read_bytes())     # (CodeIssue("B602", …), …)
    waivers = parse_waivers(tomllib.loads(text))                 # security-waivers.toml
    active, expired = split_waivers(waivers, date(2026, 12, 4))
    waiver_for({"GHSA-…", "CVE-…"}, active)                       # Waiver or None

``security-waivers.toml`` (at the project root; every entry needs all three keys)::

    [[waiver]]
    id = "B104"                      # a bandit test id (all its findings), "B104:app/main.py"
                                     # (one file), or an advisory id or alias (GHSA-…, CVE-…)
    reason = "binds 0.0.0.0 inside its container on purpose"
    expires = 2027-03-31             # a TOML date; from that day on the waiver is void

Severities follow bandit's scale (LOW < MEDIUM < HIGH), with a confidence on the same scale:
a gate blocks issues at or above its severity *and* its confidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from soakgate.core.validation import ConfigInvalid

LEVELS = ("LOW", "MEDIUM", "HIGH")
WAIVER_FILE = "security-waivers.toml"


class BanditUnreadable(ValueError):
    """bandit's JSON report is not what ``bandit -f json`` writes."""


def level_rank(level: str) -> int:
    """LOW 0, MEDIUM 1, HIGH 2; anything else ranks as HIGH (fail closed)."""
    level = level.upper()
    return LEVELS.index(level) if level in LEVELS else len(LEVELS) - 1


@dataclass(frozen=True)
class CodeIssue:
    test_id: str  # B602
    severity: str  # LOW | MEDIUM | HIGH
    confidence: str
    file: str  # relative to the scanned package's parent, e.g. app/main.py
    line: int
    text: str

    def ids(self) -> frozenset[str]:
        return frozenset((self.test_id, f"{self.test_id}:{self.file}"))

    def describe(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.test_id} {self.text}"
            f" (severity {self.severity}, confidence {self.confidence})"
        )


def _relative(path: str, root: str | None) -> str:
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path


def parse_bandit(data: str | bytes, root: str | None = None) -> tuple[CodeIssue, ...]:
    """The issues of a ``bandit -f json`` report; ``root`` is stripped from file names."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BanditUnreadable(f"bandit JSON: not JSON ({exc})") from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        raise BanditUnreadable("bandit JSON: no results list (write it with bandit -f json)")
    errors = document.get("errors") or []
    if errors:  # a file bandit could not read was not scanned: no "no issues" for it
        first = errors[0] if isinstance(errors[0], dict) else {}
        raise BanditUnreadable(
            f"bandit could not scan {_relative(str(first.get('filename', '?')), root)}:"
            f" {first.get('reason', 'unknown error')} ({len(errors)} errors)"
        )
    issues = []
    for index, raw in enumerate(results):
        if not isinstance(raw, dict) or not isinstance(raw.get("test_id"), str):
            raise BanditUnreadable(f"bandit JSON: results[{index}] has no test_id")
        line = raw.get("line_number", 0)
        issues.append(
            CodeIssue(
                raw["test_id"],
                str(raw.get("issue_severity", "HIGH")).upper(),
                str(raw.get("issue_confidence", "HIGH")).upper(),
                _relative(str(raw.get("filename", "?")), root),
                line if isinstance(line, int) else 0,
                str(raw.get("issue_text", "")).strip()[:160],
            )
        )
    return tuple(issues)


def blocks(issue: CodeIssue, severity: str, confidence: str) -> bool:
    """Whether ``issue`` is at or above both limits."""
    return level_rank(issue.severity) >= level_rank(severity) and level_rank(
        issue.confidence
    ) >= level_rank(confidence)


@dataclass(frozen=True)
class Waiver:
    id: str
    reason: str
    expires: date

    def describe(self) -> str:
        return f"{self.id} waived until {self.expires.isoformat()}: {self.reason}"


def parse_waivers(document: dict[str, Any]) -> tuple[Waiver, ...]:
    """The ``[[waiver]]`` entries of security-waivers.toml; ConfigInvalid names the entry."""
    unknown = sorted(set(document) - {"waiver"})
    if unknown:
        raise ConfigInvalid(unknown[0], "unknown key (known: waiver)")
    entries = document.get("waiver", [])
    if not isinstance(entries, list):
        raise ConfigInvalid("waiver", "expected [[waiver]] tables")
    waivers = []
    for index, entry in enumerate(entries):
        path = f"waiver[{index}]"
        if not isinstance(entry, dict):
            raise ConfigInvalid(path, "expected a table with id, reason and expires")
        extra = sorted(set(entry) - {"id", "reason", "expires"})
        if extra:
            raise ConfigInvalid(f"{path}.{extra[0]}", "unknown key (known: expires, id, reason)")
        for key in ("id", "reason"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigInvalid(f"{path}.{key}", "expected a non-empty string")
        expires = entry.get("expires")
        if not isinstance(expires, date) or hasattr(expires, "hour"):
            raise ConfigInvalid(
                f"{path}.expires", f"expected a TOML date like 2027-03-31, got {expires!r}"
            )
        waivers.append(Waiver(entry["id"].strip(), entry["reason"].strip(), expires))
    return tuple(waivers)


def split_waivers(
    waivers: Iterable[Waiver], today: date
) -> tuple[tuple[Waiver, ...], tuple[Waiver, ...]]:
    """(in force, expired) on ``today``: a waiver is void from its expiry date on."""
    listed = list(waivers)
    return (
        tuple(w for w in listed if today < w.expires),
        tuple(w for w in listed if today >= w.expires),
    )


def waiver_for(ids: Iterable[str], waivers: Iterable[Waiver]) -> Waiver | None:
    """The first waiver naming one of ``ids``."""
    wanted = set(ids)
    return next((waiver for waiver in waivers if waiver.id in wanted), None)
