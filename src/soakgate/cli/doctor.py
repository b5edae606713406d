"""``soakgate doctor``: one table of every prerequisite, who needs it, and the fix of each."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from soakgate.core.doctor import DoctorReport


def render_doctor(report: DoctorReport) -> Table:
    """Return the doctor table: part, state, what was found, who needs it, the fix if missing."""
    table = Table(title="soakgate doctor", title_justify="left")
    table.add_column("part")
    table.add_column("state")
    table.add_column("found")
    table.add_column("needed by")
    table.add_column("fix")
    for part in report.parts:
        if part.ok:
            state = "[green]ok[/]"
        elif part.required:
            state = "[red]missing[/]"
        else:
            state = "[yellow]not yet[/]"
        fix = "" if part.ok else escape(part.fix)
        table.add_row(escape(part.name), state, escape(part.detail), part.needed_by, fix)
    return table


def missing_lines(report: DoctorReport) -> tuple[str, str]:
    """The one-line error naming every missing part, and the hint that fixes them all."""
    names = ", ".join(part.name for part in report.missing)
    return f"error: missing: {names}", f"hint: {report.hint}"
