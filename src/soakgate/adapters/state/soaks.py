"""Soaks and their samples, durable in SQLite (WAL) in soakgate's state database.

    store = SoakStore.open(state_dir)                  # <state_dir>/soakgate.db
    with store.begin("staging", release=digest, baseline=previous, warn=log) as recorder:
        recorder.add(Sample(t=time.time(), ok=True, status=200, latency_ms=12.5))
        recorder.add_engine(EngineSample(t, restarts=0, oom_killed=False,
                                         memory_bytes=m, cpu_percent=3.5))
    store.probe_samples(recorder.soak.id)              # -> list[Sample], for judge_soak

Durability: a recorder commits its batch every ``batch_size`` samples or, on the next ``add``,
once ``batch_seconds`` have passed since its last commit (call ``flush()`` or ``beat()`` when
no samples come). A crash of the monitor — even SIGKILL — loses at most the uncommitted batch;
every committed sample survives (WAL). With ``synchronous=NORMAL`` an OS crash or power cut
may also roll back the last commits since the WAL was last synced; the samples are
measurements, not money, and that is the usual WAL trade.

Ownership: one open soak per stage (a unique index says so). ``begin`` resumes the stage's open
soak when it is for the same release, and otherwise closes it (``ended_at``, "superseded by …")
and opens a new one: a soak's samples are never overwritten or mixed. A live monitor with a
fresh heartbeat refuses a second one (``LockHeld`` naming its pid); a gone or silent one is
taken over with a warning. Each commit re-checks ownership, so a monitor that was taken over
stops at its next commit. Times are stored as integer epoch milliseconds and latencies as
integer microseconds, in WITHOUT ROWID tables keyed by (soak_id, t): a week at one probe a
second plus an engine sample every 10 s takes about 17 MB (``bench/soak.py`` measures it).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from soakgate.adapters.process import process_alive
from soakgate.adapters.state.db import (
    DB_FILE,
    Connected,
    connect,
    database_error,
    database_path,
    file_of,
    with_retry,
)
from soakgate.core.soak import NOT_ENOUGH_DATA, EngineSample, Sample
from soakgate.errors import LockHeld, SoakgateError

__all__ = ["DB_FILE", "Soak", "SoakRecorder", "SoakStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS soaks (
    id INTEGER PRIMARY KEY,
    stage TEXT NOT NULL,
    release TEXT NOT NULL,          -- digest of the release soaking
    baseline TEXT,                  -- digest of the release it is compared with, or NULL
    started_at INTEGER NOT NULL,    -- epoch ms
    ended_at INTEGER,               -- epoch ms; NULL while the soak is open
    state TEXT NOT NULL,            -- the last verdict recorded: not enough data|healthy|breached
    end_reason TEXT,                -- "superseded by sha256:…", "stopped", …
    pid INTEGER,                    -- the monitor writing it, NULL when none
    heartbeat INTEGER,              -- epoch ms of that monitor's last commit
    time_scale REAL NOT NULL DEFAULT 1  -- > 1: an accelerated soak (soakgate demo)
);
CREATE UNIQUE INDEX IF NOT EXISTS soaks_open_per_stage ON soaks (stage) WHERE ended_at IS NULL;
CREATE TABLE IF NOT EXISTS probe_samples (
    soak_id INTEGER NOT NULL,
    t INTEGER NOT NULL,             -- epoch ms
    ok INTEGER NOT NULL,            -- 1 for a 2xx answer
    status INTEGER,                 -- HTTP status, NULL when none came
    latency_us INTEGER,             -- microseconds
    error TEXT,
    PRIMARY KEY (soak_id, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS engine_samples (
    soak_id INTEGER NOT NULL,
    t INTEGER NOT NULL,             -- epoch ms
    restarts INTEGER NOT NULL,
    oom_killed INTEGER NOT NULL,
    memory_bytes INTEGER NOT NULL,
    cpu_percent REAL NOT NULL,
    running INTEGER NOT NULL,
    PRIMARY KEY (soak_id, t)
) WITHOUT ROWID;
"""
_SOAK_COLUMNS = (
    "id, stage, release, baseline, started_at, ended_at, state, end_reason, pid, heartbeat,"
    " time_scale"
)


@dataclass(frozen=True)
class Soak:
    """One soak of one release on one stage; times in epoch seconds."""

    id: int
    stage: str
    release: str
    baseline: str | None
    started_at: float
    ended_at: float | None
    state: str
    end_reason: str | None
    pid: int | None
    heartbeat: float | None
    time_scale: float = 1.0  # > 1: the monitor ran on an accelerated clock

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Soak:
        ident, stage, release, baseline, started, ended, state, reason, pid, beat, scale = row
        return cls(
            id=int(ident),
            stage=str(stage),
            release=str(release),
            baseline=None if baseline is None else str(baseline),
            started_at=_seconds(started),
            ended_at=None if ended is None else _seconds(ended),
            state=str(state),
            end_reason=None if reason is None else str(reason),
            pid=None if pid is None else int(pid),
            heartbeat=None if beat is None else _seconds(beat),
            time_scale=float(scale),
        )


def _add_time_scale(connection: sqlite3.Connection) -> None:
    """Give a soaks table made before accelerated soaks its ``time_scale`` column (1: real)."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(soaks)")}
    if "time_scale" not in columns:
        with contextlib.suppress(sqlite3.OperationalError):  # another process just added it
            with_retry(
                lambda: connection.execute(
                    "ALTER TABLE soaks ADD COLUMN time_scale REAL NOT NULL DEFAULT 1"
                )
            )


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _seconds(ms: Any) -> float:
    return int(ms) / 1000.0


class SoakStore(Connected):
    """Soaks and samples in ``<state_dir>/soakgate.db``; reads here, writes via a recorder."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        self.lock = threading.RLock()

    @classmethod
    def open(cls, directory: Path | None = None, *, busy_timeout: float = 5.0) -> SoakStore:
        """Open (creating if needed) the state database; usable from the monitor's threads."""
        path = database_path(directory)
        connection = connect(directory, schema=SCHEMA, busy_timeout=busy_timeout, threads=True)
        _add_time_scale(connection)
        return cls(connection, path)

    @classmethod
    def on(cls, connection: sqlite3.Connection) -> SoakStore:
        """The soaks of an open connection (its tables created if needed)."""
        with_retry(lambda: connection.executescript(SCHEMA))
        _add_time_scale(connection)
        path = file_of(connection) or Path(":memory:")
        return cls(connection, path)

    @contextlib.contextmanager
    def guarded(self) -> Iterator[sqlite3.Connection]:
        """The connection, with SQLite errors turned into one-line ``SoakgateError``s."""
        with self.lock:
            try:
                yield self.connection
            except sqlite3.Error as exc:
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
                raise database_error(self.path, exc) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any exception."""
        with self.guarded() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # --- soaks -----------------------------------------------------------------------------

    def begin(
        self,
        stage: str,
        release: str,
        baseline: str | None = None,
        *,
        pid: int | None = None,
        clock: Callable[[], float] = time.time,
        stale_after: float = 30.0,
        batch_size: int = 100,
        batch_seconds: float = 1.0,
        warn: Callable[[str], None] = lambda message: None,
        time_scale: float = 1.0,
        anew: bool = False,
    ) -> SoakRecorder:
        """Claim the stage's soak of ``release`` for this monitor (``pid``, default ours).

        Resumes the open soak of the same release (its baseline stays the one it started
        with; ``time_scale`` must be its own); closes an open soak of another release, or with
        ``anew`` of any (an accelerated clock starts anew each run: its samples would
        overlap), and starts a new one. Refuses with
        ``LockHeld`` while another live monitor's heartbeat is younger than ``stale_after``.
        """
        me = os.getpid() if pid is None else pid
        now = clock()
        with self.transaction() as connection:
            current = self._open_soak(connection, stage)
            if current is not None and current.pid is not None and current.pid != me:
                age = None if current.heartbeat is None else now - current.heartbeat
                fresh = age is not None and age <= stale_after
                if process_alive(current.pid) and fresh:
                    raise LockHeld(
                        f"stage {stage} is already soaked by monitor pid {current.pid}"
                        f" (soak #{current.id}, heartbeat {age:.0f}s ago): stop pid"
                        f" {current.pid} first"
                    )
                why = (
                    "is gone"
                    if not process_alive(current.pid)
                    else f"has been silent for {age:.0f}s"
                    if age is not None
                    else "never reported"
                )
                warn(
                    f"stage {stage}: taking over soak #{current.id} from monitor pid"
                    f" {current.pid}, which {why}"
                )
            if current is not None and current.release == release and not anew:
                if current.time_scale != time_scale:
                    raise SoakgateError(
                        f"stage {stage}: soak #{current.id} runs on a clock"
                        f" x{current.time_scale:g}, this monitor on one x{time_scale:g}",
                        hint=f"end it first: soakgate soak stop {stage} --end",
                    )
                connection.execute(
                    "UPDATE soaks SET pid = ?, heartbeat = ? WHERE id = ?",
                    (me, _ms(now), current.id),
                )
                soak_id = current.id
            else:
                if current is not None:
                    why = (
                        "superseded by a fresh accelerated run"
                        if current.release == release
                        else f"superseded by {release}"
                    )
                    connection.execute(
                        "UPDATE soaks SET ended_at = ?, end_reason = ?, pid = NULL WHERE id = ?",
                        (_ms(now), why, current.id),
                    )
                    warn(f"stage {stage}: closed soak #{current.id} of {current.release}, {why}")
                cursor = connection.execute(
                    "INSERT INTO soaks (stage, release, baseline, started_at, state, pid,"
                    " heartbeat, time_scale) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (stage, release, baseline, _ms(now), NOT_ENOUGH_DATA, me, _ms(now), time_scale),
                )
                soak_id = int(cursor.lastrowid or 0)
        soak = self.soak(soak_id)
        assert soak is not None
        return SoakRecorder(
            self, soak, me, clock=clock, batch_size=batch_size, batch_seconds=batch_seconds
        )

    @staticmethod
    def _open_soak(connection: sqlite3.Connection, stage: str) -> Soak | None:
        row = connection.execute(
            f"SELECT {_SOAK_COLUMNS} FROM soaks WHERE stage = ? AND ended_at IS NULL", (stage,)
        ).fetchone()
        return None if row is None else Soak.from_row(row)

    def open_soak(self, stage: str) -> Soak | None:
        """The stage's open soak, if any."""
        with self.guarded() as connection:
            return self._open_soak(connection, stage)

    def soak(self, soak_id: int) -> Soak | None:
        with self.guarded() as connection:
            row = connection.execute(
                f"SELECT {_SOAK_COLUMNS} FROM soaks WHERE id = ?", (soak_id,)
            ).fetchone()
        return None if row is None else Soak.from_row(row)

    def soaks(self, stage: str | None = None) -> list[Soak]:
        """Every soak (of ``stage``), newest first."""
        query = f"SELECT {_SOAK_COLUMNS} FROM soaks"
        query += " WHERE stage = ? ORDER BY id DESC" if stage else " ORDER BY id DESC"
        with self.guarded() as connection:
            rows = connection.execute(query, (stage,) if stage else ()).fetchall()
        return [Soak.from_row(row) for row in rows]

    def baseline_soak(self, soak: Soak) -> Soak | None:
        """The newest soak of ``soak.baseline`` before ``soak``: on the same stage, else any."""
        if soak.baseline is None:
            return None
        with self.guarded() as connection:
            row = connection.execute(
                f"SELECT {_SOAK_COLUMNS} FROM soaks WHERE release = ? AND id < ?"
                " ORDER BY stage = ? DESC, id DESC LIMIT 1",
                (soak.baseline, soak.id, soak.stage),
            ).fetchone()
        return None if row is None else Soak.from_row(row)

    # --- samples ---------------------------------------------------------------------------

    def probe_count(self, soak_id: int) -> int:
        with self.guarded() as connection:
            row = connection.execute(
                "SELECT count(*) FROM probe_samples WHERE soak_id = ?", (soak_id,)
            ).fetchone()
        return int(row[0])

    def probe_samples(
        self, soak_id: int, since: float | None = None, until: float | None = None
    ) -> list[Sample]:
        """The soak's probes in time order (about 1 s for a week at 1 probe/s)."""
        rows = self._rows(
            "SELECT t, ok, status, latency_us, error FROM probe_samples", soak_id, since, until
        )
        return [
            Sample(t / 1000.0, bool(ok), status, None if us is None else us / 1000.0, error)
            for t, ok, status, us, error in rows
        ]

    def engine_samples(
        self, soak_id: int, since: float | None = None, until: float | None = None
    ) -> list[EngineSample]:
        rows = self._rows(
            "SELECT t, restarts, oom_killed, memory_bytes, cpu_percent, running"
            " FROM engine_samples",
            soak_id,
            since,
            until,
        )
        return [
            EngineSample(t / 1000.0, restarts, bool(oom), memory, cpu, bool(running))
            for t, restarts, oom, memory, cpu, running in rows
        ]

    def probe_rows(self, soak_id: int) -> list[tuple[int, int, int | None]]:
        """Raw ``(t_ms, ok, latency_us)`` rows in time order: cheap input for reports."""
        return self._rows("SELECT t, ok, latency_us FROM probe_samples", soak_id, None, None)

    def engine_rows(self, soak_id: int) -> list[tuple[int, int, int, int]]:
        """Raw ``(t_ms, restarts, oom_killed, memory_bytes)`` rows in time order."""
        return self._rows(
            "SELECT t, restarts, oom_killed, memory_bytes FROM engine_samples", soak_id, None, None
        )

    def latencies_ms(self, soak_id: int) -> list[float]:
        """Latencies of the soak's ok probes, in time order."""
        rows = self._rows(
            "SELECT latency_us FROM probe_samples",
            soak_id,
            None,
            None,
            extra=" AND ok = 1 AND latency_us IS NOT NULL",
        )
        return [us / 1000.0 for (us,) in rows]

    def baseline_latencies_ms(self, soak: Soak) -> list[float]:
        """Latencies of the baseline release's newest soak (empty when there is none)."""
        baseline = self.baseline_soak(soak)
        return [] if baseline is None else self.latencies_ms(baseline.id)

    def _rows(
        self,
        select: str,
        soak_id: int,
        since: float | None,
        until: float | None,
        extra: str = "",
    ) -> list[Any]:
        query = f"{select} WHERE soak_id = ?{extra}"
        params: list[object] = [soak_id]
        if since is not None:
            query += " AND t >= ?"
            params.append(_ms(since))
        if until is not None:
            query += " AND t <= ?"
            params.append(_ms(until))
        with self.guarded() as connection:
            return connection.execute(query + " ORDER BY t", params).fetchall()

    def database_bytes(self) -> int:
        """Size of the database file and its WAL, in bytes."""
        wal = self.path.with_name(self.path.name + "-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


class SoakRecorder:
    """The monitor's writer for one soak: batches samples, commits them with a heartbeat.

    Thread-safe. ``committed`` counts the samples of this recorder known to be on disk.
    """

    def __init__(
        self,
        store: SoakStore,
        soak: Soak,
        pid: int,
        *,
        clock: Callable[[], float] = time.time,
        batch_size: int = 100,
        batch_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.soak = soak
        self.pid = pid
        self.clock = clock
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.committed = 0
        self._probes: list[tuple[object, ...]] = []
        self._engines: list[tuple[object, ...]] = []
        self._last_commit = clock()

    def add(self, sample: Sample) -> None:
        """Buffer a probe; commits the batch when it is full or old enough."""
        latency = None if sample.latency_ms is None else round(sample.latency_ms * 1000)
        row = (self.soak.id, _ms(sample.t), int(sample.ok), sample.status, latency, sample.error)
        with self.store.lock:
            self._probes.append(row)
            self._flush_if_due()

    def add_engine(self, sample: EngineSample) -> None:
        row = (
            self.soak.id,
            _ms(sample.t),
            sample.restarts,
            int(sample.oom_killed),
            sample.memory_bytes,
            float(sample.cpu_percent),
            int(sample.running),
        )
        with self.store.lock:
            self._engines.append(row)
            self._flush_if_due()

    def _flush_if_due(self) -> None:
        pending = len(self._probes) + len(self._engines)
        if pending >= self.batch_size or self.clock() - self._last_commit >= self.batch_seconds:
            self.flush()

    def flush(self) -> int:
        """Commit the buffered samples and the heartbeat; return how many samples."""
        with self.store.lock:
            if not self._probes and not self._engines:
                return 0
            return self._commit()

    def beat(self) -> None:
        """Commit what is buffered and refresh the heartbeat, also with nothing buffered."""
        with self.store.lock:
            self._commit()

    def _commit(self, state: str | None = None, end_reason: str | None = None) -> int:
        now = self.clock()
        with self.store.transaction() as connection:
            owned = connection.execute(
                "UPDATE soaks SET heartbeat = ?, state = coalesce(?, state)"
                " WHERE id = ? AND pid = ? AND ended_at IS NULL",
                (_ms(now), state, self.soak.id, self.pid),
            ).rowcount
            if not owned:
                raise LockHeld(
                    f"soak #{self.soak.id} on stage {self.soak.stage} is no longer this"
                    f" monitor's (pid {self.pid}): another monitor took it over or it was closed"
                )
            if self._probes:
                connection.executemany(
                    "INSERT OR IGNORE INTO probe_samples VALUES (?, ?, ?, ?, ?, ?)", self._probes
                )
            if self._engines:
                connection.executemany(
                    "INSERT OR IGNORE INTO engine_samples VALUES (?, ?, ?, ?, ?, ?, ?)",
                    self._engines,
                )
            if end_reason is not None:
                connection.execute(
                    "UPDATE soaks SET ended_at = ?, end_reason = ?, pid = NULL WHERE id = ?",
                    (_ms(now), end_reason, self.soak.id),
                )
        count = len(self._probes) + len(self._engines)
        self.committed += count
        self._probes.clear()
        self._engines.clear()
        self._last_commit = now
        return count

    def record_state(self, state: str) -> None:
        """Commit what is buffered and the latest verdict's state ("healthy", "breached" …)."""
        with self.store.lock:
            self._commit(state=state)

    def finish(self, state: str | None = None, because: str = "stopped") -> None:
        """Commit what is buffered and end the soak; a later ``begin`` starts a new one."""
        with self.store.lock:
            self._commit(state=state, end_reason=because)

    def close(self) -> None:
        """Commit what is buffered and let go of the soak (it stays open for a resume)."""
        with self.store.lock:
            if self._probes or self._engines:
                self._commit()
            with self.store.transaction() as connection:
                connection.execute(
                    "UPDATE soaks SET pid = NULL WHERE id = ? AND pid = ?",
                    (self.soak.id, self.pid),
                )

    def __enter__(self) -> SoakRecorder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if error is None:
            self.close()
        else:  # do not hide the error in flight behind a failing close
            with contextlib.suppress(SoakgateError):
                self.close()
