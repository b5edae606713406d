"""The consoles the CLI prints to, and the one place a domain error becomes a line on stderr."""

from __future__ import annotations

import traceback

from rich.console import Console

from soakgate.errors import SoakgateError

console = Console()
err_console = Console(stderr=True)


def report_error(error: SoakgateError, verbose: bool) -> int:
    """Print ``error: <message>`` (and a hint) on stderr; return the error's exit code."""
    if verbose:
        err_console.print(traceback.format_exc(), markup=False, highlight=False)
    err_console.print(f"error: {error.message}", markup=False, highlight=False, soft_wrap=True)
    if error.hint:
        err_console.print(f"hint: {error.hint}", markup=False, highlight=False, soft_wrap=True)
    return error.exit_code
