"""Run a command beside a process that leaks memory at a steady rate: a soak's planted leak.

    python leak_launcher.py 256 512 -- python -m app

Forks a child that, once a second, allocates KIB_PER_SECOND KiB, writes every byte of it (so
it is resident, not merely reserved) and keeps it, until it holds MAX_MIB MiB; the child ends
when its parent is gone. The parent then *execs* the command: the service keeps the launcher's
PID (PID 1 in a container), so signals, the exit status and the health check are the
service's own, and the leak counts in the container's memory as a leak of the service would.
Nothing is asked of the service. Standard library only: an image runs this text with
``python -I -c`` (soakgate.core.leak), which is why nothing here imports soakgate.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

USAGE = "usage: leak_launcher KIB_PER_SECOND MAX_MIB -- COMMAND [ARG...]  (both > 0)"


def source() -> str:
    """This program's text (for an image's ``ENTRYPOINT ["python", "-I", "-c", …]``)."""
    return Path(__file__).read_text()


def leak(kib_per_second: int, max_mib: int, parent: int) -> int:
    """Hold ``kib_per_second`` KiB more every second, up to ``max_mib`` MiB, while ``parent``
    is this process's parent; the bytes held when it ends."""
    chunk = kib_per_second * 1024
    limit = max_mib * 1024 * 1024
    held: list[bytes] = []
    total = 0
    due = time.monotonic()
    while os.getppid() == parent:
        if total + chunk <= limit:
            held.append(b"\xa5" * chunk)  # written, so resident
            total += chunk
        due += 1.0
        time.sleep(max(0.0, due - time.monotonic()))
    return total


def main(argv: list[str]) -> int:
    try:
        kib_per_second, max_mib = int(argv[0]), int(argv[1])
    except (IndexError, ValueError):
        kib_per_second, max_mib = 0, 0
    command = argv[3:] if argv[2:3] == ["--"] else argv[2:]
    if kib_per_second <= 0 or max_mib <= 0 or not command:
        print(USAGE, file=sys.stderr)
        return 2
    parent = os.getpid()
    if os.fork() == 0:
        try:
            leak(kib_per_second, max_mib, parent)
        finally:
            os._exit(0)
    try:
        os.execvp(command[0], command)
    except OSError as error:
        print(f"leak_launcher: cannot run {command[0]}: {error}", file=sys.stderr)
        return 127 if isinstance(error, FileNotFoundError) else 126
    return 0  # not reached: exec replaced this program


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
