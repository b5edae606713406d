"""What the readiness check read from an index, kept so that a re-run against an unchanged
index downloads no metadata again.

    cache = ReadinessCache(state_dir() / "cache" / "readiness", "https://index.example/simple/")
    page = cache.page("torch")                 # the page as last read (ETag, digest, files)
    cache.metadata(file)                       # its core metadata, if read before
    cache.save("torch", page, {file.key: metadata})

One directory per index (named by a hash of its URL or path), one JSON file per project:
the page's ETag / Last-Modified / SHA-256 and files, and the core metadata read, keyed by
file name and hash, so a changed page keeps the metadata of the files it still lists.
Unreadable entries are ignored (read again), never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.readiness.index import Page
from soakgate.core.readiness import IndexFile, Metadata

FORMAT = 1


class ReadinessCache:
    """Pages and metadata of one index under ``root`` (no cache when ``root`` is None)."""

    def __init__(self, root: Path | None, index: str) -> None:
        self.index = index
        self.folder = root / hashlib.sha256(index.encode()).hexdigest()[:16] if root else None
        self._entries: dict[str, dict[str, Any]] = {}

    def _path(self, name: str) -> Path | None:
        return self.folder / f"{name}.json" if self.folder else None

    def _entry(self, name: str) -> dict[str, Any]:
        if name not in self._entries:
            path = self._path(name)
            entry: dict[str, Any] = {}
            if path is not None:
                with contextlib.suppress(OSError, ValueError):
                    data = json.loads(path.read_bytes())
                    if isinstance(data, dict) and data.get("format") == FORMAT:
                        entry = data
            self._entries[name] = entry
        return self._entries[name]

    def page(self, name: str) -> Page | None:
        """The page as last read, None when never (or unreadable)."""
        entry = self._entry(name)
        try:
            files = tuple(IndexFile(**item) for item in entry["files"])
            return Page(files, entry.get("etag"), entry.get("last_modified"), entry["digest"])
        except (KeyError, TypeError):
            return None

    def metadata(self, name: str, file: IndexFile) -> Metadata | None:
        found = self._entry(name).get("metadata", {}).get(file.key)
        if not isinstance(found, dict):
            return None
        with contextlib.suppress(TypeError, ValueError):
            return Metadata.from_document(found)
        return None

    def save(self, name: str, page: Page, metadata: Mapping[str, Metadata]) -> None:
        """Record ``page`` and the metadata of its files (earlier ones of files it still lists
        are kept)."""
        path = self._path(name)
        if path is None:
            return
        listed = {file.key for file in page.files}
        known = {
            key: value
            for key, value in self._entry(name).get("metadata", {}).items()
            if key in listed
        }
        known.update({key: value.document() for key, value in metadata.items()})
        entry = {
            "format": FORMAT,
            "index": self.index,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "digest": page.digest,
            "files": [asdict(file) for file in page.files],
            "metadata": known,
        }
        self._entries[name] = entry
        with contextlib.suppress(OSError):  # a cache that cannot be written is no cache
            write_atomic(path, json.dumps(entry, sort_keys=True) + "\n", mode=0o644)
