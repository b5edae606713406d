"""The ledger's anchor: ``ledger.head`` outside SQLite catches deletions, an emptied database and
a rewritten, re-hashed chain; a crash between commit and anchor is repaired, not failed."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from soakgate.adapters.state.ledger import HEAD_FILE, SCHEMA, LedgerStore
from soakgate.cli.ledger import render_events, run_anchor, run_verify
from soakgate.core.ledger import (
    GENESIS,
    Event,
    Head,
    check_anchor,
    head_of,
    make_event,
    parse_head,
)
from soakgate.errors import LedgerBroken, SoakgateError
from soakgate.testing import TickingClock

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
OLD, NEW = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def filled(tmp_path: Path, count: int = 4) -> LedgerStore:
    store = LedgerStore.open(tmp_path, clock=TickingClock(T0))
    for index in range(count):
        store.append(
            "deploy",
            actor="ana",
            stage="dev",
            from_release=OLD,
            to_release=NEW,
            data={"seconds": 40 + index},
        )
    return store


def raw(tmp_path: Path) -> sqlite3.Connection:
    """What an attacker with the file uses: plain sqlite3, triggers dropped."""
    connection = sqlite3.connect(tmp_path / "soakgate.db", isolation_level=None)
    connection.execute("DROP TRIGGER IF EXISTS ledger_no_update")
    connection.execute("DROP TRIGGER IF EXISTS ledger_no_delete")
    return connection


def insert(connection: sqlite3.Connection, event: Event) -> None:
    connection.execute(
        "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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


def head_file(tmp_path: Path) -> dict[str, object]:
    value = json.loads((tmp_path / HEAD_FILE).read_text())
    assert isinstance(value, dict)
    return value


# --- what an append leaves ------------------------------------------------------------------


def test_each_append_anchors_the_newest_entry(tmp_path: Path) -> None:
    store = filled(tmp_path)
    last = store.events()[-1]
    assert head_file(tmp_path) == {"seq": 5, "hash": last.hash, "time": last.time, "count": 5}
    assert stat.S_IMODE((tmp_path / HEAD_FILE).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert store.verify() == []
    assert store.require_intact() == store.events()


def test_appends_are_synchronous_full(tmp_path: Path) -> None:
    store = LedgerStore.open(tmp_path)
    seen: list[int] = []

    def clock() -> datetime:  # called inside the append's transaction
        seen.append(store.connection.execute("PRAGMA synchronous").fetchone()[0])
        return T0

    store.clock = clock
    store.append("drill", actor="ana", stage="production")
    assert seen == [2]  # FULL
    assert store.connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again


# --- tampering that a valid, shorter or re-hashed chain hides -------------------------------


def test_the_newest_entry_deleted_is_named(tmp_path: Path) -> None:
    store = filled(tmp_path)
    raw(tmp_path).execute("DELETE FROM ledger WHERE seq = 5")
    assert store.verify() == [
        f"newest entries deleted: seq 5 missing: {tmp_path / HEAD_FILE} anchors seq 5,"
        " the ledger ends at seq 4"
    ]
    raw(tmp_path).execute("DELETE FROM ledger WHERE seq >= 3")
    assert store.verify()[0].startswith("newest entries deleted: seq 3-5 missing:")


def test_all_entries_deleted_is_named(tmp_path: Path) -> None:
    store = filled(tmp_path)
    raw(tmp_path).execute("DELETE FROM ledger")
    (problem,) = store.verify()
    assert problem.startswith(f"ledger emptied: {tmp_path / HEAD_FILE} anchors seq 5 (5 entries)")
    with pytest.raises(LedgerBroken, match=r"^the ledger does not verify: ledger emptied") as info:
        store.require_intact()
    assert info.value.hint == "soakgate ledger verify names every problem"


def test_the_database_truncated_to_nothing_is_named(tmp_path: Path) -> None:
    filled(tmp_path).close()  # the last connection checkpoints and removes the WAL
    path = tmp_path / "soakgate.db"
    assert not path.with_name("soakgate.db-wal").exists()
    path.write_bytes(b"")
    store = LedgerStore.open(tmp_path)
    assert store.events() == []
    assert store.verify()[0].startswith("ledger emptied:")
    # and the next append does not paper over it: the head stays as evidence
    store.append("deploy", actor="eve", stage="dev", to_release=NEW)
    assert head_file(tmp_path)["seq"] == 5
    assert store.verify() != []


def test_a_half_truncated_database_is_one_line_naming_the_file(tmp_path: Path) -> None:
    store = filled(tmp_path, 200)
    store.close()
    path = tmp_path / "soakgate.db"
    content = path.read_bytes()
    assert len(content) > 3 * 4096
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(SoakgateError) as info:  # at open, or at the check if open gets by
        LedgerStore.open(tmp_path).require_intact()
    assert str(path) in info.value.message
    assert "\n" not in info.value.message


def test_the_table_dropped_is_named(tmp_path: Path) -> None:
    store = filled(tmp_path)
    raw(tmp_path).execute("DROP TABLE ledger")
    with pytest.raises(LedgerBroken, match=r"soakgate\.db: unreadable \(no such table: ledger\)"):
        store.require_intact()  # this connection had the table
    assert LedgerStore.open(tmp_path).verify()[0].startswith("ledger emptied:")  # re-created


def test_the_database_deleted_is_named(tmp_path: Path) -> None:
    filled(tmp_path).close()
    (tmp_path / "soakgate.db").unlink()
    assert LedgerStore.open(tmp_path).verify()[0].startswith("ledger emptied:")


def test_a_rewritten_rehashed_chain_is_named(tmp_path: Path) -> None:
    store = filled(tmp_path)
    genuine = store.events()
    connection = raw(tmp_path)
    connection.execute("DELETE FROM ledger")
    forged: list[Event] = []
    for event in genuine:  # same shape, one deploy "never happened", re-hashed properly
        release = OLD if event.seq == 3 else event.to_release
        forged.append(
            make_event(
                forged[-1] if forged else None,
                event.kind,
                T0,
                event.actor,
                event.stage,
                event.from_release,
                release,
                event.data,
            )
        )
        insert(connection, forged[-1])
    assert forged[-1].hash != genuine[-1].hash
    (problem,) = store.verify()
    assert problem == (
        f"chain rewritten: seq 5 has hash {forged[-1].hash[:12]}, {tmp_path / HEAD_FILE}"
        f" anchors {genuine[-1].hash[:12]}: the chain was rewritten and re-hashed"
    )


def test_a_rewritten_chain_that_is_longer_is_named(tmp_path: Path) -> None:
    store = filled(tmp_path, 2)
    connection = raw(tmp_path)
    connection.execute("DELETE FROM ledger")
    forged: list[Event] = []
    for index in range(6):
        forged.append(
            make_event(
                forged[-1] if forged else None,
                "anchor" if index == 0 else "build",
                T0,
                "eve",
                None,
                None,
                None,
                {},
            )
        )
        insert(connection, forged[-1])
    assert store.verify()[0].startswith("chain rewritten: seq 3 has hash")


def test_a_deleted_head_is_named_once_anchoring_has_started(tmp_path: Path) -> None:
    store = filled(tmp_path)
    (tmp_path / HEAD_FILE).unlink()
    assert store.verify() == [
        f"anchor missing: {tmp_path / HEAD_FILE} does not exist, but the ledger is anchored"
        " since seq 1: the head file was deleted (newest entries may be gone with it)"
    ]
    assert not (tmp_path / HEAD_FILE).exists()  # verify does not re-anchor it
    store.append("deploy", actor="ana", stage="dev", to_release=NEW)
    assert not (tmp_path / HEAD_FILE).exists()  # nor does an append
    assert store.verify()[0].startswith("anchor missing:")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "not JSON (truncated or overwritten)"),
        (b'{"seq": 5, "hash": "ab', "not JSON (truncated or overwritten)"),
        (b"[5]", "not a JSON object"),
        (
            b'{"seq": "5", "hash": "' + b"0" * 64 + b'", "time": "t", "count": 5}',
            "seq must be an integer >= 0, not '5'",
        ),
        (
            b'{"seq": 5, "hash": "xyz", "time": "t", "count": 5}',
            "hash must be 64 lowercase hex digits",
        ),
        (b"\xff\xfe", "unreadable"),
    ],
)
def test_a_corrupt_head_is_one_message_naming_the_file(
    tmp_path: Path, content: bytes, why: str
) -> None:
    store = filled(tmp_path)
    (tmp_path / HEAD_FILE).write_bytes(content)
    (problem,) = store.verify()
    assert problem.startswith(
        f"anchor {why.split()[0] if why == 'unreadable' else 'corrupt'}: {tmp_path / HEAD_FILE}: "
    )
    assert why in problem
    assert "\n" not in problem
    assert (tmp_path / HEAD_FILE).read_bytes() == content  # left as found


# --- what is not tampering ------------------------------------------------------------------


def test_a_head_left_behind_by_a_crash_is_moved_forward(tmp_path: Path) -> None:
    store = filled(tmp_path)
    before = (tmp_path / HEAD_FILE).read_bytes()
    event = store.append("rollback", actor="bo", stage="dev", from_release=NEW, to_release=OLD)
    (tmp_path / HEAD_FILE).write_bytes(before)  # as if killed between COMMIT and the anchor
    found = store.check()
    assert found.problems == []
    assert found.notes == [
        f"{tmp_path / HEAD_FILE} was behind (seq 6 not anchored: an append was interrupted"
        " after its commit); moved forward to seq 6"
    ]
    assert head_file(tmp_path)["hash"] == event.hash
    assert store.check().notes == []  # said once


def test_a_head_behind_is_not_moved_over_a_broken_chain(tmp_path: Path) -> None:
    store = filled(tmp_path)
    before = (tmp_path / HEAD_FILE).read_bytes()
    store.append("drill", actor="bo", stage="dev")
    (tmp_path / HEAD_FILE).write_bytes(before)
    raw(tmp_path).execute("UPDATE ledger SET actor = 'eve' WHERE seq = 6")
    assert store.verify() == ["seq 6: hash mismatch: the entry was edited"]
    assert (tmp_path / HEAD_FILE).read_bytes() == before


def test_a_crash_before_the_first_commit_leaves_an_empty_anchor(tmp_path: Path) -> None:
    store = LedgerStore.open(tmp_path, clock=TickingClock(T0))
    (tmp_path / HEAD_FILE).write_text(Head(0, GENESIS, "", 0).to_json())
    assert store.verify() == []
    store.append("build", actor="ci", to_release=NEW)
    assert [e.kind for e in store.events()] == ["anchor", "build"]
    assert head_file(tmp_path)["seq"] == 2


def test_a_ledger_from_before_anchoring_is_anchored_once(tmp_path: Path) -> None:
    legacy: list[Event] = []
    connection = sqlite3.connect(tmp_path / "soakgate.db", isolation_level=None)
    connection.executescript(SCHEMA)
    for index in range(3):  # as the previous version wrote them: no anchor, no head
        legacy.append(
            make_event(
                legacy[-1] if legacy else None,
                "deploy",
                T0,
                "ana",
                "dev",
                OLD,
                NEW,
                {"seconds": index},
            )
        )
        insert(connection, legacy[-1])
    connection.close()
    store = LedgerStore.open(tmp_path, clock=TickingClock(T0))
    found = store.check()
    assert found.problems == []
    assert found.notes == [
        f"the ledger predates anchoring: 3 entries, anchored in {tmp_path / HEAD_FILE} from"
        " now on (deletions before now cannot be detected)"
    ]
    events = store.events()
    assert [e.kind for e in events] == ["deploy", "deploy", "deploy", "anchor"]
    assert events[3].data == {"head": "ledger.head", "after_seq": 3}
    assert head_file(tmp_path)["hash"] == events[3].hash
    assert store.check().notes == []  # once
    (tmp_path / HEAD_FILE).unlink()  # from now on a missing head is a failure
    assert store.verify()[0].startswith("anchor missing:")


def test_a_legacy_ledger_is_anchored_by_its_next_append(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "soakgate.db", isolation_level=None)
    connection.executescript(SCHEMA)
    insert(connection, make_event(None, "build", T0, "ci", None, None, NEW))
    connection.close()
    store = LedgerStore.open(tmp_path, clock=TickingClock(T0))
    store.append("deploy", actor="ana", stage="dev", to_release=NEW)
    assert [e.kind for e in store.events()] == ["build", "anchor", "deploy"]
    assert store.check().notes == [] and store.verify() == []


def test_an_in_memory_ledger_has_no_anchor() -> None:
    store = LedgerStore(sqlite3.connect(":memory:", isolation_level=None))
    assert store.head_path is None
    store.append("drill", actor="ana", stage="dev")
    assert [e.kind for e in store.events()] == ["drill"]
    assert store.check().problems == []


# --- a person's decision --------------------------------------------------------------------


def test_reanchoring_accepts_the_chain_with_a_reason_on_the_ledger(tmp_path: Path) -> None:
    store = filled(tmp_path)
    raw(tmp_path).execute("DELETE FROM ledger WHERE seq = 5")
    event = store.reanchor("restored the 09:00 backup", actor="bo")
    assert (event.seq, event.kind, event.actor) == (5, "anchor", "bo")
    assert event.data["reason"] == "restored the 09:00 backup"
    assert event.data["found"][0].startswith("newest entries deleted")
    assert store.verify() == []
    raw(tmp_path).execute("UPDATE ledger SET actor = 'eve' WHERE seq = 2")
    with pytest.raises(LedgerBroken, match="chain itself does not verify"):
        store.reanchor("again")
    with pytest.raises(SoakgateError, match="needs a reason"):
        store.reanchor(" ")


# --- many writers ---------------------------------------------------------------------------


def _writer(directory: str, name: str) -> None:
    store = LedgerStore.open(Path(directory))
    try:
        for index in range(50):
            store.append("soak", actor=name, stage="staging", data={"sample": index})
    finally:
        store.close()


def _verifier(directory: str, stop: Any) -> None:
    """Check while the writers append: a check between a commit and its anchor would see a
    head behind (a note) or ahead (a problem); the lock must make that impossible."""
    store = LedgerStore.open(Path(directory))
    found: list[str] = []
    while not stop.is_set():
        check = store.check()
        found += check.problems + check.notes
    (Path(directory) / "verifier.txt").write_text("\n".join(found))


def test_concurrent_appends_from_processes_leave_a_verifying_anchored_chain(
    tmp_path: Path,
) -> None:
    LedgerStore.open(tmp_path).close()
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    verifier = context.Process(target=_verifier, args=(str(tmp_path), stop))
    verifier.start()
    workers = [context.Process(target=_writer, args=(str(tmp_path), f"w{n}")) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    stop.set()
    verifier.join(60)
    assert [worker.exitcode for worker in [*workers, verifier]] == [0, 0, 0, 0, 0]
    assert (tmp_path / "verifier.txt").read_text() == ""
    store = LedgerStore.open(tmp_path)
    events = store.events()
    assert [e.seq for e in events] == list(range(1, 202))  # the anchor and 4 x 50
    assert sorted(e.actor for e in events[1:]).count("w3") == 50
    found = store.check()
    assert (found.problems, found.notes) == ([], [])
    assert head_file(tmp_path) == {
        "seq": 201,
        "hash": events[-1].hash,
        "time": events[-1].time,
        "count": 201,
    }


# --- the pure comparison --------------------------------------------------------------------


def test_check_anchor_cases() -> None:
    events: list[Event] = []
    for kind in ("anchor", "build", "deploy"):
        events.append(make_event(events[-1] if events else None, kind, T0, "ana", None, None, None))
    head = head_of(events)
    assert head == Head(3, events[-1].hash, events[-1].time, 3)
    assert check_anchor(events, head, "h").problems == []
    assert check_anchor([], None, "h").problems == []
    assert check_anchor([], Head(0, GENESIS, "", 0), "h").problems == []
    behind = check_anchor(events, head_of(events[:2]), "h")
    assert behind.write == head and behind.problems == []
    assert check_anchor(events, head_of(events[:2]), "h", chain_intact=False).write is None
    assert check_anchor(events[1:], None, "h").start  # no anchor event: from before anchoring
    assert check_anchor(events[1:], None, "h", chain_intact=False).start is False
    assert parse_head(head.to_json()) == head
    with pytest.raises(ValueError, match="seq 0 must have the genesis hash"):
        parse_head(json.dumps({"seq": 0, "hash": "1" * 64, "time": "", "count": 0}))


# --- the CLI --------------------------------------------------------------------------------


def test_ledger_verify_names_what_it_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = filled(tmp_path)
    run_verify(store)
    assert "ledger intact: 5 entries, hash chain verified" in capsys.readouterr().out
    raw(tmp_path).execute("DELETE FROM ledger WHERE seq >= 4")
    with pytest.raises(LedgerBroken) as info:
        run_verify(store)
    assert info.value.message == "the ledger fails verification: newest entries deleted"
    assert info.value.exit_code != 0
    assert "soakgate ledger anchor --reason" in info.value.hint
    assert "ledger: newest entries deleted: seq 4-5 missing:" in capsys.readouterr().err
    run_anchor(store, "a [bold]known[/bold] restore")
    out = capsys.readouterr().out
    assert "ledger re-anchored at seq 4" in out and "[bold]known[/bold]" in out
    run_verify(store)
    raw(tmp_path).execute("UPDATE ledger SET actor = 'eve' WHERE seq = 2")
    with pytest.raises(LedgerBroken, match=r"^the ledger fails verification at seq 2$"):
        run_verify(store)


def test_history_prints_user_text_literally(tmp_path: Path) -> None:
    store = LedgerStore.open(tmp_path, clock=TickingClock(T0))
    store.append("rollback", actor="[red]bo", stage="dev", data={"reason": "a [/b] c"})
    console = Console(record=True, width=200)
    console.print(render_events(store.events()))
    text = console.export_text()
    assert "reason=a [/b] c" in text and "[red]bo" in text
    assert os.path.exists(tmp_path / HEAD_FILE)
