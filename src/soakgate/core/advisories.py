"""An OSV advisory directory refreshed from a package index's JSON API: the pure parts.

    entries = index_vulnerabilities(answer, "jinja2", "3.1.2")   # its checked ``vulnerabilities``
    documents = osv_documents({("jinja2", "3.1.2"): entries}, modified=at, source=root)
    freshness = judge_freshness(refresh, now=at, max_age=MAX_AGE)   # .stale, .line
    uncovered(refresh, {"jinja2": "3.1.2", "rich": "13.9.4"})       # {"rich": "not in …"}

A directory holds one OSV document per advisory and, written last, ``refreshed.json``: when,
from which index, which (name, version) pairs were checked and which were not, and the SHA-256
of every document. No manifest means never refreshed, or a refresh killed mid-way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from soakgate.core.soak import format_duration

MANIFEST = "refreshed.json"
MAX_AGE = 7 * 86400  # a week: the default age at which a directory no longer counts
FORMAT = 1
WRITER = "soakgate advisories refresh"
FIX = "soakgate advisories refresh"
_SKEW = 300  # a refresh this far in the future is a wrong clock, not a fresh directory
_FILE_SAFE = re.compile(r"[^A-Za-z0-9._-]")
Package = tuple[str, str]  # (canonical name, version)


class AdvisoryError(ValueError):
    """An index answer or a refresh manifest that cannot be used; the message says why."""


# --- the index ------------------------------------------------------------------------------


def _same_version(first: str, second: str) -> bool:
    try:
        return Version(first) == Version(second)
    except InvalidVersion:
        return first == second


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AdvisoryError(f"{where} should be a list of strings")
    return list(value)


def index_vulnerabilities(answer: Any, name: str, version: str) -> list[dict[str, Any]]:
    """The ``vulnerabilities`` of a JSON API answer about ``name`` ``version``, checked.

    An answer without that list says nothing (the index serves no vulnerability data): it is
    an error, never "no vulnerabilities"."""
    if not isinstance(answer, dict):
        raise AdvisoryError("the answer is not a JSON object")
    info = answer.get("info")
    answered = info.get("version") if isinstance(info, dict) else None
    if isinstance(answered, str) and not _same_version(answered, version):
        raise AdvisoryError(f"the index answered about version {answered!r}")
    entries = answer.get("vulnerabilities")
    if not isinstance(entries, list):
        raise AdvisoryError("the answer has no vulnerabilities list (no vulnerability data)")
    checked = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise AdvisoryError(f"vulnerabilities[{index}] has no id")
        where = f"vulnerability {entry['id']}"
        _strings(entry.get("aliases"), f"{where}: aliases")
        _strings(entry.get("fixed_in"), f"{where}: fixed_in")
        for key in ("summary", "details", "link", "withdrawn"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise AdvisoryError(f"{where}: {key} should be a string")
        checked.append(dict(entry))
    return checked


# --- OSV documents --------------------------------------------------------------------------


def advisory_file(advisory_id: str) -> str:
    """The file name of an advisory: ``<id>.json``, made safe (and never the manifest's)."""
    safe = _FILE_SAFE.sub("_", advisory_id).lstrip(".") or "_"
    if safe != advisory_id or f"{safe}.json" == MANIFEST:
        safe += "-" + hashlib.sha256(advisory_id.encode()).hexdigest()[:8]
    return f"{safe}.json"


def _ranges(versions: Iterable[str], fixes: Iterable[str]) -> list[dict[str, Any]]:
    """ECOSYSTEM events from the lowest known affected version below each fix to that fix:
    no range claims more than "known affected here, fixed there"."""
    known = sorted((Version(v), v) for v in versions if _valid(v))
    fixed = sorted((Version(v), v) for v in fixes if _valid(v))
    events: list[dict[str, str]] = []
    lower: Version | None = None
    for fix, text in fixed:
        below = [(v, t) for v, t in known if v < fix and (lower is None or v >= lower)]
        if below:
            events += [{"introduced": below[0][1]}, {"fixed": text}]
        lower = fix
    return [{"type": "ECOSYSTEM", "events": events}] if events else []


def _valid(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def osv_documents(
    found: Mapping[Package, Sequence[Mapping[str, Any]]], *, modified: str, source: str
) -> dict[str, dict[str, Any]]:
    """{advisory id: OSV document}: each advisory once, every checked version it affects
    listed under its PyPI package, its fixed versions as ranges."""
    by_id: dict[str, dict[str, Any]] = {}
    affected: dict[str, dict[str, tuple[set[str], set[str]]]] = {}
    for (name, version), entries in sorted(found.items()):
        for entry in entries:
            advisory_id = str(entry["id"])
            first = by_id.setdefault(advisory_id, dict(entry))
            first["aliases"] = sorted(
                set(first.get("aliases") or []) | set(entry.get("aliases") or [])
            )
            versions, fixes = affected.setdefault(advisory_id, {}).setdefault(
                canonicalize_name(name), (set(), set())
            )
            versions.add(version)
            fixes.update(entry.get("fixed_in") or [])
    documents = {}
    for advisory_id, entry in sorted(by_id.items()):
        document: dict[str, Any] = {
            "schema_version": "1.6.0",
            "id": advisory_id,
            "modified": modified,
            "aliases": [a for a in entry["aliases"] if a != advisory_id],
            "summary": entry.get("summary") or "",
            "details": entry.get("details") or "",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": name, "purl": f"pkg:pypi/{name}"},
                    "versions": sorted(versions, key=_order),
                    "ranges": _ranges(versions, fixes),
                    "database_specific": {"fixed_in": sorted(fixes, key=_order)},
                }
                for name, (versions, fixes) in sorted(affected[advisory_id].items())
            ],
            "database_specific": {"source": source, "written_by": WRITER},
        }
        if entry.get("withdrawn"):
            document["withdrawn"] = entry["withdrawn"]
        if entry.get("link"):
            document["references"] = [{"type": "ADVISORY", "url": entry["link"]}]
        documents[advisory_id] = document
    return documents


def _order(text: str) -> tuple[int, Version | str]:
    return (0, Version(text)) if _valid(text) else (1, text)


def document_bytes(document: Mapping[str, Any]) -> bytes:
    """How a document is written (stable, so a re-run writes the same bytes for the same data)."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def written_by_refresh(document: Any) -> bool:
    """Whether a document is one a refresh wrote (a refresh removes only its own)."""
    specific = document.get("database_specific") if isinstance(document, dict) else None
    return isinstance(specific, dict) and specific.get("written_by") == WRITER


# --- the manifest ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Refresh:
    """What ``refreshed.json`` says about its directory."""

    refreshed_at: str  # ISO 8601, UTC
    index: str  # the simple index URL, without a password
    checked: tuple[Package, ...] = ()
    not_checked: tuple[tuple[str, str, str], ...] = ()  # (name, version, why)
    files: dict[str, str] = field(default_factory=dict)  # file name → SHA-256
    seconds: float = 0.0
    found: dict[Package, tuple[str, ...]] = field(default_factory=dict)  # advisory ids

    @property
    def advisories(self) -> int:
        return len(self.files)

    def document(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "written_by": WRITER,
            "refreshed_at": self.refreshed_at,
            "index": self.index,
            "checked": [
                {"name": n, "version": v, "advisories": list(self.found.get((n, v), ()))}
                for n, v in self.checked
            ],
            "not_checked": [{"name": n, "version": v, "reason": r} for n, v, r in self.not_checked],
            "advisories": self.advisories,
            "files": dict(sorted(self.files.items())),
            "seconds": round(self.seconds, 1),
        }


def parse_refresh(data: str | bytes) -> Refresh:
    """A ``refreshed.json`` document; AdvisoryError naming what is wrong in it."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise AdvisoryError(f"{MANIFEST} is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise AdvisoryError(f"{MANIFEST}: not a format {FORMAT} refresh record")
    at = document.get("refreshed_at")
    if not isinstance(at, str) or _instant(at) is None:
        raise AdvisoryError(f"{MANIFEST}: refreshed_at should be an ISO 8601 time")
    index = document.get("index")
    files = document.get("files")
    if not isinstance(index, str) or not isinstance(files, dict):
        raise AdvisoryError(f"{MANIFEST}: no index or no files")
    try:
        entries = list(document["checked"])
        checked: tuple[Package, ...] = tuple(
            (canonicalize_name(str(e["name"])), str(e["version"])) for e in entries
        )
        found: dict[Package, tuple[str, ...]] = {
            package: tuple(str(i) for i in entry["advisories"])
            for package, entry in zip(checked, entries, strict=True)
            if entry.get("advisories")
        }
        not_checked = tuple(
            (canonicalize_name(str(e["name"])), str(e["version"]), str(e.get("reason", "")))
            for e in document.get("not_checked", [])
        )
    except (KeyError, TypeError, AttributeError, ValueError):
        raise AdvisoryError(
            f"{MANIFEST}: checked/not_checked should list name and version"
        ) from None
    return Refresh(
        at,
        index,
        checked,
        not_checked,
        {str(name): str(digest) for name, digest in files.items()},
        float(document.get("seconds") or 0.0),
        found,
    )


def _instant(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- judging a directory --------------------------------------------------------------------


@dataclass(frozen=True)
class Freshness:
    """How old a directory is and whether it still counts; ``line`` says so in words."""

    stale: bool
    line: str
    age: float | None = None  # seconds since the refresh; None when never refreshed


def judge_freshness(refresh: Refresh | None, *, now: str | datetime, max_age: float) -> Freshness:
    """Stale when never (completely) refreshed, older than ``max_age`` seconds, or dated in
    the future."""
    if refresh is None:
        return Freshness(True, f"advisories never refreshed (no {MANIFEST}: none, or cut off)")
    moment = now if isinstance(now, datetime) else _instant(now)
    at = _instant(refresh.refreshed_at)
    if moment is None or at is None:
        return Freshness(
            True, f"advisories refreshed at an unreadable time {refresh.refreshed_at!r}"
        )
    age = (moment - at).total_seconds()
    origin = f"from {refresh.index}"
    if age < -_SKEW:
        return Freshness(
            True, f"advisories refreshed in the future ({refresh.refreshed_at}) {origin}", age
        )
    ago = f"advisories refreshed {format_duration(max(age, 0.0))} ago {origin}"
    if age > max_age:
        return Freshness(True, f"{ago}: older than {format_duration(max_age)}", age)
    return Freshness(False, ago, age)


def _normal(version: str) -> Version | str:
    """What a version is compared by: PEP 440 equality (``1.0 == 1.0.0``) when it has one."""
    return Version(version) if _valid(version) else version


def uncovered(refresh: Refresh, installed: Mapping[str, str]) -> dict[str, str]:
    """{canonical name: why} of the ``installed`` packages the refresh did not check."""
    checked = {(name, _normal(version)) for name, version in refresh.checked}
    failed = {(name, _normal(version)): why for name, version, why in refresh.not_checked}
    missing: dict[str, str] = {}
    for raw, version in installed.items():
        key = (canonicalize_name(raw), _normal(version))
        if key in checked:
            continue
        if key in failed:
            missing[key[0]] = f"the index did not answer for {version} ({failed[key]})"
        else:
            missing[key[0]] = f"{version} not in the advisory refresh (run {FIX})"
    return missing
