"""``soakgate doctor``: one table of every prerequisite, who needs it, and the fix of each."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from soakgate.cli.output import console, err_console
from soakgate.cli.project import project_root
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


def doctor(
    with_test_tools: Annotated[
        bool,
        typer.Option("--with-test-tools", help="Also require what only the tests need (Chromium)."),
    ] = False,
) -> None:
    """Check every prerequisite of every command, each with its fix; non-zero if one is missing."""
    from soakgate.adapters.toolchain_probe import read_toolchain
    from soakgate.app.doctor import doctor as run_doctor

    report = run_doctor(project_root(), read_toolchain, with_test_tools=with_test_tools)
    console.print(render_doctor(report))
    if report.missing:
        error, hint = missing_lines(report)
        err_console.print(error, markup=False, highlight=False)
        err_console.print(hint, markup=False, highlight=False)
    raise typer.Exit(report.exit_code)
