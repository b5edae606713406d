"""The ledger in SQLite: table ``ledger`` in soakgate's state database, append-only.

store = LedgerStore.open()                       # <state dir>/soakgate.db, beside StateDB
store = LedgerStore(StateDB.open().connection)   # or share StateDB's connection
store.append("promote", stage="production", from_release=old, to_release=new,
             data={"gates": [r.to_dict() for r in results]})
store.events(stage="production")                 # oldest first
store.verify()                                   # [] when the chain is intact

Triggers refuse UPDATE and DELETE; whoever goes around them (editing the file, dropping the
triggers) still breaks the hash chain, which :meth:`LedgerStore.verify` reports.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soakgate.adapters.state_db import DB_FILE, state_dir
from soakgate.core.ledger import Event, make_event, verify_chain
from soakgate.errors import SoakgateError

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    stage TEXT,
    from_release TEXT,
    to_release TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS ledger_stage ON ledger (stage);
CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE refused'); END;
"""
_SELECT = (
    "SELECT seq, kind, time, actor, stage, from_release, to_release, data, prev_hash, hash"
    " FROM ledger"
)
_LAST = _SELECT + " ORDER BY seq DESC LIMIT 1"
_ALL = _SELECT + " ORDER BY seq"
_OF_STAGE = _SELECT + " WHERE stage = ? ORDER BY seq"
_INSERT = (
    "INSERT INTO ledger"
    " (seq, kind, time, actor, stage, from_release, to_release, data, prev_hash, hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _now() -> datetime:
    return datetime.now(UTC)


class LedgerStore:
    """Appends to and reads the ledger through one SQLite connection in autocommit mode."""

    def __init__(
        self, connection: sqlite3.Connection, clock: Callable[[], datetime] = _now
    ) -> None:
        if connection.isolation_level is not None:
            raise ValueError("LedgerStore needs a connection opened with isolation_level=None")
        self.connection = connection
        self.clock = clock
        try:
            connection.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise SoakgateError(
                f"cannot create the ledger table ({exc})",
                hint="check that the state database is writable and not corrupt",
            ) from exc

    @classmethod
    def open(
        cls, directory: Path | None = None, clock: Callable[[], datetime] = _now
    ) -> LedgerStore:
        """Open ``<state dir>/soakgate.db`` as StateDB does (WAL, synchronous=NORMAL)."""
        path = (directory or state_dir()) / DB_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(path, timeout=10, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise SoakgateError(
                f"state database {path} is unusable ({exc})",
                hint="move it aside and re-run; keep the old file: it holds the ledger",
            ) from exc
        return cls(connection, clock)

    def close(self) -> None:
        self.connection.close()

    def append(
        self,
        kind: str,
        *,
        actor: str | None = None,
        stage: str | None = None,
        from_release: str | None = None,
        to_release: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        """Add one event after the newest; two writers cannot fork the chain.

        The newest hash is read inside ``BEGIN IMMEDIATE`` (the write lock), so a concurrent
        append waits for this one; ``prev_hash UNIQUE`` enforces it again in the schema.
        ``actor`` defaults to the login name. ValueError for a bad kind or non-JSON data.
        """
        who = actor or getpass.getuser()
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise SoakgateError(
                f"cannot write to the ledger ({exc})",
                hint="another soakgate command holds the state database; retry when it is done",
            ) from exc
        try:
            row = self.connection.execute(_LAST).fetchone()
            previous = _event(row) if row else None
            event = make_event(
                previous, kind, self.clock(), who, stage, from_release, to_release, data
            )
            self.connection.execute(
                _INSERT,
                (
                    event.seq,
                    event.kind,
                    event.time,
                    event.actor,
                    event.stage,
                    event.from_release,
                    event.to_release,
                    json.dumps(event.data, sort_keys=True),
                    event.prev_hash,
                    event.hash,
                ),
            )
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")
        return event

    def events(self, stage: str | None = None) -> list[Event]:
        """Events oldest first; with ``stage``, only that stage's."""
        rows = (
            self.connection.execute(_OF_STAGE, (stage,))
            if stage is not None
            else self.connection.execute(_ALL)
        ).fetchall()
        return [_event(row) for row in rows]

    def verify(self) -> list[str]:
        """Problems with the stored chain, each naming a seq; [] when it is intact."""
        problems: list[str] = []
        events = []
        for row in self.connection.execute(_ALL):
            try:
                events.append(_event(row))
            except SoakgateError:
                problems.append(f"seq {row[0]}: data is not a JSON object: the entry was edited")
                events.append(_event((*row[:7], "{}", *row[8:])))  # so the chain check goes on
        return problems + verify_chain(events)


def _event(row: tuple[Any, ...]) -> Event:
    try:
        data = json.loads(row[7])
    except (TypeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise SoakgateError(
            f"ledger entry seq {row[0]} is unreadable",
            hint="run soakgate ledger verify: the file was changed outside soakgate",
        )
    return Event(
        seq=row[0],
        kind=row[1],
        time=row[2],
        actor=row[3],
        stage=row[4],
        from_release=row[5],
        to_release=row[6],
        data=data,
        prev_hash=row[8],
        hash=row[9],
    )
