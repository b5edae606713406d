"""The one way into soakgate.db: ``connect()`` (path, WAL, busy timeout, retry, modes, errors).

    connection = connect(state)          # <state>/soakgate.db, autocommit, WAL, 0600
    with_retry(lambda: connection.executescript(SCHEMA))

Every repository (releases, ledger, soaks, evidence) opens its connection here or shares one
(:class:`soakgate.adapters.state.store.State`), so each gets the same pragmas and the same
fix for the WAL-switch race, and a broken file is the same one-line error everywhere.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

from soakgate.adapters.envfile import find_project
from soakgate.errors import ConfigError, SoakgateError

DB_FILE = "soakgate.db"
BUSY_TIMEOUT = 10.0  # seconds a statement waits for another writer
T = TypeVar("T")
# What a repository raises when the file under it breaks mid-use (a page is corrupt, the disk
# is full): the use cases catch this name and never import sqlite3 themselves.
StoreError = sqlite3.DatabaseError


def state_dir(project: Path | None = None) -> Path:
    """Return soakgate's state directory: $SOAKGATE_HOME, else ``.soakgate`` of the project
    (``project``, or the one around the current directory)."""
    home = os.environ.get("SOAKGATE_HOME")
    if home:
        return Path(home)
    project = project or find_project()
    if project is None:
        raise ConfigError(
            "no soakgate state directory", hint="run ./bootstrap, or set SOAKGATE_HOME"
        )
    return project / ".soakgate"


def cache_dir(name: str) -> Path | None:
    """``<state>/cache/<name>``, or None outside a project (nothing is cached then)."""
    try:
        return state_dir() / "cache" / name
    except ConfigError:
        return None


def database_path(directory: Path | None = None) -> Path:
    return (directory or state_dir()) / DB_FILE


def with_retry(action: Callable[[], T], seconds: float = BUSY_TIMEOUT) -> T:
    """Run ``action``, retrying while another process holds the lock it needs.

    Switching a new database to WAL (and creating its tables) needs an exclusive lock, and
    SQLite answers "database is locked" at once, without its busy wait, when two processes
    race for it, as two image builds recording their releases at the same moment do.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def database_error(path: Path, error: sqlite3.Error) -> SoakgateError:
    """One line naming the file, what is wrong and what to do."""
    text = str(error).replace("\n", " ")
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return SoakgateError(
            f"state database {path} is locked ({text}): another process holds it;"
            " stop that process or retry in a moment"
        )
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return SoakgateError(
            f"state database {path} is corrupt ({text}): move it aside"
            f" (mv {path} {path}.corrupt), keep the old file (it holds the ledger), and re-run"
        )
    if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
        return SoakgateError(
            f"state database {path} cannot be written ({text}):"
            f" check that {path.parent} exists and is writable by you"
        )
    return SoakgateError(
        f"state database {path} failed ({text}): move it aside"
        f" (mv {path} {path}.broken), keep the old file, and re-run"
    )


def _private(path: Path) -> None:
    """soakgate.db and its WAL files: 0600 whatever the umask (the ledger is in there)."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        with contextlib.suppress(OSError):
            os.chmod(path.parent / name, 0o600)


def connect(
    directory: Path | None = None,
    *,
    schema: str = "",
    busy_timeout: float = BUSY_TIMEOUT,
    threads: bool = False,
) -> sqlite3.Connection:
    """Open ``<directory>/soakgate.db`` (default: :func:`state_dir`) in autocommit mode.

    WAL with ``synchronous=NORMAL`` (writes that need more ask for it themselves), a busy
    timeout, ``schema`` run once with the WAL-race retry, the files 0600. ``threads``: the
    connection may be used from other threads (the caller serialises its use). Any failure is
    one :class:`SoakgateError` naming the file and the fix; no connection is left open.
    """
    path = database_path(directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SoakgateError(
            f"state database {path} cannot be created ({exc.strerror}):"
            f" check that {path.parent} is writable by you"
        ) from exc
    connection: sqlite3.Connection | None = None
    try:
        connection = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=not threads
        )
        connection.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        with_retry(lambda: connection.execute("PRAGMA journal_mode=WAL"), busy_timeout)
        connection.execute("PRAGMA synchronous=NORMAL")
        if schema:
            with_retry(lambda: connection.executescript(schema), busy_timeout)
        _private(path)
    except sqlite3.Error as exc:
        if connection is not None:
            connection.close()
        raise database_error(path, exc) from exc
    return connection


class Connected:
    """A holder of one connection to soakgate.db: ``close()`` closes it, and ``with`` does at
    the end of the block (the repositories and :class:`~soakgate.adapters.state.store.State`)."""

    connection: sqlite3.Connection

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def file_of(connection: sqlite3.Connection) -> Path | None:
    """The file behind ``connection``, or None for an in-memory database."""
    main = next(
        (row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"), ""
    )
    return Path(main) if main else None
