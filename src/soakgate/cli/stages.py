"""Tables of stages for ``soakgate status`` and the end of ``soakgate deploy``."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.table import Table

from soakgate.app.stages import StageView
from soakgate.core.names import short_digest


def _release(digest: str | None, python: str) -> str:
    if not digest:
        return "-"
    short = short_digest(digest)
    return f"{short} (py {python})" if python else short


def render_stages(views: list[StageView]) -> Table:
    table = Table(title="stages", title_justify="left")
    for column in ("stage", "url", "active", "release", "health", "warm slot", "recorded"):
        table.add_column(column)
    for view in views:
        active = view.active_view
        warm = view.warm_view
        recorded = view.recorded_release or "-"
        drift = active is not None and view.recorded_release not in (None, active.digest)
        health_style = "green" if view.health.startswith("healthy") else "red"
        table.add_row(
            view.stage,
            view.url,
            view.active or "-",
            _release(active.digest, active.python) if active else "-",
            f"[{health_style}]{view.health}[/]" if view.deployed else view.health,
            f"{warm.name}: {_release(warm.digest, warm.python)}" if warm else "-",
            ("[yellow]" if drift else "") + short_digest(recorded),
        )
    return table


def stages_json(views: list[StageView]) -> str:
    return json.dumps([asdict(view) for view in views], indent=2)
