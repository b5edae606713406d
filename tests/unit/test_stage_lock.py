"""The stage lock is the kernel's flock: one holder, released when the holder dies, however."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soakgate.adapters.stage.lock import (
    TOKENS_ENV,
    inherited_tokens,
    is_locked,
    lock_path,
    read_holder,
    stage_lock,
)
from soakgate.errors import LockHeld

HOLD = """
import sys, time
from pathlib import Path
from soakgate.adapters.stage.lock import stage_lock
with stage_lock(Path(sys.argv[1]), sys.argv[2], "holder"):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(state: Path, stage: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state), stage], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_holder_is_written_and_cleared(tmp_path: Path) -> None:
    with stage_lock(tmp_path, "dev", "soakgate deploy") as record:
        assert read_holder(lock_path(tmp_path, "dev")) == record
        assert record["command"] == "soakgate deploy" and record["pid"] == os.getpid()
        assert is_locked(tmp_path, "dev")
    assert not is_locked(tmp_path, "dev")
    assert lock_path(tmp_path, "dev").read_text() == ""  # never deleted, emptied
    assert oct(lock_path(tmp_path, "dev").stat().st_mode & 0o777) == "0o600"


def test_lock_is_released_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), stage_lock(tmp_path, "dev", "soakgate deploy"):
        raise KeyboardInterrupt
    assert not is_locked(tmp_path, "dev")
    assert TOKENS_ENV not in os.environ


def test_live_holder_is_named_and_a_sigkill_frees_it_at_once(tmp_path: Path) -> None:
    proc = _holder(tmp_path, "staging")
    try:
        with pytest.raises(LockHeld) as held, stage_lock(tmp_path, "staging", "soakgate x"):
            pass
        assert f"pid {proc.pid} (holder)" in held.value.message
        assert "--lock-wait" in held.value.hint
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # No stale lock to guess about: the kernel let go with the process.
    with stage_lock(tmp_path, "staging", "soakgate deploy", wait=0) as record:
        assert record["pid"] == os.getpid()


def test_waiting_is_bounded_and_takes_the_lock_when_freed(tmp_path: Path) -> None:
    proc = _holder(tmp_path, "prod")
    started = time.monotonic()
    with pytest.raises(LockHeld), stage_lock(tmp_path, "prod", "soakgate x", wait=0.3):
        pass
    assert time.monotonic() - started >= 0.3
    proc.terminate()
    proc.wait()
    with stage_lock(tmp_path, "prod", "soakgate x", wait=5):
        assert is_locked(tmp_path, "prod")


def test_garbage_in_the_lock_file_is_only_a_description(tmp_path: Path) -> None:
    path = lock_path(tmp_path, "prod")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": 1, "user": "x", "command": "ghost"}))  # a live pid
    with stage_lock(tmp_path, "prod", "soakgate deploy") as record:
        assert record["command"] == "soakgate deploy"


def test_children_share_the_holders_lock_through_its_token(tmp_path: Path) -> None:
    """``pulumi up`` under ``soakgate deploy``: the provider enters; a stranger does not."""
    child = (
        "import sys; from pathlib import Path; from soakgate.adapters.stage.lock import"
        " stage_lock\nwith stage_lock(Path(sys.argv[1]), 'dev', 'provider'): print('in')"
    )
    with stage_lock(tmp_path, "dev", "soakgate deploy") as record:
        assert inherited_tokens() == {"dev": record["token"]}
        inside = subprocess.run(
            [sys.executable, "-c", child, str(tmp_path)], capture_output=True, text=True
        )
        assert inside.stdout.strip() == "in", inside.stderr
        stranger_env = {k: v for k, v in os.environ.items() if k != TOKENS_ENV}
        stranger = subprocess.run(
            [sys.executable, "-c", child, str(tmp_path)],
            capture_output=True,
            text=True,
            env=stranger_env,
        )
        assert stranger.returncode != 0 and "LockHeld" in stranger.stderr
        forged = subprocess.run(
            [sys.executable, "-c", child, str(tmp_path)],
            capture_output=True,
            text=True,
            env={**stranger_env, TOKENS_ENV: "dev:not-the-token"},
        )
        assert forged.returncode != 0


def test_stages_lock_independently(tmp_path: Path) -> None:
    with stage_lock(tmp_path, "dev", "a"), stage_lock(tmp_path, "staging", "b"):
        assert is_locked(tmp_path, "dev") and is_locked(tmp_path, "staging")


def _contend(state: str, rounds: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    inside = Path(state) / "inside"
    doubles = 0
    for _ in range(rounds):
        with stage_lock(Path(state), "dev", "contender", wait=60):
            try:
                fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                doubles += 1  # somebody else is inside: a double hold
                continue
            os.close(fd)
            time.sleep(0.0005)
            os.unlink(inside)
    results.put(doubles)


def test_no_double_hold_in_1000_contended_acquisitions(tmp_path: Path) -> None:
    """The O_EXCL + JSON scheme this replaced gave 2 double holds in 240 acquisitions."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=_contend, args=(str(tmp_path), 250, results)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    doubles = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert sum(doubles) == 0, f"{sum(doubles)} double holds in 1000 acquisitions"
