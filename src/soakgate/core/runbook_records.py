"""What the host-side runbooks did, as ``soakgate ledger import`` reads it.

    runs = parse_records(text, "rollback-records.jsonl")   # RecordInvalid names the line

``rollback.yml`` writes one JSON line per host it flipped into a record file on the control
machine (``record_file``); every line of one playbook run carries the same ``run`` id and the
play's ``hosts``. A host's own ``runbook.log`` line (Fabric, or a copy of the host's log) has
no run id: each such line is a run of its own. The lines of one run become one
:class:`RunbookRun`, which the control machine adopts as a single rollback.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class RecordInvalid(ValueError):
    """A record file that cannot be imported (the message names the line)."""


@dataclass(frozen=True)
class RunbookRun:
    """One run of a host-side runbook on a stage: the hosts it flipped, and to what."""

    run: str
    stage: str
    from_release: str | None
    to_release: str
    time: str  # when the last host was restored (ISO 8601)
    seconds: float  # runbook start to verified, on the slowest host
    via: str
    flipped: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # every host the run was given (flipped or not)
    flip_seconds: float | None = None

    @property
    def left(self) -> tuple[str, ...]:
        """The hosts the run was given but did not flip (unreachable, refused)."""
        return tuple(host for host in self.hosts if host not in self.flipped)

    def as_entry(self) -> dict[str, Any]:
        """The ``runbook.log`` line soakgate adopts (its rollback adoption reads it)."""
        entry: dict[str, Any] = {
            "time": self.time,
            "stage": self.stage,
            "from_release": self.from_release,
            "to_release": self.to_release,
            "seconds": self.seconds,
            "via": self.via,
            "run": self.run,
            "hosts": list(self.flipped),
        }
        if self.flip_seconds is not None:
            entry["flip_seconds"] = self.flip_seconds
        if self.left:
            entry["left"] = list(self.left)
        return entry


def _field(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise RecordInvalid(f"{where}: no {key!r}")
    return value


def _record(line: str, where: str) -> dict[str, Any]:
    try:
        entry = json.loads(line)
    except ValueError:
        raise RecordInvalid(f"{where}: not JSON") from None
    if not isinstance(entry, dict):
        raise RecordInvalid(f"{where}: not a JSON object")
    _field(entry, "stage", where)
    for key in ("to_release", "from_release"):
        value = entry.get(key)
        required = key == "to_release" or value is not None
        if required and not (isinstance(value, str) and DIGEST.fullmatch(value)):
            raise RecordInvalid(f"{where}: {key} {value!r} is not a release digest")
    try:
        moment = datetime.fromisoformat(_field(entry, "time", where))
        entry["seconds"] = float(entry.get("seconds", 0))
        if entry.get("flip_seconds") is not None:
            entry["flip_seconds"] = float(entry["flip_seconds"])
    except (TypeError, ValueError):
        raise RecordInvalid(f"{where}: a time or a duration that is not one") from None
    if moment.tzinfo is None:
        raise RecordInvalid(f"{where}: time {entry['time']!r} has no UTC offset")
    for key in ("seconds", "flip_seconds"):
        value = entry.get(key)
        if value is not None and not (math.isfinite(value) and 0 <= value < 86400):
            raise RecordInvalid(f"{where}: {key} {value!r} is not a duration in seconds")
    if not isinstance(entry.get("host", ""), str):
        raise RecordInvalid(f"{where}: 'host' is not a host name")
    hosts = entry.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise RecordInvalid(f"{where}: 'hosts' is not a list of host names")
    entry.setdefault("host", "")
    entry.setdefault("run", _default_run(entry))
    _field(entry, "run", where)
    return entry


def _default_run(entry: dict[str, Any]) -> str:
    """A line without a run id (Fabric's, a host's runbook.log) is a run of its own."""
    return f"{entry.get('stage')}@{entry.get('time')}@{entry.get('host') or ''}"


def _merge(run: str, entries: list[tuple[str, dict[str, Any]]]) -> RunbookRun:
    first_where, first = entries[0]
    for where, entry in entries[1:]:
        for key in ("stage", "from_release", "to_release"):
            if entry.get(key) != first.get(key):
                raise RecordInvalid(
                    f"{where}: run {run} has {key} {entry.get(key)} here and {first.get(key)}"
                    f" at {first_where}: its hosts did not flip alike"
                )
    latest = max(entries, key=lambda item: datetime.fromisoformat(item[1]["time"]))[1]
    flipped = tuple(dict.fromkeys(e["host"] for _, e in entries if e["host"]))
    named = [h for _, e in entries for h in e.get("hosts", [])]
    flips = [e["flip_seconds"] for _, e in entries if e.get("flip_seconds") is not None]
    return RunbookRun(
        run=run,
        stage=first["stage"],
        from_release=first.get("from_release"),
        to_release=first["to_release"],
        time=latest["time"],
        seconds=max(e["seconds"] for _, e in entries),
        via=str(first.get("via") or "host"),
        flipped=flipped,
        hosts=tuple(dict.fromkeys([*flipped, *named])),
        flip_seconds=max(flips) if flips else None,
    )


def parse_records(text: str, source: str) -> list[RunbookRun]:
    """Every run in ``text`` (the record file, or a runbook.log), oldest first; blank lines
    are skipped, anything else that is not a record refuses the whole file."""
    runs: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            where = f"{source} line {number}"
            entry = _record(line, where)
            runs.setdefault(entry["run"], []).append((where, entry))
    merged = [_merge(run, entries) for run, entries in runs.items()]
    return sorted(merged, key=lambda run: datetime.fromisoformat(run.time))


def logged_runs(text: str) -> set[str]:
    """The run ids already in a ``runbook.log`` (lines that do not parse are ignored)."""
    found = set()
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            run = entry.get("run")
            found.add(run if isinstance(run, str) and run else _default_run(entry))
    return found
