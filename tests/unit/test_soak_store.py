"""The soak store: durable batches, resume, one monitor per stage, clear errors."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from soakgate.adapters.state.releases import StateDB
from soakgate.adapters.state.soaks import DB_FILE, SoakStore
from soakgate.core.soak import EngineSample, Sample
from soakgate.errors import LockHeld, SoakgateError
from soakgate.testing import Clock

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
T0 = 1_700_000_000.0  # Clock()'s default


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def rows_on_disk(directory: Path) -> int:
    """Count committed probes through a connection of its own."""
    with sqlite3.connect(directory / DB_FILE) as connection:
        return int(connection.execute("SELECT count(*) FROM probe_samples").fetchone()[0])


def test_samples_survive_a_reopen(tmp_path: Path) -> None:
    probes = [
        Sample(T0 + 0.25, True, 200, 12.345),
        Sample(T0 + 1.25, False, 503, 40.0, "HTTP 503"),
        Sample(T0 + 2.25, False, None, None, "ConnectTimeout"),
    ]
    engine = EngineSample(T0, 0, False, 123_456_789, 12.5, True)
    with SoakStore.open(tmp_path) as store, store.begin("staging", A, clock=Clock()) as recorder:
        for probe in probes:
            recorder.add(probe)
        recorder.add_engine(engine)
        soak_id = recorder.soak.id
    with SoakStore.open(tmp_path) as store:
        assert store.probe_samples(soak_id) == probes
        assert store.engine_samples(soak_id) == [engine]
        assert store.probe_rows(soak_id)[0] == (round((T0 + 0.25) * 1000), 1, 12345)
        assert store.latencies_ms(soak_id) == [12.345]
        assert store.probe_samples(soak_id, since=T0 + 1, until=T0 + 2) == probes[1:2]
        (soak,) = store.soaks("staging")
        assert (soak.release, soak.is_open, soak.pid, soak.state) == (
            A,
            True,
            None,
            "not enough data",
        )


def test_wal_and_pragmas(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path, busy_timeout=2.5) as store:
        pragma = store.connection.execute
        assert pragma("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert pragma("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert pragma("PRAGMA busy_timeout").fetchone()[0] == 2500


def test_it_shares_the_state_database(tmp_path: Path) -> None:
    StateDB.open(tmp_path).close()
    with SoakStore.open(tmp_path) as store:
        tables = {row[0] for row in store.connection.execute("SELECT name FROM sqlite_master")}
    assert {"releases", "soaks", "probe_samples", "engine_samples"} <= tables


def test_batches_commit_by_size_and_by_age(tmp_path: Path) -> None:
    clock = Clock()
    with SoakStore.open(tmp_path) as store:
        recorder = store.begin("dev", A, clock=clock, batch_size=10, batch_seconds=5.0)
        for i in range(9):
            recorder.add(Sample(T0 + i, True, 200, 1.0))
        assert (rows_on_disk(tmp_path), recorder.committed) == (0, 0)
        recorder.add(Sample(T0 + 9, True, 200, 1.0))
        assert (rows_on_disk(tmp_path), recorder.committed) == (10, 10)
        recorder.add(Sample(T0 + 10, True, 200, 1.0))
        clock.now += 5.0
        recorder.add(Sample(T0 + 11, True, 200, 1.0))
        assert rows_on_disk(tmp_path) == 12
        assert store.soak(recorder.soak.id).heartbeat == clock.now


def test_a_restarted_monitor_resumes_the_open_soak(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        with store.begin("staging", A, baseline=B) as first:
            first.add(Sample(T0, True, 200, 1.0))
        with store.begin("staging", A) as second:
            second.add(Sample(T0 + 1, True, 200, 1.0))
        assert second.soak.id == first.soak.id and second.soak.baseline == B
        assert store.probe_count(first.soak.id) == 2


def test_a_new_release_closes_the_old_soak_and_keeps_its_data(tmp_path: Path) -> None:
    warnings: list[str] = []
    with SoakStore.open(tmp_path) as store:
        with store.begin("staging", A, clock=Clock()) as old:
            old.add(Sample(T0, True, 200, 1.0))
        new = store.begin("staging", B, baseline=A, clock=Clock(T0 + 60), warn=warnings.append)
        closed = store.soak(old.soak.id)
        assert closed is not None and closed.ended_at == T0 + 60
        assert closed.end_reason == f"superseded by {B}"
        assert new.soak.id != old.soak.id and store.open_soak("staging") == new.soak
        assert store.probe_count(old.soak.id) == 1
        assert warnings == [f"stage staging: closed soak #{old.soak.id} of {A}, superseded by {B}"]
        assert store.baseline_latencies_ms(new.soak) == [1.0]
        new.close()


def test_a_second_live_monitor_is_refused_naming_the_pid(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store, SoakStore.open(tmp_path) as other:
        running = store.begin("staging", A, pid=os.getpid())
        with pytest.raises(LockHeld) as raised:
            other.begin("staging", A, pid=os.getpid() + 1_000_000)
        message = raised.value.message
        assert f"already soaked by monitor pid {os.getpid()}" in message
        assert "\n" not in message
        with pytest.raises(LockHeld):  # not for another release either
            other.begin("staging", B, pid=os.getpid() + 1_000_000)
        other.begin("dev", A, pid=os.getpid() + 1_000_000).close()  # other stages are free
        running.close()


def test_a_dead_monitor_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    gone = dead_pid()
    warnings: list[str] = []
    with SoakStore.open(tmp_path) as store:
        orphan = store.begin("staging", A, pid=gone)
        orphan.add(Sample(T0, True, 200, 1.0))
        orphan.flush()
        heir = store.begin("staging", A, warn=warnings.append)
        assert heir.soak.id == orphan.soak.id
        assert warnings == [
            f"stage staging: taking over soak #{orphan.soak.id} from monitor pid {gone},"
            " which is gone"
        ]
        orphan.add(Sample(T0 + 1, True, 200, 1.0))
        with pytest.raises(LockHeld, match="no longer this monitor's"):
            orphan.flush()
        heir.close()


def test_a_silent_live_monitor_is_taken_over(tmp_path: Path) -> None:
    warnings: list[str] = []
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, pid=os.getpid(), clock=Clock(T0))
        heir = store.begin("staging", A, pid=1, clock=Clock(T0 + 120), warn=warnings.append)
        assert warnings == [
            f"stage staging: taking over soak #{heir.soak.id} from monitor pid {os.getpid()},"
            " which has been silent for 120s"
        ]


def test_a_finished_soak_is_not_resumed(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        with store.begin("staging", A) as recorder:
            recorder.add(Sample(T0, True, 200, 1.0))
            recorder.finish("healthy", because="promoted")
        done = store.soak(recorder.soak.id)
        assert done is not None and (done.state, done.end_reason) == ("healthy", "promoted")
        assert store.open_soak("staging") is None
        with store.begin("staging", A) as again:
            assert again.soak.id != recorder.soak.id
            again.record_state("breached")
        assert store.soak(again.soak.id).state == "breached"


def test_a_corrupt_database_is_one_line_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE
    path.write_bytes(b"this is not sqlite\n" * 500)
    with pytest.raises(SoakgateError) as raised:
        SoakStore.open(tmp_path)
    message = raised.value.message
    assert message.startswith(f"state database {path} is corrupt (file is not a database)")
    assert f"mv {path} {path}.corrupt" in message
    assert "\n" not in message


def test_a_locked_database_is_one_line_and_keeps_the_batch(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path, busy_timeout=0.1) as store:
        recorder = store.begin("staging", A, batch_size=1000)
        recorder.add(Sample(T0, True, 200, 1.0))
        blocker = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(SoakgateError) as raised:
            recorder.flush()
        assert raised.value.message.startswith(f"state database {tmp_path / DB_FILE} is locked")
        assert "\n" not in raised.value.message
        blocker.execute("ROLLBACK")
        blocker.close()
        assert recorder.flush() == 1


def test_a_week_of_probes_stays_compact(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        recorder = store.begin("staging", A, batch_size=5000, clock=Clock())
        for i in range(20_000):
            recorder.add(Sample(T0 + i + 0.123, True, 200, 80.0 + i % 97 * 1.37))
        recorder.close()
        store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        per_probe = store.database_bytes() / 20_000
    assert per_probe < 60  # 604,800 probes ≈ 36 MB at most; the bench measures the real figure


WRITER = """
import sys
from pathlib import Path
from soakgate.adapters.state.soaks import SoakStore
from soakgate.core.soak import Sample

store = SoakStore.open(Path(sys.argv[1]))
recorder = store.begin("staging", sys.argv[2], batch_size=25, batch_seconds=3600)
reported = 0
i = 0
while True:
    recorder.add(Sample(1.7e9 + i, True, 200, 10.0))
    i += 1
    if recorder.committed != reported:
        reported = recorder.committed
        print(reported, flush=True)
"""


def test_sigkill_loses_no_committed_sample(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), A],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert writer.stdout is not None
    reported = 0
    try:
        for line in writer.stdout:
            reported = int(line)
            if reported >= 3000:
                break
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL and reported >= 3000
    warnings: list[str] = []
    with SoakStore.open(tmp_path) as store:
        on_disk = rows_on_disk(tmp_path)
        assert on_disk >= reported
        assert on_disk % 25 == 0  # whole batches only
        with store.begin("staging", A, warn=warnings.append) as heir:
            assert store.probe_count(heir.soak.id) == on_disk
    assert warnings and warnings[0].endswith(f"monitor pid {writer.pid}, which is gone")
