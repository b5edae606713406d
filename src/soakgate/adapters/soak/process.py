"""The monitor as an operating-system process: spawned detached, signalled, recognised.

child = PROCESSES.spawn(argv, cwd=project, log=log)   # new session, output to the log
PROCESSES.terminate(child.pid)                        # SIGTERM: commit and go
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from soakgate.adapters.process import process_alive


class OsProcesses:
    """Real processes (the :class:`soakgate.app.ports.Processes` of a command)."""

    def spawn(self, argv: list[str], *, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as output:
            return subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )

    def alive(self, pid: int | None) -> bool:
        return process_alive(pid)

    def terminate(self, pid: int) -> None:
        """SIGTERM ``pid``; one that is already gone is no error."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

    def is_monitor(self, pid: int) -> bool:
        """Whether ``pid`` runs a soak monitor (its command line says so)."""
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return b"soakgate.cli.soak" in command or (b"soak" in command and b"run" in command)


PROCESSES = OsProcesses()
