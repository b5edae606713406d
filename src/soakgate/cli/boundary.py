"""The one error boundary of every entry point (``soakgate`` and the spawned monitor's
``python -m soakgate.cli.soak``): what escapes a command becomes one line and an exit code.

    sys.exit(run_app(lambda: app(standalone_mode=False), verbose=lambda: state["verbose"]))
"""

from __future__ import annotations

from collections.abc import Callable

import typer
from typer._click import exceptions as click_exceptions  # the click that typer vendors

from soakgate.cli.output import err_console, report_error
from soakgate.cli.project import current_project
from soakgate.errors import EXIT_ABORTED, EXIT_INTERNAL, EXIT_OK, SoakgateError


def run_app(invoke: Callable[[], object], verbose: Callable[[], bool]) -> int:
    """Run ``invoke`` (a typer app in non-standalone mode) and return the exit code: a
    :class:`SoakgateError` is its message, hint and code; a usage error is click's message and
    code; Ctrl-C is "aborted"; anything else is a bug, one line (traceback with --verbose).
    Each run is one command: the project is read afresh (tests run several in one process)."""
    current_project.cache_clear()
    try:
        code = invoke()
    except SoakgateError as error:
        return report_error(error, verbose())
    except typer.Abort:
        err_console.print("aborted", markup=False)
        return EXIT_ABORTED
    except click_exceptions.ClickException as error:
        error.show()
        return error.exit_code
    except Exception as error:
        if verbose():
            raise
        err_console.print(
            f"error: internal error: {type(error).__name__}: {error}", markup=False, highlight=False
        )
        err_console.print("hint: run again with --verbose for the traceback", markup=False)
        return EXIT_INTERNAL
    return code if isinstance(code, int) else EXIT_OK
