"""The ledger through the CLI: deploys land on it, and one edited byte is caught and named."""

from __future__ import annotations

import json
import sqlite3

import pytest

from soakgate.core.release import Release
from soakgate.scratch import ScratchProject

pytestmark = pytest.mark.integration


def test_deploys_are_recorded_and_an_edited_byte_is_named(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    for python in ("3.12", "3.14"):
        result = scratch.soakgate("deploy", "dev", "--python", python, "--skip-verify")
        assert result.returncode == 0, result.stderr
    events = json.loads(scratch.soakgate("history", "dev", "--json").stdout)
    assert [(e["kind"], e["to_release"]) for e in events] == [
        ("deploy", releases["3.12"].digest),
        ("deploy", releases["3.14"].digest),
    ]
    assert events[1]["from_release"] == releases["3.12"].digest
    intact = scratch.soakgate("ledger", "verify")
    assert intact.returncode == 0 and "3 entries, hash chain verified" in intact.stdout

    database = sqlite3.connect(scratch.state / "soakgate.db")
    with database:
        database.execute("DROP TRIGGER ledger_no_update")
        (data,) = database.execute("SELECT data FROM ledger WHERE seq = 2").fetchone()
        edited = data.replace("3.12", "4.12", 1)
        assert edited != data  # one byte
        database.execute("UPDATE ledger SET data = ? WHERE seq = 2", (edited,))
    database.close()
    broken = scratch.soakgate("ledger", "verify")
    assert broken.returncode == 10
    assert broken.stderr.splitlines()[-1] == "error: the ledger fails verification at seq 2"
    assert "ledger: seq 2:" in broken.stderr


def test_updates_through_sql_are_refused(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    assert scratch.soakgate("deploy", "dev", "--python", "3.12", "--skip-verify").returncode == 0
    database = sqlite3.connect(scratch.state / "soakgate.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        database.execute("DELETE FROM ledger")
    database.close()
