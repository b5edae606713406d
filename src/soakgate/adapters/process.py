"""Run external commands from argv lists and return a small :class:`Result` (as Invoke does)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from soakgate.errors import CommandFailed


@dataclass(frozen=True)
class Result:
    """What a finished command did."""

    command: tuple[str, ...]
    exited: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exited == 0

    def output_tail(self, lines: int) -> list[str]:
        """Return the last ``lines`` lines of stderr, or of stdout when stderr is empty."""
        text = self.stderr.strip() or self.stdout.strip()
        return text.splitlines()[-lines:] if text else []


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> Result:
    """Run ``command`` (an argv list, never a shell string) and capture its output.

    A missing executable gives exit code 127, as a shell would.
    """
    argv = tuple(command)
    try:
        completed = subprocess.run(
            argv, env=env, cwd=cwd, timeout=timeout, capture_output=True, text=True, check=False
        )
        result = Result(argv, completed.returncode, completed.stdout, completed.stderr)
    except FileNotFoundError:
        result = Result(argv, 127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        result = Result(argv, 124, stdout, f"timed out after {timeout} s")
    if check and not result.ok:
        raise CommandFailed(result)
    return result


def process_alive(pid: int | None) -> bool:
    """True for a running process (a zombie — killed, not yet reaped — is not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
