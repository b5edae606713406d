"""Pulumi stacks of the project through the Automation API, on the same program and state as
plain ``pulumi up`` from the repo root (a LocalWorkspace on the project directory).

    stack = select_stack(project, "dev")
    stack.up(on_event=print)
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from pulumi import automation as auto

from soakgate.adapters.atomic_file import write_atomic
from soakgate.errors import MissingPart, SoakgateError

BOUND_DIR = "pulumi-bound"  # beside the pinned CLI's bin/: <root>/pulumi-bound/bin/pulumi


def bound_wrapper(pulumi: Path, setpriv: str) -> str:
    """A ``pulumi`` that receives SIGKILL when the process that started it dies."""
    command = f"{shlex.quote(setpriv)} --pdeathsig KILL -- {shlex.quote(str(pulumi))}"
    return f'#!/bin/sh\nexec {command} "$@"\n'


def _bound_root(pulumi: Path) -> Path | None:
    """The root of a wrapper that runs ``pulumi`` bound to its parent's life, so a soakgate
    command killed with SIGKILL takes its ``pulumi up`` (and so its plugins) with it instead of
    leaving an update running outside the stage lock. None when it cannot be had (no
    ``setpriv``, read-only directory): ``soakgate doctor`` names the missing part."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    root = pulumi.parent.parent / BOUND_DIR
    script = root / "bin" / "pulumi"
    text = bound_wrapper(pulumi.resolve(), setpriv)
    try:
        if not script.is_file() or script.read_text() != text:
            write_atomic(script, text, mode=0o755)
    except OSError:
        return None
    return root


def _pulumi_command() -> auto.PulumiCommand:
    """The ``pulumi`` on PATH (./bootstrap puts the pinned one first), bound to this process."""
    found = shutil.which("pulumi")
    if found is None:
        raise MissingPart(
            "the Pulumi CLI is not on PATH", hint="run ./bootstrap (soakgate loads its env file)"
        )
    real = Path(found)
    if real.parent.parent.name == BOUND_DIR:  # PATH already starts with the wrapper
        return auto.PulumiCommand(root=str(real.parent.parent), skip_version_check=True)
    root = _bound_root(real) or real.parent.parent
    return auto.PulumiCommand(root=str(root), skip_version_check=True)


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


_EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception|Failed)): (.+)$")


def error_summary(error: auto.errors.CommandError, context_lines: int = 8) -> str:
    """What went wrong in a failed Pulumi command: each distinct exception a provider or the
    program raised (without its traceback), with the lines it carried (a build log's tail)."""
    lines = str(error).splitlines()
    found: list[str] = []
    for index, line in enumerate(lines):
        match = _EXCEPTION_LINE.match(line)
        if not match or match.group(1) in ("RunError", "CommandError"):
            continue
        message = [match.group(2).strip()]
        for follow in lines[index + 1 : index + 1 + context_lines]:
            if (
                not follow.strip()
                or not follow.startswith("    ")
                or follow.strip().startswith("File ")
            ):
                break
            message.append("  " + follow.strip())
        text = "\n".join(message)
        if text not in found:
            found.append(text)
    if found:
        return "\n".join(found[-3:])
    tail = [line.strip() for line in lines if line.strip().startswith("error:")]
    return "\n".join(tail[-4:]) or "\n".join(line for line in lines[-6:] if line.strip())
