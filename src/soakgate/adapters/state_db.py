"""soakgate's durable state in SQLite (WAL): releases now; soak samples and more later.

db = StateDB.open(state_dir)
db.record_release(release)
db.releases()        # newest first
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from soakgate.adapters.envfile import find_project
from soakgate.core.release import Release, matches
from soakgate.errors import ConfigError, SoakgateError

DB_FILE = "soakgate.db"
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
"""


def state_dir() -> Path:
    """Return soakgate's state directory: $SOAKGATE_HOME, else ``.soakgate`` of the project."""
    home = os.environ.get("SOAKGATE_HOME")
    if home:
        return Path(home)
    project = find_project()
    if project is None:
        raise ConfigError(
            "no soakgate state directory", hint="run ./bootstrap, or set SOAKGATE_HOME"
        )
    return project / ".soakgate"


def _with_retry(action: Callable[[], object], seconds: float = 10.0) -> None:
    """Run ``action``, retrying while another process holds the lock it needs.

    Switching a new database to WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once (without its busy wait) when two processes race for it, as two image
    builds recording their releases at the same moment do.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _private(path: Path) -> None:
    """soakgate.db and its WAL files: 0600 whatever the umask (the ledger is in there)."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        with contextlib.suppress(OSError):
            os.chmod(path.parent / name, 0o600)


class StateDB:
    """One connection to the state database; every write is committed at once."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    @classmethod
    def open(cls, directory: Path | None = None) -> StateDB:
        path = (directory or state_dir()) / DB_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(path, timeout=10, isolation_level=None)
            _with_retry(lambda: connection.execute("PRAGMA journal_mode=WAL"))
            connection.execute("PRAGMA synchronous=NORMAL")
            _with_retry(lambda: connection.executescript(SCHEMA))
            _private(path)
        except sqlite3.DatabaseError as exc:
            raise SoakgateError(
                f"state database {path} is unusable ({exc})",
                hint="move it aside and re-run; releases are re-recorded by the next build",
            ) from exc
        return cls(connection)

    def close(self) -> None:
        self.connection.close()

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
