"""One change per stage at a time: a lock file holding who took it, when, and for what.

    with stage_lock(state_dir, "staging", "soakgate deploy", wait=0):
        ...            # released in a finally, also on Ctrl-C

A lock whose process is gone is taken over with a warning; a live holder gives ``LockHeld``.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from soakgate.adapters.process import process_alive
from soakgate.errors import LockHeld


def lock_path(state_dir: Path, stage: str) -> Path:
    return state_dir / "locks" / f"{stage}.lock"


def parse_holder(text: str) -> dict[str, object] | None:
    """The lock file's record, or None when it is unreadable (then it counts as stale)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def read_holder(path: Path) -> dict[str, object] | None:
    """What the lock file says about its holder, or None when there is no (readable) lock."""
    try:
        return parse_holder(path.read_text())
    except OSError:
        return None


def describe_holder(holder: dict[str, object] | None) -> str:
    """``user@host pid N (command) since T`` of a lock record (also the runbook's, on a host)."""
    if not holder:
        return "an unreadable lock file"
    return (
        f"{holder.get('user')}@{holder.get('host')} pid {holder.get('pid')}"
        f" ({holder.get('command')}) since {holder.get('since')}"
    )


def _try_take(path: Path, record: dict[str, object]) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
    return True


@contextlib.contextmanager
def stage_lock(
    state_dir: Path,
    stage: str,
    command: str,
    *,
    wait: float = 0.0,
    warn: Callable[[str], None] = lambda message: None,
) -> Iterator[dict[str, object]]:
    """Hold the stage's lock for the ``with`` block; wait up to ``wait`` seconds for it."""
    path = lock_path(state_dir, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, object] = {
        "pid": os.getpid(),
        "user": getpass.getuser(),
        "host": socket.gethostname(),
        "command": command,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    deadline = time.monotonic() + wait
    while not _try_take(path, record):
        holder = read_holder(path)
        pid = holder.get("pid") if holder else None
        if holder is None or not isinstance(pid, int) or not process_alive(pid):
            warn(f"stage {stage}: recovering a stale lock left by {describe_holder(holder)}")
            path.unlink(missing_ok=True)
            continue
        if time.monotonic() >= deadline:
            raise LockHeld(
                f"stage {stage} locked by {describe_holder(holder)}",
                hint=f"wait for it to finish, or stop pid {pid} if it hangs",
            )
        time.sleep(0.1)
    try:
        yield record
    finally:
        if read_holder(path) == record:
            path.unlink(missing_ok=True)
