"""``soakgate history``: the ledger as a table, newest last."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.table import Table

from soakgate.core.ledger import Event

SUMMARY_KEYS = (
    "path",
    "seconds_to_restored",
    "budget_seconds",
    "margin_seconds",
    "reason",
    "verified",
)


def _short(digest: str | None) -> str:
    return digest.removeprefix("sha256:")[:12] if digest else "-"


def _summary(event: Event) -> str:
    data = event.data
    parts = [f"{key}={data[key]}" for key in SUMMARY_KEYS if key in data and data[key] is not None]
    if "gates" in data:
        failed = [gate["name"] for gate in data["gates"] if not gate.get("passed")]
        parts.append("gates: " + (f"failed {', '.join(failed)}" if failed else "all passed"))
    if "seconds" in data:
        parts.append(f"seconds={data['seconds']}")
    return "; ".join(parts)


def render_events(events: list[Event]) -> Table:
    table = Table(title="ledger", title_justify="left")
    for column in ("seq", "time", "kind", "stage", "from", "to", "actor", "details"):
        table.add_column(column)
    for event in events:
        table.add_row(
            str(event.seq),
            event.time[:19].replace("T", " "),
            event.kind,
            event.stage or "-",
            _short(event.from_release),
            _short(event.to_release),
            event.actor,
            _summary(event),
        )
    if not events:
        table.caption = "no entries yet"
    return table


def events_json(events: list[Event]) -> str:
    return json.dumps([asdict(event) for event in events], indent=2)
