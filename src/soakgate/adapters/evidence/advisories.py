"""Refresh an OSV advisory directory from the package index's JSON API, and judge one.

    index = configured_index(None)                    # --index-url, else pip's configuration
    packages = recorded_packages(state, [])           # from every release's SBOM evidence
    refresh = refresh_advisories(Path(".soakgate/advisories"), packages, index)
    refresh.not_checked                               # ((name, version, why), …): never clean
    checked = check_advisories(Path(".soakgate/advisories"), installed, now=now_iso())
    checked.freshness.line                            # "advisories refreshed 3d ago from …"

The manifest (``refreshed.json``) is removed first and written last, so a refresh killed
mid-way leaves a directory that reads as never refreshed. Every request has a timeout, the
whole refresh a time limit, and at most ``WORKERS`` requests run at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.evidence.audit import sbom_packages
from soakgate.adapters.process import run
from soakgate.adapters.state.evidence import CollectFailed, EvidenceStore, now_iso
from soakgate.core.advisories import (
    FIX,
    MANIFEST,
    MAX_AGE,
    AdvisoryError,
    Freshness,
    Package,
    Refresh,
    advisory_file,
    document_bytes,
    index_vulnerabilities,
    judge_freshness,
    osv_documents,
    parse_refresh,
    uncovered,
    written_by_refresh,
)
from soakgate.errors import ConfigError, SoakgateError

if TYPE_CHECKING:
    import httpx

WORKERS = 4
REQUEST_TIMEOUT = 15.0  # seconds, per request (connect, each read)
TOTAL_TIMEOUT = 300.0  # seconds, the whole refresh
MAX_ANSWER = 20 * 1024 * 1024  # bytes: a JSON API answer about one version is far smaller
PIP_CONFIG_TIMEOUT = 60.0
_INDEX_KEYS = (":env:.index-url", "install.index-url", "download.index-url", "global.index-url")
_CERT_KEYS = (":env:.cert", "install.cert", "download.cert", "global.cert")


class AdvisoriesStale(CollectFailed):
    """An advisory directory that does not count: never (fully) refreshed, too old, or
    changed since its refresh. The message names the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}: refresh it with `{FIX}`")


class AdvisoriesIncomplete(SoakgateError):
    """A refresh could not check some packages; they stay unaudited."""


# --- where to ask -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexSettings:
    url: str  # the simple index URL
    cert: str | None = None  # a CA bundle pip is configured with


def pip_settings() -> dict[str, str]:
    """pip's configuration (``pip config list``: files and ``PIP_*`` variables), merged."""
    result = run(
        [sys.executable, "-m", "pip", "config", "list"], timeout=PIP_CONFIG_TIMEOUT, check=False
    )
    found = {}
    for line in result.stdout.splitlines() if result.ok else []:
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip()] = value.strip().strip("'\"")
    return found


def configured_index(
    explicit: str | None, settings: Mapping[str, str] | None = None
) -> IndexSettings:
    """``explicit``, else the index URL pip is configured with, else pip's own default."""
    settings = pip_settings() if settings is None else settings
    cert = next((settings[k] for k in _CERT_KEYS if settings.get(k)), None)
    url = (
        explicit
        or os.environ.get("PIP_INDEX_URL")
        or next((settings[k] for k in _INDEX_KEYS if settings.get(k)), None)
    )
    if not url:
        url = _pip_default_index()
    try:
        json_api_root(url)
    except AdvisoryError as exc:
        raise ConfigError(f"--index-url: {exc}") from None
    return IndexSettings(url.split()[0], cert)


def _pip_default_index() -> str:
    """The index pip uses when configured with none."""
    try:
        from pip._internal.models.index import PyPI  # pip's own default, not written here
    except ImportError:
        raise ConfigError(
            "no package index configured",
            hint="set pip's index (pip config set global.index-url URL) or pass --index-url",
        ) from None
    return str(PyPI.simple_url)


def json_api_root(index_url: str) -> str:
    """The JSON API root of a simple index URL: its path without a trailing ``/simple``."""
    parts = urlsplit(index_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AdvisoryError(f"index URL {public_url(index_url)!r} is not an http(s) URL")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/simple")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def release_url(root: str, name: str, version: str) -> str:
    """``<root>/pypi/<name>/<version>/json``."""
    return f"{root}/pypi/{quote(canonicalize_name(name))}/{quote(version, safe='')}/json"


def public_url(url: str) -> str:
    """``url`` without a password in it (what is recorded and shown)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# --- what to check ----------------------------------------------------------------------------


def recorded_packages(state: Path, digests: Sequence[str]) -> tuple[set[Package], list[str]]:
    """(name, version) pairs of the SBOM evidence of ``digests`` (all releases with one when
    empty), and the digests they came from. A named release without an SBOM is an error."""
    from soakgate.adapters.state.releases import StateDB

    with StateDB.open(state) as db:
        wanted = list(digests) or [release.digest for release in db.releases()]
    packages: set[Package] = set()
    used = []
    with EvidenceStore.open(state) as store:
        for digest in wanted:
            sbom = store.read(digest, "sbom")
            if sbom is None:
                if digests:
                    raise ConfigError(
                        f"release {digest[7:19]} has no SBOM evidence",
                        hint=f"collect it first: soakgate evidence collect {digest[7:19]}",
                    )
                continue
            packages |= {(canonicalize_name(n), v) for n, v in sbom_packages(sbom).items()}
            used.append(digest)
    return packages, used


def pinned_packages(path: Path) -> set[Package]:
    """The ``name==version`` pins of a requirements file (hashes and options ignored); a line
    that is not an exact pin is an error naming it."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"--requirements {path}: {exc.strerror or exc}") from None
    found: set[Package] = set()
    for number, line in _logical_lines(text):
        words = line.split()
        spec = " ".join(_until_option(words))
        if not spec:
            continue
        try:
            requirement = Requirement(spec)
        except InvalidRequirement:
            raise ConfigError(f"{path}:{number}: not a requirement: {spec[:80]}") from None
        pins = [s.version for s in requirement.specifier if s.operator in ("==", "===")]
        if len(requirement.specifier) != 1 or not pins or "*" in pins[0]:
            raise ConfigError(f"{path}:{number}: {requirement.name} is not pinned (name==version)")
        found.add((canonicalize_name(requirement.name), pins[0]))
    return found


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(first line number, line) with backslash continuations joined and comments removed."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        start = start or number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield start, (pending + line).strip()
        pending, start = "", 0
    if pending.strip():
        yield start, pending.strip()


def _until_option(words: list[str]) -> list[str]:
    kept = []
    for word in words:
        if word.startswith("-"):
            break
        kept.append(word)
    return kept


# --- refreshing -------------------------------------------------------------------------------


@dataclass
class _Asked:
    found: dict[Package, list[dict[str, Any]]] = field(default_factory=dict)
    failed: dict[Package, str] = field(default_factory=dict)


def fetch_vulnerabilities(
    client: httpx.Client, root: str, package: Package, deadline: float
) -> list[dict[str, Any]]:
    """The index's vulnerabilities of one (name, version); AdvisoryError saying why not."""
    import httpx

    name, version = package
    url = release_url(root, name, version)
    try:
        with client.stream("GET", url) as response:
            if response.status_code == 404:
                raise AdvisoryError("the index does not know this version (HTTP 404)")
            if response.status_code != 200:
                raise AdvisoryError(f"HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER:
                    raise AdvisoryError(f"the answer is larger than {MAX_ANSWER} bytes")
                if time.monotonic() > deadline:
                    raise AdvisoryError("the refresh's time limit ran out")
    except httpx.TimeoutException:
        raise AdvisoryError("no answer in time") from None
    except httpx.HTTPError as exc:
        raise AdvisoryError(f"{type(exc).__name__}: {exc}") from None
    try:
        answer = json.loads(bytes(body))
    except ValueError:
        raise AdvisoryError("the answer is not JSON") from None
    return index_vulnerabilities(answer, name, version)


def _ask_all(
    client: httpx.Client, root: str, packages: Sequence[Package], workers: int, total: float
) -> _Asked:
    """Every package asked, at most ``workers`` at a time, within ``total`` seconds."""
    asked = _Asked()
    deadline = time.monotonic() + total
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(packages))))
    try:
        futures: dict[Future[list[dict[str, Any]]], Package] = {
            pool.submit(fetch_vulnerabilities, client, root, p, deadline): p for p in packages
        }
        pending = set(futures)
        while pending:
            left = deadline - time.monotonic()
            done, pending = wait(pending, timeout=max(left, 0.0), return_when=FIRST_COMPLETED)
            for future in done:
                package = futures[future]
                try:
                    asked.found[package] = future.result()
                except AdvisoryError as exc:
                    asked.failed[package] = str(exc)
                except Exception as exc:  # one package's surprise is that package's failure
                    asked.failed[package] = f"{type(exc).__name__}: {exc}"
            if not done and left <= 0:
                for future in pending:
                    asked.failed[futures[future]] = f"not answered within {total:g} s"
                break
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return asked


def refresh_advisories(
    directory: Path,
    packages: Iterable[Package],
    index: IndexSettings,
    *,
    workers: int = WORKERS,
    timeout: float = REQUEST_TIMEOUT,
    total: float = TOTAL_TIMEOUT,
    clock: Callable[[], str] = now_iso,
) -> Refresh:
    """Ask the index about every package, then rewrite ``directory``: one OSV document per
    advisory, then ``refreshed.json``. Packages the index did not answer for are listed as
    not checked; when it answered for none, the directory is left as it was."""
    import httpx

    started = time.monotonic()
    wanted = sorted({(canonicalize_name(name), version) for name, version in packages})
    root = json_api_root(index.url)
    with httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        headers={"Accept": "application/json"},
        verify=_verify(index.cert),
    ) as client:
        asked = _ask_all(client, root, wanted, workers, total)
    if wanted and not asked.found:
        first = next(iter(sorted(asked.failed.items())))
        raise AdvisoriesIncomplete(
            f"{public_url(index.url)} answered for none of {len(wanted)} packages"
            f" ({first[0][0]} {first[0][1]}: {first[1]}); {directory} left as it was",
            hint="check the index (pip config list, --index-url) and run it again",
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)  # from here on: not refreshed
    refreshed_at = clock()
    documents = osv_documents(asked.found, modified=refreshed_at, source=public_url(root))
    files = {}
    for document in documents.values():
        name = advisory_file(document["id"])
        data = document_bytes(document)
        write_atomic(directory / name, data, mode=0o644)
        files[name] = hashlib.sha256(data).hexdigest()
    _remove_old_documents(directory, keep=set(files))
    refresh = Refresh(
        refreshed_at,
        public_url(index.url),
        tuple(p for p in wanted if p in asked.found),
        tuple((n, v, asked.failed[(n, v)]) for n, v in wanted if (n, v) in asked.failed),
        files,
        round(time.monotonic() - started, 1),
        {
            p: tuple(sorted({str(e["id"]) for e in found}))
            for p, found in asked.found.items()
            if found
        },
    )
    text = json.dumps(refresh.document(), indent=2, sort_keys=True) + "\n"
    write_atomic(directory / MANIFEST, text, mode=0o644)
    return refresh


def _verify(cert: str | None) -> ssl.SSLContext | bool:
    """TLS verification with pip's CA bundle when it has one."""
    if not cert:
        return True
    try:
        return ssl.create_default_context(cafile=cert)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"pip's cert {cert}: {getattr(exc, 'strerror', None) or exc}") from None


def _remove_old_documents(directory: Path, keep: set[str]) -> None:
    """Remove the documents an earlier refresh wrote that this one did not (others stay)."""
    for path in directory.glob("*.json"):
        if path.name in keep or path.name == MANIFEST:
            continue
        with contextlib.suppress(OSError, ValueError):
            if written_by_refresh(json.loads(path.read_bytes())):
                path.unlink()


# --- judging ----------------------------------------------------------------------------------


def read_refresh(directory: Path) -> Refresh | None:
    """The directory's refresh record, None when it has none; AdvisoriesStale when it is
    unreadable or a document it lists is missing or changed."""
    try:
        data = (directory / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AdvisoriesStale(f"{directory / MANIFEST}: {exc.strerror or exc}") from None
    try:
        refresh = parse_refresh(data)
    except AdvisoryError as exc:
        raise AdvisoriesStale(f"{directory}: {exc}") from None
    for name, digest in sorted(refresh.files.items()):
        path = directory / name
        try:
            same = hashlib.sha256(path.read_bytes()).hexdigest() == digest
        except OSError:
            raise AdvisoriesStale(f"{path}: gone since the refresh of {directory}") from None
        if not same:
            raise AdvisoriesStale(f"{path}: changed since the refresh of {directory}")
    return refresh


@dataclass(frozen=True)
class AdvisoryCheck:
    """A directory that counts: its refresh, how old, and the packages it does not cover."""

    refresh: Refresh
    freshness: Freshness
    uncovered: dict[str, str]


def check_advisories(
    directory: Path, installed: Mapping[str, str], *, now: str, max_age: float = MAX_AGE
) -> AdvisoryCheck:
    """The directory, judged for ``installed``: AdvisoriesStale (one line naming the fix)
    when it was never completely refreshed, is older than ``max_age`` seconds, or changed."""
    refresh = read_refresh(directory)
    freshness = judge_freshness(refresh, now=now, max_age=max_age)
    if refresh is None or freshness.stale:
        raise AdvisoriesStale(f"--advisories {directory}: {freshness.line}")
    return AdvisoryCheck(refresh, freshness, uncovered(refresh, installed))
