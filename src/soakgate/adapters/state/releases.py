"""The releases table of soakgate.db: every image built, by digest.

with StateDB.open(state) as db:     # or StateDB.on(connection), sharing one
    db.record_release(release)
    db.releases()                   # newest first
    db.record_variant(BuiltVariant("sha256:v…", release.digest, "jit", "svc:…-jit"))
    db.variant_of(release.digest, "jit")   # the newest built jit variant of it, or None
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from soakgate.adapters.state.db import DB_FILE, Connected, connect, state_dir, with_retry
from soakgate.core.release import Release, matches
from soakgate.core.variants import BuiltVariant
from soakgate.errors import ConfigError

__all__ = ["DB_FILE", "StateDB", "state_dir"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    digest TEXT PRIMARY KEY,
    python TEXT NOT NULL,
    app_version TEXT NOT NULL,
    revision TEXT NOT NULL,
    created TEXT NOT NULL,
    size INTEGER NOT NULL,
    image TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS variants (
    digest TEXT PRIMARY KEY,
    of_release TEXT NOT NULL,
    name TEXT NOT NULL,
    image TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""


class StateDB(Connected):
    """One connection to the state database; every write is committed at once."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    @classmethod
    def open(cls, directory: Path | None = None) -> StateDB:
        return cls(connect(directory, schema=SCHEMA))

    @classmethod
    def on(cls, connection: sqlite3.Connection) -> StateDB:
        """The releases of an open connection (its table created if needed)."""
        with_retry(lambda: connection.executescript(SCHEMA))
        return cls(connection)

    def record_release(self, release: Release) -> None:
        """Insert the release; recording the same digest again changes nothing."""
        self.connection.execute(
            "INSERT OR IGNORE INTO releases"
            " (digest, python, app_version, revision, created, size, image)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                release.digest,
                release.python,
                release.app_version,
                release.revision,
                release.created,
                release.size,
                release.image,
            ),
        )

    def record_variant(self, variant: BuiltVariant) -> None:
        """Record an image built as a variant of a release; the same digest again changes
        nothing."""
        self.connection.execute(
            "INSERT OR IGNORE INTO variants (digest, of_release, name, image) VALUES (?, ?, ?, ?)",
            (variant.digest, variant.of_release, variant.name, variant.image),
        )

    def variant_of(self, release: str, name: str) -> BuiltVariant | None:
        """The newest image built as variant ``name`` of ``release`` (a full digest)."""
        row = self.connection.execute(
            "SELECT digest, of_release, name, image FROM variants"
            " WHERE of_release = ? AND name = ? ORDER BY recorded_at DESC LIMIT 1",
            (release, name),
        ).fetchone()
        return BuiltVariant(*row) if row else None

    def variants(self) -> list[BuiltVariant]:
        """Every built variant, newest first."""
        rows = self.connection.execute(
            "SELECT digest, of_release, name, image FROM variants ORDER BY recorded_at DESC"
        ).fetchall()
        return [BuiltVariant(*row) for row in rows]

    def releases(self) -> list[Release]:
        """All releases, newest first."""
        rows = self.connection.execute(
            "SELECT digest, python, app_version, revision, created, size, image FROM releases"
            " ORDER BY recorded_at DESC, created DESC"
        ).fetchall()
        return [Release(*row) for row in rows]

    def require_release(self, ref: str) -> Release:
        """The release ``ref`` names, or a one-line ConfigError saying how to name one."""
        release = self.find_release(ref)
        if release is None:
            raise ConfigError(
                f"unknown release {ref!r}",
                hint="list them with: soakgate releases (a digest, a 12+ digit prefix or a tag)",
            )
        return release

    def find_release(self, ref: str) -> Release | None:
        """The release named by a digest, a digest prefix of ≥ 12 digits, or its image tag."""
        found = [release for release in self.releases() if matches(release, ref)]
        return found[0] if len(found) == 1 else None
