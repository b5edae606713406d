"""The consoles the CLI prints to, and the one place a domain error becomes a line on stderr."""

from __future__ import annotations

import re
import traceback

from rich.console import Console
from rich.markup import escape

from soakgate.errors import SoakgateError

console = Console()
err_console = Console(stderr=True)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(value: object) -> str:
    """User or ledger text made inert for a Rich console: markup escaped (``[/b]`` prints as
    it is instead of breaking the table), control characters (terminal escapes) shown as
    ``\\x1b``. Use it on every reason, release tag, message or path that goes into a markup
    string or a table cell."""
    return escape(inert(value))


def inert(value: object) -> str:
    """``value`` as text with its control characters (but newline and tab) made visible."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def report_error(error: SoakgateError, verbose: bool) -> int:
    """Print ``error: <message>`` (and a hint) on stderr; return the error's exit code."""
    if verbose:
        err_console.print(traceback.format_exc(), markup=False, highlight=False)
    err_console.print(
        f"error: {inert(error.message)}", markup=False, highlight=False, soft_wrap=True
    )
    if error.hint:
        err_console.print(
            f"hint: {inert(error.hint)}", markup=False, highlight=False, soft_wrap=True
        )
    return error.exit_code
