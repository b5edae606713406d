"""Pulumi's stack locks on the file backend: a dead holder's lock is removed, a live one is
waited for (bounded) and then named."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from soakgate.adapters.stage.pulumi_locks import recover_stack_lock, stack_locks
from soakgate.errors import DeployFailed


def lock_file(backend: Path, stack: str, pid: int, host: str | None = None) -> Path:
    path = backend / ".pulumi" / "locks" / "organization" / "soakgate" / stack / f"{pid}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = {
        "pid": pid,
        "username": "ana",
        "hostname": host or socket.gethostname(),
        "timestamp": "2026-12-04T09:00:00Z",
    }
    path.write_text(json.dumps(holder))
    return path


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_dead_holders_lock_is_removed_with_a_warning(tmp_path: Path) -> None:
    path = lock_file(tmp_path, "staging", dead_pid())
    warned: list[str] = []
    assert recover_stack_lock("staging", warn=warned.append, backend=tmp_path, wait=0) == 1
    assert not path.exists() and not stack_locks("staging", tmp_path)
    assert len(warned) == 1 and "a process that is gone" in warned[0]


def test_a_live_holder_is_waited_for_then_named(tmp_path: Path) -> None:
    with subprocess.Popen(["sleep", "30"]) as holder:
        try:
            path = lock_file(tmp_path, "production", holder.pid)
            started = time.monotonic()
            with pytest.raises(DeployFailed) as refused:
                recover_stack_lock("production", warn=print, backend=tmp_path, wait=0.5)
            assert time.monotonic() - started >= 0.5
            assert f"pid {holder.pid}" in refused.value.message
            assert f"kill {holder.pid}" in refused.value.hint
            assert path.exists()  # a live holder's lock is never removed
        finally:
            holder.kill()


def test_a_live_holder_that_ends_within_the_wait_is_recovered(tmp_path: Path) -> None:
    with subprocess.Popen(["sleep", "30"]) as holder:
        path = lock_file(tmp_path, "dev", holder.pid)
        threading.Timer(0.3, holder.kill).start()  # it dies without removing its lock
        removed = recover_stack_lock("dev", warn=lambda _: None, backend=tmp_path, wait=10)
        holder.wait()
    assert removed == 1 and not path.exists()


def test_a_holder_on_another_host_is_named_at_once(tmp_path: Path) -> None:
    lock_file(tmp_path, "dev", 4242, host="other-host")
    with pytest.raises(DeployFailed) as refused:
        recover_stack_lock("dev", warn=print, backend=tmp_path, wait=30)
    assert "another host" in refused.value.message
    assert "pulumi cancel --stack dev" in refused.value.hint
