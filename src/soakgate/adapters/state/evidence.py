"""Evidence bundles, stored with the release: files under ``<state>/evidence/<digest-hex>/``,
a ``manifest.json`` beside them and the same rows in the ``evidence`` table of soakgate.db.

    store = EvidenceStore.open(state_dir)
    store.put(release, "junit", Path("/tmp/out/junit.xml"), tools={"pytest": "9.2.0"})
    store.fail(release, "coverage", "coverage json wrote nothing")
    store.records(release.digest)["junit"].sha256      # "9f2c…"
    store.read(release.digest, "junit")                 # the bytes, checked against the sha256

A kind is one evidence file (junit, coverage, mutation, audit, bench, soak, sbom …). Putting a
kind replaces its earlier file and clears its failure; failing a kind removes its file, so a
gate never judges evidence older than the last attempt to collect it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soakgate.adapters.state.db import Connected, connect, with_retry
from soakgate.core.release import Release
from soakgate.errors import SoakgateError

EVIDENCE_DIR = "evidence"
MANIFEST = "manifest.json"
SCHEMA = """
CREATE TABLE IF NOT EXISTS evidence (
    release TEXT NOT NULL,          -- digest of the release the evidence is about
    kind TEXT NOT NULL,             -- junit, coverage, mutation, audit, bench, soak, sbom …
    file TEXT NOT NULL,             -- name inside <state>/evidence/<digest-hex>/
    sha256 TEXT NOT NULL,
    collected_at TEXT NOT NULL,     -- ISO 8601, UTC
    source TEXT NOT NULL,           -- collected | supplied | reused
    tools TEXT NOT NULL,            -- JSON object: tool → version
    details TEXT NOT NULL,          -- JSON object: what else the collector recorded
    PRIMARY KEY (release, kind)
);
CREATE TABLE IF NOT EXISTS evidence_failures (
    release TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,           -- one line a user can act on
    failed_at TEXT NOT NULL,
    PRIMARY KEY (release, kind)
);
"""


class CollectFailed(SoakgateError):
    """One piece of evidence could not be collected; the message is its one-line reason."""


class EvidenceTampered(SoakgateError):
    """A stored evidence file is missing or no longer matches the SHA-256 recorded for it."""


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second: ``2026-11-26T07:40:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class EvidenceRecord:
    """One stored evidence file of a release."""

    kind: str
    file: str
    sha256: str
    collected_at: str
    source: str = "collected"  # collected | supplied | reused
    tools: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "collected_at": self.collected_at,
            "source": self.source,
            "tools": self.tools,
            "details": self.details,
        }


def bundle_dir(state: Path, digest: str) -> Path:
    """``<state>/evidence/<digest-hex>``."""
    return state / EVIDENCE_DIR / digest.removeprefix("sha256:")


class EvidenceStore(Connected):
    """The evidence of every release: bundle folders plus two tables in soakgate.db."""

    def __init__(self, state: Path, connection: sqlite3.Connection) -> None:
        self.state = state
        self.connection = connection

    @classmethod
    def open(cls, state: Path) -> EvidenceStore:
        return cls(state, connect(state, schema=SCHEMA))

    @classmethod
    def on(cls, state: Path, connection: sqlite3.Connection) -> EvidenceStore:
        """The evidence tables of an open connection (created if needed)."""
        with_retry(lambda: connection.executescript(SCHEMA))
        return cls(state, connection)

    def folder(self, digest: str) -> Path:
        return bundle_dir(self.state, digest)

    # --- writing -----------------------------------------------------------------------
    def put(
        self,
        release: Release,
        kind: str,
        content: Path | bytes,
        *,
        name: str | None = None,
        source: str = "collected",
        tools: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
        collected_at: str | None = None,
    ) -> EvidenceRecord:
        """Store ``content`` (a file to copy, or bytes) as the release's ``kind``."""
        data = content.read_bytes() if isinstance(content, Path) else content
        folder = self.folder(release.digest)
        folder.mkdir(parents=True, exist_ok=True)
        file_name = name or kind
        if "/" in file_name or file_name in ("", ".", "..", MANIFEST):
            raise ValueError(f"bad evidence file name {file_name!r}")
        _atomic_write(folder / file_name, data)
        record = EvidenceRecord(
            kind,
            file_name,
            sha256_bytes(data),
            collected_at or now_iso(),
            source,
            dict(tools or {}),
            dict(details or {}),
        )
        old = self.records(release.digest).get(kind)
        self.connection.execute(
            "INSERT OR REPLACE INTO evidence"
            " (release, kind, file, sha256, collected_at, source, tools, details)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                release.digest,
                kind,
                record.file,
                record.sha256,
                record.collected_at,
                record.source,
                json.dumps(record.tools, sort_keys=True),
                json.dumps(record.details, sort_keys=True),
            ),
        )
        self.connection.execute(
            "DELETE FROM evidence_failures WHERE release = ? AND kind = ?", (release.digest, kind)
        )
        if old is not None and old.file != file_name:
            (folder / old.file).unlink(missing_ok=True)
        self.write_manifest(release)
        return record

    def fail(self, release: Release, kind: str, reason: str, at: str | None = None) -> None:
        """Record why ``kind`` could not be collected and drop its earlier file (fail closed)."""
        old = self.records(release.digest).get(kind)
        self.connection.execute(
            "DELETE FROM evidence WHERE release = ? AND kind = ?", (release.digest, kind)
        )
        if old is not None:
            (self.folder(release.digest) / old.file).unlink(missing_ok=True)
        self.connection.execute(
            "INSERT OR REPLACE INTO evidence_failures (release, kind, reason, failed_at)"
            " VALUES (?, ?, ?, ?)",
            (release.digest, kind, one_line(reason), at or now_iso()),
        )
        self.write_manifest(release)

    def write_manifest(self, release: Release) -> Path:
        """Rewrite ``manifest.json`` from the table: kind → {file, sha256, collected_at, …}."""
        folder = self.folder(release.digest)
        folder.mkdir(parents=True, exist_ok=True)
        document = {
            "release": {
                "digest": release.digest,
                "image": release.image,
                "python": release.python,
                "app_version": release.app_version,
                "revision": release.revision,
            },
            "evidence": {
                kind: record.as_dict() for kind, record in self.records(release.digest).items()
            },
            "failures": self.failures(release.digest),
        }
        path = folder / MANIFEST
        _atomic_write(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())
        return path

    # --- reading -----------------------------------------------------------------------
    def records(self, digest: str) -> dict[str, EvidenceRecord]:
        rows = self.connection.execute(
            "SELECT kind, file, sha256, collected_at, source, tools, details FROM evidence"
            " WHERE release = ? ORDER BY kind",
            (digest,),
        ).fetchall()
        return {
            row[0]: EvidenceRecord(
                row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), json.loads(row[6])
            )
            for row in rows
        }

    def failures(self, digest: str) -> dict[str, str]:
        rows = self.connection.execute(
            "SELECT kind, reason FROM evidence_failures WHERE release = ? ORDER BY kind",
            (digest,),
        ).fetchall()
        return {kind: reason for kind, reason in rows}

    def path(self, digest: str, kind: str) -> Path | None:
        record = self.records(digest).get(kind)
        return None if record is None else self.folder(digest) / record.file

    def read(self, digest: str, kind: str) -> bytes | None:
        """The bytes of ``kind``, or None when there is none; EvidenceTampered if changed."""
        record = self.records(digest).get(kind)
        if record is None:
            return None
        path = self.folder(digest) / record.file
        try:
            data = path.read_bytes()
        except OSError:
            raise EvidenceTampered(
                f"evidence file {path} is gone", hint="collect it again: soakgate evidence collect"
            ) from None
        if sha256_bytes(data) != record.sha256:
            raise EvidenceTampered(
                f"evidence file {path} changed since it was collected (SHA-256 mismatch)",
                hint="collect it again: soakgate evidence collect",
            )
        return data

    def find_detail(self, kind: str, key: str, value: str) -> tuple[str, EvidenceRecord] | None:
        """Any release's ``kind`` record whose ``details[key]`` equals ``value``, newest first."""
        rows = self.connection.execute(
            "SELECT release FROM evidence WHERE kind = ? AND json_extract(details, ?) = ?"
            " ORDER BY collected_at DESC",
            (kind, f"$.{key}", value),
        ).fetchall()
        for (digest,) in rows:
            record = self.records(digest).get(kind)
            if record is not None:
                with contextlib.suppress(EvidenceTampered):
                    self.read(digest, kind)
                    return digest, record
        return None


def one_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of ``text``, shortened to ``limit`` characters."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else "unknown error"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
