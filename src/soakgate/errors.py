"""The errors soakgate raises: each carries a message a user can act on and an exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from soakgate.adapters.process import Result


# Exit codes that are not an error's own (each error class below names its code).
EXIT_OK = 0
EXIT_INTERNAL = 70  # a bug, not a user's mistake (EX_SOFTWARE)
EXIT_ABORTED = 130  # Ctrl-C or a declined prompt


class SoakgateError(Exception):
    """Base of every error the CLI turns into one line on stderr."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message with its hint, for a table cell or a JSON field."""
        return self.message + (f" (hint: {self.hint})" if self.hint else "")


class ConfigError(SoakgateError):
    """A configuration file or option is wrong; the message names the path."""

    exit_code = 2


class MissingPart(SoakgateError):
    """A required part of the toolchain (engine, Pulumi CLI, venv …) is missing."""

    exit_code = 3


class CommandFailed(SoakgateError):
    """An external command exited non-zero; carries its :class:`Result`."""

    exit_code = 4

    def __init__(self, result: Result, what: str = "") -> None:
        tail = "\n".join(result.output_tail(10))
        label = what or " ".join(result.command[:3])
        super().__init__(
            f"{label} failed (exit {result.exited}): {' '.join(result.command)}"
            + (f"\n{tail}" if tail else "")
        )
        self.result = result


class DockerError(SoakgateError):
    """The Docker engine refused or failed an operation."""

    exit_code = 5


class HostUnreachable(DockerError):
    """A host's SSH does not answer, refuses soakgate's key, or dropped the connection."""


class LockHeld(SoakgateError):
    """Another live process is changing the same stage."""

    exit_code = 6


class DeployFailed(SoakgateError):
    """A deploy did not happen; traffic stayed where it was."""

    exit_code = 7


class VerifyFailed(SoakgateError):
    """The host checks of a stage found something wrong."""

    exit_code = 8


class RollbackFailed(SoakgateError):
    """A rollback could not be done, or did not end verified."""

    exit_code = 9


class LedgerBroken(SoakgateError):
    """The ledger's hash chain does not verify: an entry was edited, deleted or reordered."""

    exit_code = 10


class GateFailed(SoakgateError):
    """A promotion was refused: at least one gate failed and was not overridden. ``report``
    is the gate report it was refused on (the CLI prints it; nothing is judged twice)."""

    exit_code = 11

    def __init__(self, message: str, hint: str = "", report: object = None) -> None:
        super().__init__(message, hint)
        self.report = report


class SwitchRefused(SoakgateError):
    """A proxy switch did not happen: the proxy changed meanwhile, or the slot is unhealthy."""

    exit_code = 12


class PartialSwitch(DeployFailed):
    """Some hosts of a stage switched and some did not (named): a re-run converges them."""


class StageSplit(SoakgateError):
    """The hosts of a stage do not run the same slots: nothing is switched until they do."""

    exit_code = 14


class BadRelease(SoakgateError):
    """The release is quarantined (rolled back from, or its soak breached)."""

    exit_code = 13


class UnknownHostKey(ConfigError):
    """An SSH host's key is not in known_hosts: the runbook does not connect."""
