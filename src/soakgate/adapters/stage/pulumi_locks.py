"""Pulumi's own stack locks on the file backend, and what a killed ``pulumi up`` leaves.

    recover_stack_lock("staging", warn=print)   # a dead holder's lock: removed, with a warning
    clear_pending(stack, warn=print)            # pending operations of a killed update: cleared

A ``pulumi up`` killed half-way leaves ``<backend>/.pulumi/locks/…/<stack>/<id>.json`` (its pid,
user, host) and, in the checkpoint, the operations it had started. Every later command on the
stack then fails with "the stack is currently locked". Called under soakgate's stage lock (so
no live soakgate command is using the stack), a lock whose process is gone on this host is
stale and removed; one whose process lives is named with the command to end it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from soakgate.adapters.process import process_alive
from soakgate.errors import DeployFailed

Warn = Callable[[str], None]


def backend_dir(environ: dict[str, str] | None = None) -> Path | None:
    """The directory of a ``file://`` backend (``PULUMI_BACKEND_URL``), else None."""
    url = (environ if environ is not None else dict(os.environ)).get("PULUMI_BACKEND_URL", "")
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return Path(parsed.path or "/")


def stack_locks(stack: str, backend: Path) -> list[Path]:
    """The lock files of ``stack`` (project-scoped and legacy layouts)."""
    root = backend / ".pulumi" / "locks"
    if not root.is_dir():
        return []
    return sorted(path for path in root.rglob("*.json") if path.parent.name == stack)


def _holder(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


LIVE_WAIT = 30.0  # seconds to wait for a live pulumi on this host to let go of the stack
POLL = 0.2


def recover_stack_lock(
    stack: str, *, warn: Warn, backend: Path | None = None, wait: float = LIVE_WAIT
) -> int:
    """Remove the stack's locks left by processes that are gone; returns how many. A live
    holder on this host is waited for, up to ``wait`` seconds (under the stage lock, a plain
    ``pulumi up`` is refused by its provider and ends soon); after that, or for a holder on
    another host, ``DeployFailed`` names it and ``pulumi cancel``."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return _recover(stack, warn=warn, backend=backend)
        except _LiveHolder as live:
            if time.monotonic() >= deadline:
                raise live.failure from None
            time.sleep(POLL)


class _LiveHolder(Exception):
    def __init__(self, failure: DeployFailed) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _recover(stack: str, *, warn: Warn, backend: Path | None) -> int:
    directory = backend if backend is not None else backend_dir()
    if directory is None:
        return 0
    removed = 0
    here = socket.gethostname()
    for path in stack_locks(stack, directory):
        holder = _holder(path)
        pid = holder.get("pid") if holder else None
        host = holder.get("hostname") if holder else None
        who = (
            f"pid {pid} of {holder.get('username')}@{host} since {holder.get('timestamp')}"
            if holder
            else f"an unreadable lock file {path.name}"
        )
        if holder is not None and host == here and isinstance(pid, int) and process_alive(pid):
            raise _LiveHolder(
                DeployFailed(
                    f"the Pulumi stack {stack} is locked by a running pulumi ({who})",
                    hint=f"wait for it, or stop it: kill {pid}; then pulumi cancel --stack {stack}",
                )
            )
        if holder is not None and host != here:
            raise DeployFailed(
                f"the Pulumi stack {stack} is locked from another host ({who})",
                hint=f"if that process is gone: pulumi cancel --stack {stack} --yes",
            )
        warn(f"stack {stack}: removing Pulumi's lock left by a process that is gone ({who})")
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def clear_pending(stack: Any, *, warn: Warn) -> int:
    """Drop the pending operations a killed update left in ``stack``'s checkpoint (an
    Automation API ``Stack``); returns how many. soakgate's providers converge on what the
    engine really runs, so the next ``up`` (which refreshes) redoes whatever was cut short."""
    exported = stack.export_stack()
    deployment = exported.deployment or {}
    pending = deployment.get("pending_operations") or []
    if not pending:
        return 0
    names = ", ".join(
        f"{op.get('type', '?')} {str(op.get('resource', {}).get('urn', '?')).rsplit('::', 1)[-1]}"
        for op in pending
    )
    warn(f"stack {stack.name}: clearing {len(pending)} operation(s) a killed update left: {names}")
    deployment["pending_operations"] = []
    exported.deployment = deployment
    stack.import_stack(exported)
    return len(pending)
