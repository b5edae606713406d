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
    """The lines of a failed Pulumi command that say what went wrong, without the noise."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    noise = ("Resource monitor has terminated", "update failed", "**failed**", "errored",
             "Traceback", "File \"", "raise ", "stdout:", "stderr:", "code:")  # fmt: skip
    useful: list[str] = []
    for line in lines:
        line = line.removeprefix("error: ")
        if any(marker in line for marker in noise) or line in useful:
            continue
        if "Exception: " in line or "Error: " in line or "error" in line.lower():
            useful.append(line.split("Exception: ", 1)[-1])
    return "\n".join(useful[-6:] or lines[-6:])
