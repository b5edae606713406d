"""The ledger: hash chain in core, append-only SQLite store, tampering detected."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.core.ledger import GENESIS, Event, event_hash, head, make_event, verify_chain
from soakgate.core.release import Release
from soakgate.testing import TickingClock

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
OLD, NEW = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def chain(length: int = 4) -> list[Event]:
    events: list[Event] = []
    for index in range(length):
        events.append(
            make_event(
                events[-1] if events else None,
                "deploy",
                T0 + timedelta(minutes=index),
                "ana",
                "dev",
                OLD,
                NEW,
                {"seconds": 40 + index, "gates": [{"name": "coverage", "passed": True}]},
            )
        )
    return events


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    return LedgerStore.open(tmp_path, clock=TickingClock(T0))


def fill(store: LedgerStore) -> None:
    store.append("build", actor="ci", to_release=NEW, data={"python": "3.14.0"})
    store.append(
        "deploy",
        actor="ana",
        stage="dev",
        from_release=OLD,
        to_release=NEW,
        data={"seconds": 41, "budget": 28800},
    )
    store.append(
        "promote",
        actor="ana",
        stage="staging",
        from_release=OLD,
        to_release=NEW,
        data={"gates": [{"name": "coverage", "passed": True, "measured": "83.36 %"}]},
    )
    store.append(
        "rollback",
        actor="bo",
        stage="staging",
        from_release=NEW,
        to_release=OLD,
        data={"seconds": 3.2, "budget": 14400, "margin": 14396.8},
    )


def raw(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "soakgate.db", isolation_level=None)


# --- the chain in core ----------------------------------------------------------------------


def test_an_intact_chain_verifies() -> None:
    events = chain()
    assert verify_chain(events) == []
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert events[0].time == "2025-06-02T09:00:00.000000Z"
    assert head(events) == (4, events[-1].hash)
    assert head([]) == (0, GENESIS)


def test_the_hash_covers_every_field() -> None:
    event = chain(1)[0]
    for change in (
        {"seq": 2},
        {"kind": "rollback"},
        {"time": "2025-06-02T09:00:00.000001Z"},
        {"actor": "eve"},
        {"stage": "production"},
        {"from_release": None},
        {"to_release": OLD},
        {"data": {"seconds": 41, "gates": [{"name": "coverage", "passed": True}]}},
        {"prev_hash": "1" * 64},
    ):
        assert event_hash(replace(event, **change)) != event.hash, change


def test_an_edited_entry_is_named() -> None:
    events = chain()
    events[2] = replace(events[2], data={**events[2].data, "seconds": 1})
    assert verify_chain(events) == ["seq 3: hash mismatch: the entry was edited"]


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    events = chain()
    forged = replace(events[1], actor="eve")
    events[1] = replace(forged, hash=event_hash(forged))
    assert verify_chain(events) == [
        "seq 3: prev_hash does not match seq 2: an entry was replaced or the chain was forked"
    ]


def test_a_deleted_entry_is_detected() -> None:
    events = chain()
    del events[1]
    assert verify_chain(events) == ["seq 3: seq 2 missing: entries were deleted"]
    assert verify_chain(chain()[1:]) == ["seq 2: seq 1 missing: entries were deleted"]
    events = chain(6)
    del events[1:4]
    assert verify_chain(events) == ["seq 5: seq 2-4 missing: entries were deleted"]


def test_reordered_entries_are_detected() -> None:
    events = chain()
    events[1], events[2] = events[2], events[1]
    assert verify_chain(events) == ["seq 2: out of order (comes after seq 3)"]
    assert verify_chain([*chain(), chain()[3]]) == ["seq 4: appears twice"]


def test_a_renumbered_entry_is_detected() -> None:
    events = chain()
    del events[1]
    events[1] = replace(events[1], seq=2)  # hide the gap
    assert verify_chain(events)[0] == "seq 2: hash mismatch: the entry was edited"


@pytest.mark.parametrize(
    ("kind", "when", "data", "message"),
    [
        ("deploy", T0, {"x": float("nan")}, "ledger data is not plain JSON"),
        ("deploy", T0, {"x": object()}, "ledger data is not plain JSON"),
        ("party", T0, {}, "unknown ledger event kind 'party'"),
        ("deploy", datetime(2025, 6, 2, 9, 0), {}, "ledger times must be timezone-aware"),
    ],
)
def test_bad_events_are_refused(
    kind: str, when: datetime, data: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_event(None, kind, when, "ana", "dev", None, None, data)


def test_times_are_stored_in_utc() -> None:
    event = make_event(
        None,
        "drill",
        datetime(2025, 6, 2, 11, 0, tzinfo=timezone(timedelta(hours=2))),
        "ana",
        "production",
        None,
        None,
    )
    assert event.time == "2025-06-02T09:00:00.000000Z"


# --- the SQLite store -----------------------------------------------------------------------


def test_append_and_read_back(store: LedgerStore) -> None:
    fill(store)
    events = store.events()
    assert [(e.seq, e.kind, e.stage) for e in events] == [
        (1, "anchor", None),  # a new ledger is anchored from its start
        (2, "build", None),
        (3, "deploy", "dev"),
        (4, "promote", "staging"),
        (5, "rollback", "staging"),
    ]
    assert events[0].data == {"head": "ledger.head", "after_seq": 0}
    assert events[4].data == {"seconds": 3.2, "budget": 14400, "margin": 14396.8}
    assert events[1].time == "2025-06-02T09:00:01.000000Z"
    assert [e.seq for e in store.events(stage="staging")] == [4, 5]
    assert store.verify() == []
    assert verify_chain(events) == []


def test_the_actor_defaults_to_the_login_name(store: LedgerStore) -> None:
    assert store.append("drill", stage="production").actor


def test_update_and_delete_are_refused_by_triggers(store: LedgerStore, tmp_path: Path) -> None:
    fill(store)
    connection = raw(tmp_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE refused"):
        connection.execute("UPDATE ledger SET actor = 'eve' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE refused"):
        connection.execute("DELETE FROM ledger WHERE seq = 2")
    assert store.verify() == []


def test_a_forked_chain_is_refused_by_the_schema(store: LedgerStore, tmp_path: Path) -> None:
    fill(store)
    first = store.events()[0]
    fork = make_event(first, "deploy", T0, "eve", "dev", None, NEW)
    with pytest.raises(sqlite3.IntegrityError):
        raw(tmp_path).execute(
            "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                99,
                fork.kind,
                fork.time,
                fork.actor,
                fork.stage,
                None,
                NEW,
                "{}",
                fork.prev_hash,
                fork.hash,
            ),
        )


def test_an_entry_edited_around_the_triggers_is_named(store: LedgerStore, tmp_path: Path) -> None:
    fill(store)
    connection = raw(tmp_path)
    connection.execute("DROP TRIGGER ledger_no_update")
    connection.execute("UPDATE ledger SET data = replace(data, '41', '14') WHERE seq = 3")
    assert store.verify() == ["seq 3: hash mismatch: the entry was edited"]


def test_one_byte_changed_in_the_database_file_is_named(tmp_path: Path) -> None:
    store = LedgerStore.open(tmp_path, clock=TickingClock(T0))
    fill(store)
    store.close()  # the last connection checkpoints the WAL into the file
    path = tmp_path / "soakgate.db"
    content = path.read_bytes()
    assert content.count(b'"seconds": 41') == 1
    path.write_bytes(content.replace(b'"seconds": 41', b'"seconds": 47'))
    assert LedgerStore.open(tmp_path).verify() == ["seq 3: hash mismatch: the entry was edited"]


def test_a_deleted_entry_is_detected_in_the_store(store: LedgerStore, tmp_path: Path) -> None:
    fill(store)
    connection = raw(tmp_path)
    connection.execute("DROP TRIGGER ledger_no_delete")
    connection.execute("DELETE FROM ledger WHERE seq = 2")
    assert store.verify() == ["seq 3: seq 2 missing: entries were deleted"]


def test_unreadable_data_is_reported_not_raised(store: LedgerStore, tmp_path: Path) -> None:
    fill(store)
    connection = raw(tmp_path)
    connection.execute("DROP TRIGGER ledger_no_update")
    connection.execute("UPDATE ledger SET data = '{\"seconds\": 4' WHERE seq = 2")
    assert store.verify() == [
        "seq 2: data is not a JSON object: the entry was edited",
        "seq 2: hash mismatch: the entry was edited",
    ]


def test_two_writers_cannot_fork_the_chain(tmp_path: Path) -> None:
    LedgerStore.open(tmp_path).close()  # create the table once
    errors: list[BaseException] = []

    def write(actor: str) -> None:
        store = LedgerStore.open(tmp_path)
        try:
            for index in range(25):
                store.append("soak", actor=actor, stage="staging", data={"sample": index})
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=write, args=(name,)) for name in ("ana", "bo")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = LedgerStore.open(tmp_path)
    assert [e.seq for e in store.events()] == list(range(1, 52))  # the anchor and 50
    assert store.verify() == []


def test_it_shares_the_state_database(tmp_path: Path) -> None:
    state = StateDB.open(tmp_path)
    ledger = LedgerStore(state.connection, clock=TickingClock(T0))
    state.record_release(
        Release(NEW, "3.14.0", "1.0.0", "3f2a9c1b", "2025-06-02T08:00:00Z", 1, "s:1")
    )
    ledger.append("build", actor="ci", to_release=NEW)
    assert [r.digest for r in state.releases()] == [NEW]
    assert [e.kind for e in ledger.events()] == ["anchor", "build"]
    assert ledger.head_path == tmp_path / "ledger.head"  # found from the connection
    assert json.loads((tmp_path / "ledger.head").read_text())["seq"] == 2


def test_a_connection_with_implicit_transactions_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="isolation_level=None"):
        LedgerStore(sqlite3.connect(tmp_path / "x.db"))
