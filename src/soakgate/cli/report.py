"""``soakgate report``: the project's whole story as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from soakgate.cli.output import console, safe
from soakgate.cli.project import current_project


def report(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file (default reports/soakgate.html)."),
    ] = None,
    readiness: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="A readiness table to include (soakgate readiness … --format json > FILE).",
        ),
    ] = None,
) -> None:
    """One HTML page: stages, the ledger as a timeline, gate tables with their evidence, soak
    plots, rollbacks against their budgets, incidents, the comparison and readiness tables."""
    from soakgate.app.report import write_report

    project = current_project()
    path = write_report(project, output or project.report("soakgate.html"), readiness)
    console.print(f"report: {safe(path)}", highlight=False)
