"""The ``soakgate`` command: one function per subcommand; errors become one line and an exit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from soakgate.adapters.envfile import find_project, load_env
from soakgate.cli.output import console, err_console, report_error
from soakgate.errors import ConfigError, SoakgateError

app = typer.Typer(
    name="soakgate",
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


def project_root() -> Path:
    """Return the soakgate project around the current directory, or fail with a fix."""
    project = find_project()
    if project is None:
        raise ConfigError(
            "not inside a soakgate project (no Pulumi.yaml and pyproject.toml here or above)",
            hint="cd into the soakgate checkout",
        )
    return project


@app.command()
def doctor() -> None:
    """Check the toolchain: engine, Pulumi CLI, language host, venv, disk, base images."""
    from soakgate.adapters.toolchain_probe import read_toolchain
    from soakgate.app.doctor import doctor as run_doctor
    from soakgate.cli.doctor import render_doctor

    report = run_doctor(project_root(), read_toolchain)
    console.print(render_doctor(report))
    if report.missing:
        names = ", ".join(part.name for part in report.missing)
        err_console.print(f"error: missing: {names}", markup=False, highlight=False)
        err_console.print("hint: run ./bootstrap, then source .soakgate/env", markup=False)
    raise typer.Exit(report.exit_code)


def main() -> None:
    """Console-script entry point."""
    load_env(find_project())
    try:
        code = app(standalone_mode=False)
    except SoakgateError as error:
        code = report_error(error, _state["verbose"])
    except click.exceptions.Abort:
        err_console.print("aborted", markup=False)
        code = 130
    except click.exceptions.ClickException as error:
        error.show()
        code = error.exit_code
    sys.exit(code if isinstance(code, int) else 0)
