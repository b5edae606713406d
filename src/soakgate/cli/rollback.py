"""Tables of ``soakgate rollback``: the plan (``--dry-run``) and the measured result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from soakgate.cli.output import safe
from soakgate.core.names import digest_ref
from soakgate.core.rollback import RollbackPlan

if TYPE_CHECKING:  # the emergency path must not import the Docker SDK through app.drill
    from soakgate.app.drill import DrillStats
    from soakgate.app.rollback import RollbackResult


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def render_plan(plan: RollbackPlan) -> Table:
    table = Table(
        title=f"rollback plan for {safe(plan.stage)} (dry run: nothing changed)",
        title_justify="left",
    )
    table.add_column("")
    table.add_column("")
    table.add_row("path", safe(plan.path))
    table.add_row("from", safe(plan.from_release or "-"))
    table.add_row("to", safe(plan.to_release))
    for number, step in enumerate(plan.steps, 1):
        table.add_row(f"step {number}", safe(step))
    return table


def render_result(result: RollbackResult) -> Table:
    plan = result.plan
    title = (
        f"rolled {safe(plan.stage)} back to {safe(digest_ref(plan.to_release))} ({safe(plan.path)})"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("measure")
    table.add_column("value")
    budget = result.budget
    table.add_row("traffic restored after", _duration(result.seconds_to_restored))
    if budget is not None:
        style = "green" if budget.within else "red"
        table.add_row("RTO budget", _duration(budget.budget_seconds))
        table.add_row(
            "margin",
            f"[{style}]{_duration(budget.margin_seconds)} ({budget.share_percent:.3f} % used)[/]",
        )
    table.add_row("command done after", _duration(result.seconds_total))
    table.add_row("Pulumi reconciled", "yes" if result.reconciled else "no")
    verified = {True: "[green]passed[/]", False: "[red]failed[/]", None: "not run"}[result.verified]
    table.add_row("host checks", verified)
    if result.resumed:
        table.add_row("note", "finished an interrupted rollback")
    return table


def render_drill_stats(stats: list[DrillStats]) -> Table:
    table = Table(title="rollback drills: time to traffic restored", title_justify="left")
    for column in ("stage", "drills", "p50", "p90", "worst", "RTO budget", "within"):
        table.add_column(column)
    for row in stats:
        within = "[green]yes[/]" if row.within else "[red]no[/]"
        times = (_duration(row.p50), _duration(row.p90), _duration(row.worst))
        table.add_row(
            safe(row.stage), str(row.drills), *times, _duration(row.budget_seconds), within
        )
    if not stats:
        table.caption = "no drills yet: soakgate drill STAGE"
    return table
