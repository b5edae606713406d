"""Pulumi stacks of the project through the Automation API, on the same program and state as
plain ``pulumi up`` from the repo root (a LocalWorkspace on the project directory).

    stack = select_stack(project, "dev")
    stack.up(on_event=print)
"""

from __future__ import annotations

import os
from pathlib import Path

from pulumi import automation as auto

from soakgate.errors import MissingPart, SoakgateError


def _pulumi_command() -> auto.PulumiCommand:
    home = os.environ.get("SOAKGATE_HOME")
    if not home or not (Path(home) / "bin" / "pulumi").exists():
        raise MissingPart("the Pulumi CLI is not installed", hint="run ./bootstrap")
    return auto.PulumiCommand(root=home, skip_version_check=True)


def workspace(project: Path) -> auto.LocalWorkspace:
    """A workspace on the project's own Pulumi.yaml, with the env ./bootstrap generated."""
    return auto.LocalWorkspace(work_dir=str(project), pulumi_command=_pulumi_command())


def select_stack(project: Path, name: str, *, create: bool = True) -> auto.Stack:
    """Select the stack ``name``, creating it on the file backend when it does not exist yet."""
    space = workspace(project)
    try:
        if create:
            return auto.Stack.create_or_select(name, space)
        return auto.Stack.select(name, space)
    except auto.errors.StackNotFoundError:
        raise SoakgateError(
            f"stack {name} does not exist", hint=f"deploy it first: soakgate deploy {name}"
        ) from None


def error_summary(error: auto.errors.CommandError) -> str:
    """The lines of a failed Pulumi command that say what went wrong."""
    text = str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    interesting = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    return "\n".join((interesting or lines)[-12:])
