"""soakgate.db opened once for a command: its repositories share one connection.

with State.open(state) as db:
    release = db.releases.require_release(ref)
    db.ledger.append("deploy", stage="dev", to_release=release.digest)
    db.soaks.latest("staging")
"""

from __future__ import annotations

import sqlite3
from functools import cached_property
from pathlib import Path

from soakgate.adapters.state.db import Connected, connect, state_dir
from soakgate.adapters.state.evidence import EvidenceStore
from soakgate.adapters.state.ledger import HEAD_FILE, LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.adapters.state.soaks import SoakStore


class State(Connected):
    """The state directory and one connection to its database; each repository on first use."""

    def __init__(self, directory: Path, connection: sqlite3.Connection) -> None:
        self.directory = directory
        self.connection = connection

    @classmethod
    def open(cls, directory: Path | None = None) -> State:
        where = directory or state_dir()
        return cls(where, connect(where, threads=True))

    @cached_property
    def releases(self) -> StateDB:
        return StateDB.on(self.connection)

    @cached_property
    def ledger(self) -> LedgerStore:
        return LedgerStore(self.connection, head_path=self.directory / HEAD_FILE)

    @cached_property
    def soaks(self) -> SoakStore:
        return SoakStore.on(self.connection)

    @cached_property
    def evidence(self) -> EvidenceStore:
        return EvidenceStore.on(self.directory, self.connection)
