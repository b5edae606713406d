"""The arguments and options several commands share, each defined and checked once.

def deploy(stage: StageArg, lock_wait: LockWait = None) -> None: ...
"""

from __future__ import annotations

from typing import Annotated

import typer

from soakgate.cli.output import err_console
from soakgate.core.config import STAGES, check_stage
from soakgate.errors import ConfigError


def stage_choice(value: str) -> str:
    """A STAGE argument: one of the stages, else the one-line error (at parse time, before any
    command runs)."""
    check_stage(value, "STAGE")
    return value


StageArg = Annotated[
    str,
    typer.Argument(metavar="STAGE", help=" | ".join(STAGES), parser=stage_choice),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LockWait = Annotated[
    float | None, typer.Option(help="Seconds to wait for the stage lock (default: refuse).")
]


Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "--override",
        metavar="GATE",
        help="Pass this gate anyway, on the ledger as a bypass (repeatable; 'all' for every"
        " gate; needs --reason).",
    ),
]


def override_map(gates: list[str] | None, reason: str | None) -> dict[str, str]:
    """``--override`` values as {gate: reason}; a reason is required for any."""
    if not gates:
        return {}
    needs_reason("--override", reason)
    return dict.fromkeys(gates, (reason or "").strip())


def lock_wait_seconds(seconds: float | None) -> float | None:
    """A --lock-wait value: finite and not negative."""
    if seconds is not None and not 0 <= seconds < float("inf"):
        raise ConfigError(
            f"--lock-wait: should be a number of seconds >= 0, got {seconds}",
            hint="e.g. --lock-wait 30",
        )
    return seconds


def needs_reason(flag: str, reason: str | None) -> None:
    """``flag`` changes what soakgate would refuse: it needs a reason for the ledger."""
    if not (reason or "").strip():
        raise ConfigError(f"{flag} needs --reason TEXT", hint="the reason is kept on the ledger")


def warn(message: str) -> None:
    """A warning line on stderr (never markup)."""
    err_console.print(f"warning: {message}", markup=False, highlight=False)
