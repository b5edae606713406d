"""``soakgate incident list`` and ``soakgate incident show [ID]``: what each rollback kept of
the release it rolled away from (logs, redacted inspect, gate record, soak verdict). Neither
needs soakgate.toml or the state database: the incidents are files of their own."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from soakgate.adapters.state.db import state_dir
from soakgate.adapters.state.incidents import IncidentStore
from soakgate.cli.options import JsonFlag, warn
from soakgate.cli.output import console, inert, safe
from soakgate.core.incident import Incident, incident_lines, incident_summary
from soakgate.core.names import short_digest

incident_app = typer.Typer(
    help="What each rollback kept for the investigation.", no_args_is_help=True
)


def render_incidents(incidents: list[Incident]) -> Table:
    table = Table(title="incidents", title_justify="left")
    for column in ("id", "stage", "bad", "restored", "path", "reason", "logs", "complete"):
        table.add_column(column, no_wrap=column in ("id", "bad", "restored"))
    for incident in incidents:
        row = incident_summary(incident)
        cells = (
            row["id"],
            row["stage"],
            short_digest(row["release"]) or "-",
            short_digest(row["restored"]),
            row["path"] or "-",
            row["reason"] or "-",
            str(row["log_lines"]),
            "partial" if row["partial"] else "yes",
        )
        table.add_row(*(safe(cell) for cell in cells))
    if not incidents:
        table.caption = "none yet: every rollback keeps one"
    return table


@incident_app.command("list")
def incident_list(as_json: JsonFlag = False) -> None:
    """The incidents, newest first."""
    incidents = IncidentStore(state_dir()).list(warn)
    if as_json:
        print(json.dumps([incident_summary(incident) for incident in incidents], indent=2))
    else:
        console.print(render_incidents(incidents))


@incident_app.command("show")
def incident_show(
    ident: Annotated[
        str | None, typer.Argument(metavar="ID", help="An incident id or its prefix.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """One incident (default: the newest): the bad release's last log lines, its gate record,
    its soak verdict; with --json also its docker inspect (secret values redacted)."""
    incident = IncidentStore(state_dir()).get(ident, warn)
    if as_json:
        print(json.dumps(incident.to_dict(), indent=2))
        return
    for line in incident_lines(incident):
        console.print(inert(line), markup=False, highlight=False, soft_wrap=True)
