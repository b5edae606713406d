"""soakgate's private state: directories 0700, files 0600, whatever the umask says.

    private_dir(state)                              # .soakgate/ is 0700
    write_private(state / "ledger.head", text)      # atomic, 0600
    tighten_state(state)                            # what ./bootstrap or SQLite left 0644

A file a container must read (the proxy's nginx.conf) is not private: write it with
``write_atomic(path, text, mode=0o644)`` in a directory of its own.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from soakgate.adapters.atomic_file import write_atomic

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700; return it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, text: str | bytes) -> None:
    """Replace ``path`` atomically (temp, fsync, rename) by a 0600 file in a 0700 directory."""
    private_dir(path.parent)
    write_atomic(path, text, mode=FILE_MODE)


def tighten_state(state: Path) -> None:
    """Make the state directory 0700 and the plain files at its top 0600 (env, passphrase,
    soakgate.db and its -wal/-shm …). Subdirectories keep their modes: the proxy's conf
    directory is read by the proxy container. Files of other users are left alone."""
    with contextlib.suppress(OSError):
        info = state.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return
        if stat.S_IMODE(info.st_mode) != DIR_MODE:
            os.chmod(state, DIR_MODE)
        with os.scandir(state) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    found = entry.stat(follow_symlinks=False)
                    if (
                        stat.S_ISREG(found.st_mode)
                        and found.st_uid == os.geteuid()
                        and stat.S_IMODE(found.st_mode) & 0o077
                    ):
                        os.chmod(entry.path, FILE_MODE)
