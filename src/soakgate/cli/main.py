"""The ``soakgate`` command: the app, its ``--verbose`` option and its command groups, each in
its own module (commands and their renderers together); errors go through one boundary."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from soakgate.adapters.envfile import find_project, load_env
from soakgate.cli import (
    compare,
    demo,
    doctor,
    gates,
    inventory,
    ledger,
    logs,
    readiness,
    releases,
    report,
    rollback,
    stages,
    up,
)
from soakgate.cli.advisories import advisories_app
from soakgate.cli.boundary import run_app
from soakgate.cli.evidence import evidence_app
from soakgate.cli.hosts import hosts_app
from soakgate.cli.images import images_app
from soakgate.cli.incident import incident_app
from soakgate.cli.soak import soak_app

app = typer.Typer(
    name="soakgate",
    help="Ship a Python web service through dev, staging and production; bring it back fast.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_state = {"verbose": False}

COMMANDS = (
    doctor.doctor,
    up.up,
    demo.demo,
    up.build,
    releases.releases,
    stages.deploy,
    stages.status,
    stages.verify,
    gates.gates,
    gates.promote,
    rollback.rollback,
    rollback.drill,
    rollback.drills,
    ledger.history,
    readiness.readiness,
    compare.compare,
    report.report,
    inventory.inventory,
    logs.logs,
)
for command in COMMANDS:
    app.command()(command)
app.add_typer(images_app, name="images", help="Base images made offline.")
app.add_typer(evidence_app, name="evidence", help="Evidence for the promotion gates.")
app.add_typer(advisories_app, name="advisories", help="The OSV advisory directory.")
app.add_typer(soak_app, name="soak", help="Soak monitoring of a stage.")
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(incident_app, name="incident")
app.add_typer(hosts_app, name="hosts", help="A stage's Docker hosts over SSH.")


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    _state["verbose"] = verbose


def main() -> None:
    """Console-script entry point."""
    load_env(find_project())
    sys.exit(run_app(lambda: app(standalone_mode=False), lambda: bool(_state["verbose"])))
