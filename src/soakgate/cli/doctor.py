"""``soakgate doctor``: one table of the toolchain's parts, each with its fix."""

from __future__ import annotations

from rich.table import Table

from soakgate.core.doctor import DoctorReport


def render_doctor(report: DoctorReport) -> Table:
    """Return the doctor table: part, state, what was found, and the fix for what is missing."""
    table = Table(title="soakgate doctor", title_justify="left")
    table.add_column("part")
    table.add_column("state")
    table.add_column("found")
    table.add_column("fix")
    for part in report.parts:
        if part.ok:
            state = "[green]ok[/]"
        elif part.required:
            state = "[red]missing[/]"
        else:
            state = "[yellow]not yet[/]"
        table.add_row(part.name, state, part.detail, "" if part.ok else part.fix)
    return table
