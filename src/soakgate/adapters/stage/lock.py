"""One change per stage at a time: an ``flock`` held by the kernel for the whole command.

    with stage_lock(state_dir, "staging", "soakgate deploy", wait=0):
        ...            # released in a finally, also on Ctrl-C; by the kernel on SIGKILL

The lock is the kernel's exclusive ``flock`` on ``<state>/locks/<stage>.lock``: it is
released when the holding process dies, however it dies, so there is no stale lock to guess
about and nothing is ever deleted. The file is never removed; what it *contains* (command,
pid, user, host, since) is written after the lock is taken and is for display only.

Children of the holder take part in its lock: the holder puts a random token into
``SOAKGATE_LOCK_TOKENS`` for the processes it starts (``pulumi up`` and its dynamic-provider
plugin), and a ``stage_lock`` that finds the lock held under one of its own tokens enters
without waiting. Everyone else — a plain ``pulumi up``, another ``soakgate`` command, the
host-side runbooks (``flock(1)`` on the same path) — waits up to ``wait`` seconds and is then
refused with the holder's description.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from pathlib import Path

from soakgate.errors import LockHeld

TOKENS_ENV = "SOAKGATE_LOCK_TOKENS"  # "stage:token,stage:token" of the locks our parents hold
WAIT_ENV = "SOAKGATE_LOCK_WAIT"  # seconds a lock taker without --lock-wait waits (default 0)
POLL = 0.05


def lock_path(state_dir: Path, stage: str) -> Path:
    return state_dir / "locks" / f"{stage}.lock"


def parse_holder(text: str) -> dict[str, object] | None:
    """The lock file's record, or None when it is empty or unreadable."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def read_holder(path: Path) -> dict[str, object] | None:
    """What the lock file says about its (last) holder, or None when it says nothing."""
    try:
        return parse_holder(path.read_text())
    except OSError:
        return None


def describe_holder(holder: dict[str, object] | None) -> str:
    """``user@host pid N (command) since T`` of a lock record (also the runbook's, on a host)."""
    if not holder:
        return "a process that has not written its name yet"
    return (
        f"{holder.get('user')}@{holder.get('host')} pid {holder.get('pid')}"
        f" ({holder.get('command')}) since {holder.get('since')}"
    )


def inherited_tokens(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """The ``stage -> token`` of the locks this process's parents hold for it."""
    raw = (environ if environ is not None else os.environ).get(TOKENS_ENV, "")
    pairs = (item.partition(":") for item in raw.split(",") if item)
    return {stage: token for stage, _, token in pairs if stage and token}


def default_wait(environ: MutableMapping[str, str] | None = None) -> float:
    """Seconds to wait for a held lock when the caller names none (``SOAKGATE_LOCK_WAIT``)."""
    raw = (environ if environ is not None else os.environ).get(WAIT_ENV, "")
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        return 0.0
    return value if 0 <= value < float("inf") else 0.0


def is_locked(state_dir: Path, stage: str) -> bool:
    """Whether some live process holds the stage's lock right now (takes nothing)."""
    path = lock_path(state_dir, stage)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own flock, if it got one
    return False


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _write_record(fd: int, record: dict[str, object]) -> None:
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


@contextlib.contextmanager
def stage_lock(
    state_dir: Path,
    stage: str,
    command: str,
    *,
    wait: float | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> Iterator[dict[str, object]]:
    """Hold the stage's lock for the ``with`` block; wait up to ``wait`` seconds for it
    (``None``: ``SOAKGATE_LOCK_WAIT``, else refuse at once). ``LockHeld`` names the holder."""
    del warn  # a kernel lock is never stale: nothing to recover, nothing to warn about
    limit = default_wait() if wait is None else wait
    path = lock_path(state_dir, stage)
    fd = _open(path)
    deadline = time.monotonic() + limit
    mine = inherited_tokens().get(stage)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = read_holder(path)
                if mine and holder is not None and holder.get("token") == mine:
                    yield holder  # our parent holds it for us (pulumi up under soakgate)
                    return
                if time.monotonic() >= deadline:
                    pid = holder.get("pid") if holder else None
                    raise LockHeld(
                        f"stage {stage} is locked by {describe_holder(holder)}",
                        hint="wait for it to finish (or give --lock-wait SECONDS)"
                        + (f"; if it hangs, stop pid {pid}" if pid else ""),
                    ) from None
                time.sleep(POLL)
        token = secrets.token_hex(16)
        record: dict[str, object] = {
            "pid": os.getpid(),
            "user": getpass.getuser(),
            "host": socket.gethostname(),
            "command": command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "token": token,
        }
        _write_record(fd, record)
        before = os.environ.get(TOKENS_ENV)
        os.environ[TOKENS_ENV] = ",".join(filter(None, [before, f"{stage}:{token}"]))
        try:
            yield record
        finally:
            if before is None:
                os.environ.pop(TOKENS_ENV, None)
            else:
                os.environ[TOKENS_ENV] = before
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock
