"""One change per stage: a live holder refuses, a dead one is recovered with a warning."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from soakgate.adapters.stage_lock import lock_path, stage_lock
from soakgate.errors import LockHeld


def test_lock_is_released_after_the_block(tmp_path: Path) -> None:
    with stage_lock(tmp_path, "dev", "soakgate deploy") as record:
        assert json.loads(lock_path(tmp_path, "dev").read_text()) == record
    assert not lock_path(tmp_path, "dev").exists()


def test_lock_is_released_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), stage_lock(tmp_path, "dev", "soakgate deploy"):
        raise KeyboardInterrupt
    assert not lock_path(tmp_path, "dev").exists()


def test_live_holder_is_named(tmp_path: Path) -> None:
    with (
        stage_lock(tmp_path, "staging", "soakgate deploy"),
        pytest.raises(LockHeld) as raised,
        stage_lock(tmp_path, "staging", "soakgate rollback"),
    ):
        pass
    message = raised.value.message
    assert message.startswith("stage staging locked by ")
    assert "(soakgate deploy) since " in message


def test_stale_lock_is_recovered_with_a_warning(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    path = lock_path(tmp_path, "prod")
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps({"pid": proc.pid, "user": "ci", "host": "h", "command": "x", "since": "t"})
    )
    warnings: list[str] = []
    with stage_lock(tmp_path, "prod", "soakgate deploy", warn=warnings.append) as record:
        assert record["command"] == "soakgate deploy"
    assert warnings == [
        f"stage prod: recovering a stale lock left by ci@h pid {proc.pid} (x) since t"
    ]


def test_other_stages_are_independent(tmp_path: Path) -> None:
    with stage_lock(tmp_path, "dev", "a"), stage_lock(tmp_path, "staging", "b"):
        assert lock_path(tmp_path, "dev").exists() and lock_path(tmp_path, "staging").exists()
