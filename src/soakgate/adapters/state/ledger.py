"""The ledger in SQLite: table ``ledger`` in soakgate's state database, append-only.

store = LedgerStore.open()                       # <state dir>/soakgate.db, beside StateDB
store = LedgerStore(StateDB.open().connection)   # or share StateDB's connection
store.append("promote", stage="production", from_release=old, to_release=new,
             data={"gates": [r.to_dict() for r in results]})
store.events(stage="production")                 # oldest first
store.verify()                                   # [] when the chain is intact
store.require_intact()                           # the events, or LedgerBroken naming why

Triggers refuse UPDATE and DELETE; whoever goes around them (editing the file, dropping the
triggers) still breaks the hash chain, which :meth:`LedgerStore.verify` reports. The newest
entry is also anchored in ``<state>/ledger.head`` (written atomically after each append
commits, under ``<state>/ledger.lock``), so deleted newest entries, an emptied database and a
rewritten, re-hashed chain are caught too. Appends are ``synchronous=FULL``.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.state.db import DB_FILE, Connected, connect, file_of, with_retry
from soakgate.core.ledger import (
    ANCHOR,
    Event,
    Head,
    check_anchor,
    head_of,
    make_event,
    parse_head,
    verify_chain,
)
from soakgate.errors import LedgerBroken, SoakgateError

HEAD_FILE = "ledger.head"
LOCK_FILE = "ledger.lock"
LOCK_WAIT = 10.0  # seconds an append waits for another one's anchor write

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
_AT = _SELECT + " WHERE seq = ?"
_ANCHORED = "SELECT 1 FROM ledger WHERE kind = ? LIMIT 1"
_INSERT = (
    "INSERT INTO ledger"
    " (seq, kind, time, actor, stage, from_release, to_release, data, prev_hash, hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LedgerCheck:
    """The result of :meth:`LedgerStore.check`: the events, what fails, what was repaired."""

    events: list[Event]
    problems: list[str]
    notes: list[str]
    head_path: Path | None


class LedgerStore(Connected):
    """Appends to and reads the ledger through one SQLite connection in autocommit mode.

    ``head_path``: where the head is anchored; by default ``ledger.head`` beside the database
    file (none for an in-memory database, which nobody can edit behind soakgate's back).
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        clock: Callable[[], datetime] = _now,
        head_path: Path | None = None,
    ) -> None:
        if connection.isolation_level is not None:
            raise ValueError("LedgerStore needs a connection opened with isolation_level=None")
        self.connection = connection
        self.clock = clock
        if head_path is None:
            database = file_of(connection)
            head_path = database.parent / HEAD_FILE if database else None
        self.head_path = head_path
        try:
            with_retry(lambda: connection.executescript(SCHEMA))
        except sqlite3.DatabaseError as exc:
            raise SoakgateError(
                f"cannot create the ledger table ({exc})",
                hint="check that the state database is writable and not corrupt",
            ) from exc

    @classmethod
    def open(
        cls, directory: Path | None = None, clock: Callable[[], datetime] = _now
    ) -> LedgerStore:
        """Open ``<state dir>/soakgate.db`` (:func:`soakgate.adapters.state.db.connect`)."""
        connection = connect(directory)
        database = file_of(connection)
        return cls(connection, clock, database.parent / HEAD_FILE if database else None)

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
        append waits for this one; ``prev_hash UNIQUE`` enforces it again in the schema. The
        commit is ``synchronous=FULL``; then the head is anchored, unless the head file
        disagrees with the database (then it is left as evidence for ``verify``). A ledger
        with no ``anchor`` event gets one first. ``actor`` defaults to the login name.
        ValueError for a bad kind or non-JSON data.
        """
        who = actor or getpass.getuser()
        with self._anchor_lock():
            return self._append_anchored(kind, who, stage, from_release, to_release, data)

    def _append_anchored(
        self,
        kind: str,
        who: str,
        stage: str | None,
        from_release: str | None,
        to_release: str | None,
        data: dict[str, Any] | None,
    ) -> Event:
        """:meth:`append` with the anchor lock held (an ``anchor`` event is not doubled)."""
        anchored, unreadable = self._read_head()
        with self._durable(), self._transaction():
            row = self.connection.execute(_LAST).fetchone()
            previous = _event(row) if row else None
            start = self.head_path is not None and not self._anchored()
            keep = (
                self.head_path is not None
                and not unreadable
                and (self._agrees(anchored, previous) if anchored else start)
            )
            if start and keep and anchored is None:
                # first the head as it is: a crash from here on leaves it behind, not absent
                try:
                    self._write_head(_head(previous))
                except OSError as exc:
                    raise SoakgateError(
                        f"{self.head_path}: cannot anchor the ledger ({exc.strerror})",
                        hint="free space or fix the state directory's permissions, then retry",
                    ) from None
            now = self.clock()
            if start and kind != ANCHOR:
                previous = self._insert(
                    make_event(previous, ANCHOR, now, who, None, None, None, _started(previous))
                )
            event = self._insert(
                make_event(previous, kind, now, who, stage, from_release, to_release, data)
            )
        if keep:
            # a failure here leaves the head behind: verify moves it forward and says so
            with contextlib.suppress(OSError):
                self._write_head(_head(event))
        return event

    def _insert(self, event: Event) -> Event:
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
        return event

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise SoakgateError(
                f"cannot write to the ledger ({exc})",
                hint="another soakgate command holds the state database; retry when it is done",
            ) from exc
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    @contextlib.contextmanager
    def _durable(self) -> Iterator[None]:
        """``synchronous=FULL`` for one transaction (the WAL is fsync-ed at its commit)."""
        (before,) = self.connection.execute("PRAGMA synchronous").fetchone()
        self.connection.execute("PRAGMA synchronous=FULL")
        try:
            yield
        finally:
            self.connection.execute(f"PRAGMA synchronous={int(before)}")

    @contextlib.contextmanager
    def _anchor_lock(self) -> Iterator[None]:
        """Hold ``ledger.lock`` (flock): commit and head write of one append, or a check."""
        if self.head_path is None:
            yield
            return
        path = self.head_path.with_name(LOCK_FILE)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except PermissionError:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise SoakgateError(
                    f"{path}: cannot open the ledger's lock ({exc.strerror})",
                    hint="run soakgate as the owner of the state directory",
                ) from None
        try:
            deadline = time.monotonic() + LOCK_WAIT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SoakgateError(
                            f"{path}: another soakgate command has held the ledger for"
                            f" {LOCK_WAIT:.0f} s",
                            hint="retry when it is done; a stopped process holds it until it ends",
                        ) from None
                    time.sleep(0.005)
            yield
        finally:
            os.close(fd)  # releases the flock

    def _read_head(self) -> tuple[Head | None, str]:
        """(the anchored head, None when absent; "" or "unreadable: …" / "corrupt: …")."""
        if self.head_path is None:
            return None, ""
        try:
            text = self.head_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, ""
        except (OSError, UnicodeDecodeError) as exc:
            return None, f"unreadable: {getattr(exc, 'strerror', None) or exc}"
        try:
            return parse_head(text), ""
        except ValueError as exc:
            return None, f"corrupt: {exc}"

    def _write_head(self, anchored: Head) -> None:
        assert self.head_path is not None
        write_atomic(self.head_path, anchored.to_json(), mode=0o600)

    def _anchored(self) -> bool:
        return self.connection.execute(_ANCHORED, (ANCHOR,)).fetchone() is not None

    def _agrees(self, anchored: Head, previous: Event | None) -> bool:
        """The head names the newest entry, or an older one still there: not tampered with."""
        if anchored.seq == 0:
            return True
        if previous is None or anchored.seq > previous.seq:
            return False
        row = self.connection.execute(_AT, (anchored.seq,)).fetchone()
        return row is not None and row[9] == anchored.hash

    def events(self, stage: str | None = None) -> list[Event]:
        """Events oldest first; with ``stage``, only that stage's."""
        rows = (
            self.connection.execute(_OF_STAGE, (stage,))
            if stage is not None
            else self.connection.execute(_ALL)
        ).fetchall()
        return [_event(row) for row in rows]

    def check(self) -> LedgerCheck:
        """Verify the chain and compare it with its anchored head; repair what is no tampering.

        A head left behind by an append interrupted after its commit is moved forward, and a
        ledger from before anchoring gets its ``anchor`` event: both said in ``notes``.
        """
        with self._anchor_lock():
            problems: list[str] = []
            events = []
            for row in self.connection.execute(_ALL):
                try:
                    events.append(_event(row))
                except SoakgateError:
                    problems.append(
                        f"seq {row[0]}: data is not a JSON object: the entry was edited"
                    )
                    events.append(_event((*row[:7], "{}", *row[8:])))  # the check goes on
            problems += verify_chain(events)
            if self.head_path is None:
                return LedgerCheck(events, problems, [], None)
            anchored, unreadable = self._read_head()
            if unreadable:
                word, _, why = unreadable.partition(": ")
                problems.append(f"anchor {word}: {self.head_path}: {why}")
                return LedgerCheck(events, problems, [], self.head_path)
            found = check_anchor(events, anchored, str(self.head_path), not problems)
            notes = list(found.notes)
            try:
                if found.start:
                    last = events[-1] if events else None
                    self._append_anchored(
                        ANCHOR, getpass.getuser(), None, None, None, _started(last)
                    )
                    events = self.events()
                elif found.write is not None:
                    self._write_head(found.write)
            except (OSError, SoakgateError) as exc:
                notes.append(f"could not anchor the ledger in {self.head_path}: {exc}")
            return LedgerCheck(events, problems + found.problems, notes, self.head_path)

    def reanchor(self, reason: str, actor: str | None = None) -> Event:
        """Accept the stored chain as it is (a person checked it): an ``anchor`` event with
        ``reason`` and what did not verify, then the head written whatever it said before.

        Refused (LedgerBroken) when the chain itself does not verify: only the anchor is reset.
        """
        if not reason.strip():
            raise SoakgateError(
                "re-anchoring needs a reason", hint="--reason TEXT, kept on the ledger"
            )
        if self.head_path is None:
            raise SoakgateError("an in-memory ledger has no anchor to reset")
        with self._anchor_lock():
            events = self.events()
            broken = verify_chain(events)
            if broken:
                raise LedgerBroken(
                    f"the chain itself does not verify ({broken[0]}): it cannot be re-anchored",
                    hint="soakgate ledger verify names every problem",
                )
            anchored, unreadable = self._read_head()
            found = check_anchor(events, anchored, HEAD_FILE).problems
            last = events[-1] if events else None
            data = {
                **_started(last),
                "reason": reason,
                "found": found + ([unreadable] if unreadable else []),
            }
            with self._durable(), self._transaction():
                event = self._insert(
                    make_event(
                        last,
                        ANCHOR,
                        self.clock(),
                        actor or getpass.getuser(),
                        None,
                        None,
                        None,
                        data,
                    )
                )
            try:
                self._write_head(_head(event))
            except OSError as exc:
                raise SoakgateError(
                    f"{self.head_path}: cannot anchor the ledger ({exc.strerror})",
                    hint="free space or fix the state directory's permissions, then retry",
                ) from None
            return event

    def verify(self) -> list[str]:
        """Problems with the stored chain and its anchor, each naming what was found."""
        return self.check().problems

    def require_intact(self) -> list[Event]:
        """The events, oldest first, when the ledger verifies; LedgerBroken naming why if not."""
        try:
            found = self.check()
        except sqlite3.DatabaseError as exc:
            database = self.head_path.with_name(DB_FILE) if self.head_path else "the ledger"
            raise LedgerBroken(
                f"{database}: unreadable ({exc}): the ledger cannot be verified",
                hint="restore it from a backup, or move it aside (keep it: it holds the ledger)",
            ) from None
        problems = found.problems
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise LedgerBroken(
                f"the ledger does not verify: {problems[0]}{more}",
                hint="soakgate ledger verify names every problem",
            )
        return found.events


def _head(event: Event | None) -> Head:
    """The head that anchors ``event`` as the newest entry (seq 0: an empty ledger)."""
    return Head(event.seq, event.hash, event.time, event.seq) if event else head_of([])


def _started(previous: Event | None) -> dict[str, Any]:
    """The data of the ``anchor`` event that starts anchoring after ``previous``."""
    return {"head": HEAD_FILE, "after_seq": previous.seq if previous else 0}


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
