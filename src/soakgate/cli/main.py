"""The ``soakgate`` command: the app, its ``--verbose`` option and its command groups, each in
its own module (commands and their renderers together); errors go through one boundary.

A command's module is imported only when that command runs (or when ``--help`` lists them
all): every command used to pay about half a second for importing every other one."""

from __future__ import annotations

import importlib
import sys
from difflib import get_close_matches
from typing import Annotated, Any

import typer
from typer._click import Command, Context  # the click that typer vendors
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from soakgate.adapters.envfile import find_project, load_env
from soakgate.cli.boundary import run_app

# name: "module:function" of a command, in the order ``--help`` lists them
COMMANDS = {
    "doctor": "doctor:doctor",
    "up": "up:up",
    "demo": "demo:demo",
    "build": "up:build",
    "releases": "releases:releases",
    "deploy": "stages:deploy",
    "status": "stages:status",
    "verify": "stages:verify",
    "gates": "gates:gates",
    "promote": "gates:promote",
    "rollback": "rollback:rollback",
    "drill": "rollback:drill",
    "drills": "rollback:drills",
    "history": "ledger:history",
    "readiness": "readiness:readiness",
    "compare": "compare:compare",
    "report": "report:report",
    "inventory": "inventory:inventory",
    "logs": "logs:logs",
}
# name: ("module:Typer app", its help, or None for the app's own)
GROUPS = {
    "images": ("images:images_app", "Base images made offline."),
    "evidence": ("evidence:evidence_app", "Evidence for the promotion gates."),
    "advisories": ("advisories:advisories_app", "The OSV advisory directory."),
    "soak": ("soak:soak_app", "Soak monitoring of a stage."),
    "ledger": ("ledger:ledger_app", None),
    "incident": ("incident:incident_app", None),
    "hosts": ("hosts:hosts_app", "A stage's Docker hosts over SSH."),
}


def _attribute(spec: str) -> Any:
    module, name = spec.split(":")
    return getattr(importlib.import_module(f"soakgate.cli.{module}"), name)


def load_command(name: str) -> Command | None:
    """The click command ``name`` as typer makes it, its module imported now; None if there
    is no such command."""
    holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    holder.callback()(lambda: None)  # a group, so the command keeps its name and help
    if name in COMMANDS:
        holder.command(name=name)(_attribute(COMMANDS[name]))
    elif name in GROUPS:
        spec, help_text = GROUPS[name]
        if help_text:
            holder.add_typer(_attribute(spec), name=name, help=help_text)
        else:  # the app's own
            holder.add_typer(_attribute(spec), name=name)
    else:
        return None
    group = typer.main.get_group(holder)
    return group.commands[name]


class LazyGroup(TyperGroup):
    """The top-level group: its commands are named up front and built on first use."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*COMMANDS, *GROUPS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands:
            command = load_command(cmd_name)
            if command is None:
                return None
            self.commands[cmd_name] = command
        return self.commands[cmd_name]

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        """typer's, with "Did you mean" drawn from every command, not only the loaded ones."""
        try:
            return super().resolve_command(ctx, args)
        except UsageError as error:
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "Did you mean" not in error.message:
                names = ", ".join(repr(match) for match in matches)
                error.message = f"{error.message.rstrip('.')}. Did you mean {names}?"
            raise


app = typer.Typer(
    name="soakgate",
    cls=LazyGroup,
    help="Ship a Python web service through dev, staging and production; bring it back fast.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_state = {"verbose": False}


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    _state["verbose"] = verbose


def main() -> None:
    """Console-script entry point."""
    load_env(find_project())
    sys.exit(run_app(lambda: app(standalone_mode=False), lambda: bool(_state["verbose"])))
