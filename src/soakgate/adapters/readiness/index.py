"""Where the readiness check reads project pages and core metadata: a simple index over HTTP
(PEP 691 JSON, else PEP 503 HTML), a simple index in a directory, or a flat wheelhouse.

    source = open_index(index_location(None))          # pip's index unless --index says
    page = source.page("torch", cached=None)           # Page(files, etag, …), None: unknown
    data = source.metadata(page.files[0])              # METADATA bytes, None: not available

All three answer the same way. Over HTTP a page is asked with the cached page's ETag and
Last-Modified (304: unchanged), and core metadata only where the page says the index serves
it (PEP 658/714 ``.metadata``); in a directory it is the ``.metadata`` file beside a wheel, or
the wheel's own METADATA.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from soakgate.adapters.evidence.advisories import (
    _CERT_KEYS,
    _INDEX_KEYS,
    _verify,
    pip_settings,
    public_url,
)
from soakgate.core.readiness import IndexFile
from soakgate.errors import ConfigError

if TYPE_CHECKING:
    import httpx

REQUEST_TIMEOUT = 30.0  # seconds, per request (connect, each read)
MAX_PAGE = 64 * 1024 * 1024  # bytes: the largest project pages are a few MB
MAX_METADATA = 4 * 1024 * 1024
MAX_RANGE = 8 * 1024 * 1024  # bytes in one range answer
BLOCK = 64 * 1024  # a wheel is read in blocks of this size (its tail first)
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2,"
    " text/html;q=0.01"
)
FIX = "check the index (pip config list, PIP_INDEX_URL) or pass --index URL_OR_DIR"


class IndexUnavailable(ConfigError):
    """The index cannot be read at all (unreachable, refused, not an index)."""


class PageFailed(Exception):
    """One project page could not be read; the message says why."""


@dataclass(frozen=True)
class Page:
    """A project's files as the index lists them, and what identifies this state of it."""

    files: tuple[IndexFile, ...]
    etag: str | None = None
    last_modified: str | None = None
    digest: str = ""  # SHA-256 of the page as served (or of a directory's listing)
    unchanged: bool = False  # the index said 304, or served the same bytes


class Source(Protocol):
    """An index: project pages and core metadata."""

    description: str

    def page(self, name: str, cached: Page | None) -> Page | None: ...

    def metadata(self, file: IndexFile) -> bytes | None: ...

    def close(self) -> None: ...


# --- choosing the index -----------------------------------------------------------------------


@dataclass(frozen=True)
class IndexLocation:
    where: str  # an http(s) URL or a directory
    cert: str | None = None


def index_location(
    explicit: str | None, settings: Mapping[str, str] | None = None
) -> IndexLocation:
    """``--index``, else ``PIP_INDEX_URL``, else pip's configured index-url, else pip's own
    default (taken from pip, never written here)."""
    if explicit:
        return IndexLocation(explicit.strip())
    settings = pip_settings() if settings is None else settings
    cert = next((settings[k] for k in _CERT_KEYS if settings.get(k)), None)
    url = os.environ.get("PIP_INDEX_URL") or next(
        (settings[k] for k in _INDEX_KEYS if settings.get(k)), None
    )
    if not url:
        try:
            from pip._internal.models.index import PyPI
        except ImportError:
            raise ConfigError(
                "no package index configured, and pip is not installed to name its default",
                hint="pass --index URL_OR_DIR or set pip's index (pip config set global.index-url)",
            ) from None
        url = str(PyPI.simple_url)
    return IndexLocation(url.split()[0], cert)


def open_index(location: IndexLocation, timeout: float = REQUEST_TIMEOUT) -> Source:
    """The source for an http(s) URL, a ``file://`` URL or a directory path."""
    where = location.where
    scheme = urlsplit(where).scheme
    if scheme in ("http", "https"):
        return HttpIndex(where, timeout, location.cert)
    path = Path(url2pathname(urlsplit(where).path)) if scheme == "file" else Path(where)
    if len(scheme) > 1 and scheme != "file":
        raise ConfigError(
            f"--index {where}: not an http(s) URL, a file:// URL or a directory", hint=FIX
        )
    if not path.is_dir():
        raise IndexUnavailable(f"--index {where}: no such directory", hint=FIX)
    return DirectoryIndex(path)


# --- reading pages ----------------------------------------------------------------------------


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
        elif tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")


def _file(
    url: str,
    filename: str,
    requires_python: str | None,
    yanked: bool,
    has_metadata: bool,
    hashes: Mapping[str, str],
) -> IndexFile:
    key = next((f"{k}={hashes[k]}" for k in ("sha256", "sha512", "sha384") if k in hashes), url)
    return IndexFile(
        filename=filename,
        url=url,
        requires_python=(requires_python or "").strip() or None,
        yanked=yanked,
        key=f"{filename}#{key}",
        has_metadata=has_metadata,
    )


def parse_html_page(text: str, page_url: str) -> tuple[IndexFile, ...]:
    """The files of a PEP 503 page (with PEP 592 yanked and PEP 658/714 metadata marks)."""
    parser = _Anchors()
    parser.feed(text)
    base = urljoin(page_url, parser.base) if parser.base else page_url
    files = []
    for anchor in parser.anchors:
        href = anchor.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        hash_name, _, hash_value = fragment.partition("=")
        metadata = anchor.get("data-core-metadata") or anchor.get("data-dist-info-metadata")
        has_metadata = metadata is not None and metadata.lower() != "false"
        files.append(
            _file(
                url,
                filename,
                anchor.get("data-requires-python"),
                "data-yanked" in anchor,
                has_metadata,
                {hash_name: hash_value} if hash_value else {},
            )
        )
    return tuple(files)


def parse_json_page(data: Any, page_url: str) -> tuple[IndexFile, ...]:
    """The files of a PEP 691 JSON page."""
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise PageFailed("the JSON page has no files list")
    files = []
    for entry in data["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            continue
        url = urljoin(page_url, str(entry.get("url") or entry["filename"]))
        metadata = entry.get("core-metadata", entry.get("dist-info-metadata", False))
        hashes = entry.get("hashes") if isinstance(entry.get("hashes"), dict) else {}
        requires_python = entry.get("requires-python")
        files.append(
            _file(
                urldefrag(url)[0],
                entry["filename"],
                requires_python if isinstance(requires_python, str) else None,
                bool(entry.get("yanked")),
                bool(metadata),
                hashes or {},
            )
        )
    return tuple(files)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class HttpIndex:
    """A simple index over HTTP(S)."""

    def __init__(self, url: str, timeout: float = REQUEST_TIMEOUT, cert: str | None = None):
        import httpx

        self.url = url if url.endswith("/") else url + "/"
        self.description = public_url(url)
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=True, verify=_verify(cert)
        )

    def close(self) -> None:
        self.client.close()

    def _get(
        self, url: str, headers: Mapping[str, str], limit: int
    ) -> tuple[httpx.Response, bytes]:
        import httpx

        try:
            with self.client.stream("GET", url, headers=dict(headers)) as response:
                body = bytearray()
                if response.status_code in (200, 206):
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > (limit or MAX_RANGE):
                            raise PageFailed(f"{url}: larger than {limit} bytes")
                return response, bytes(body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise IndexUnavailable(
                f"index {self.description} cannot be reached: {type(exc).__name__}: {exc}",
                hint=FIX,
            ) from None
        except httpx.TimeoutException:
            raise PageFailed(f"no answer within the timeout from {public_url(url)}") from None
        except httpx.HTTPError as exc:
            raise PageFailed(f"{public_url(url)}: {type(exc).__name__}: {exc}") from None

    def page(self, name: str, cached: Page | None) -> Page | None:
        url = urljoin(self.url, canonicalize_name(name) + "/")
        headers = {"Accept": ACCEPT}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        response, body = self._get(url, headers, MAX_PAGE)
        if response.status_code == 304 and cached is not None:
            return Page(cached.files, cached.etag, cached.last_modified, cached.digest, True)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PageFailed(f"{public_url(url)}: HTTP {response.status_code}")
        digest = _digest(body)
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        if cached is not None and cached.digest == digest:
            return Page(cached.files, etag, modified, digest, True)
        final = str(response.url)
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind.endswith("+json") or kind == "application/json":
            try:
                files = parse_json_page(json.loads(body), final)
            except ValueError:
                raise PageFailed(f"{public_url(url)}: the JSON page does not parse") from None
        else:
            files = parse_html_page(body.decode("utf-8", "replace"), final)
        return Page(files, etag, modified, digest)

    def metadata(self, file: IndexFile) -> bytes | None:
        """The ``.metadata`` file where the page says there is one, else the METADATA inside
        the wheel, read with HTTP range requests (its zip directory and that one member)."""
        if file.has_metadata:
            response, body = self._get(file.url + ".metadata", {}, MAX_METADATA)
            if response.status_code == 200:
                return body
        if not file.filename.endswith(".whl"):
            return None
        try:
            return _zip_metadata(io.BufferedReader(_RangeFile(self, file.url), BLOCK))
        except (PageFailed, OSError, ValueError, zipfile.BadZipFile):
            return None

    def read_range(self, url: str, start: int | None, end: int | None) -> tuple[bytes, int]:
        """Bytes ``start``..``end`` (inclusive) of ``url``, or its last ``end`` bytes when
        ``start`` is None, and the file's size. OSError when the server serves no ranges."""
        wanted = f"bytes=-{end}" if start is None else f"bytes={start}-{end}"
        response, body = self._get(url, {"Range": wanted, "Accept-Encoding": "identity"}, 0)
        if response.status_code != 206:
            raise OSError(f"{public_url(url)}: no range answer (HTTP {response.status_code})")
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        if not total.isdigit():
            raise OSError(f"{public_url(url)}: no size in Content-Range")
        return body, int(total)


# --- directories ------------------------------------------------------------------------------


def _project_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(filename)[0])
        if filename.endswith((".tar.gz", ".zip")):
            return canonicalize_name(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


class DirectoryIndex:
    """A simple index in a directory (``<name>/index.html``) or a flat wheelhouse."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.description = str(self.root)
        self.simple = (self.root / "index.html").is_file() or any(
            (child / "index.html").is_file() for child in self.root.iterdir() if child.is_dir()
        )

    def close(self) -> None:
        pass

    def page(self, name: str, cached: Page | None) -> Page | None:
        wanted = canonicalize_name(name)
        if self.simple:
            return self._simple_page(wanted, cached)
        found = []
        for path in sorted(self.root.iterdir()):
            if path.is_file() and _project_of(path.name) == wanted:
                stat = path.stat()
                found.append((path, f"{path.name}#{stat.st_size}:{stat.st_mtime_ns}"))
        if not found:
            return None
        digest = _digest("\n".join(key for _, key in found).encode())
        if cached is not None and cached.digest == digest:
            return Page(cached.files, digest=digest, unchanged=True)
        files = tuple(
            IndexFile(path.name, path.as_uri(), key=key, has_metadata=_has_metadata(path))
            for path, key in found
        )
        return Page(files, digest=digest)

    def _simple_page(self, name: str, cached: Page | None) -> Page | None:
        folder = self.root / name
        if not (folder / "index.html").is_file():
            folder = next(
                (
                    d
                    for d in self.root.iterdir()
                    if d.is_dir() and canonicalize_name(d.name) == name
                ),
                folder,
            )
        try:
            body = (folder / "index.html").read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PageFailed(f"{folder / 'index.html'}: {exc.strerror or exc}") from None
        digest = _digest(body)
        if cached is not None and cached.digest == digest:
            return Page(cached.files, digest=digest, unchanged=True)
        files = parse_html_page(body.decode("utf-8", "replace"), (folder / "index.html").as_uri())
        return Page(files, digest=digest)

    def metadata(self, file: IndexFile) -> bytes | None:
        if urlsplit(file.url).scheme != "file":
            return None
        path = Path(url2pathname(urlsplit(file.url).path))
        beside = path.with_name(path.name + ".metadata")
        if beside.is_file():
            return beside.read_bytes()
        if path.suffix == ".whl" and path.is_file():
            return wheel_metadata(path)
        return None


class _RangeFile(io.RawIOBase):
    """A remote wheel as a seekable file that reads only the blocks asked for."""

    def __init__(self, index: HttpIndex, url: str) -> None:
        super().__init__()
        self.index, self.url = index, url
        tail, self.size = index.read_range(url, None, BLOCK)
        self.blocks: dict[int, bytes] = {}
        self._store(self.size - len(tail), tail)
        self.position = 0

    def _store(self, start: int, data: bytes) -> None:
        self.blocks[start] = data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def _cached(self, start: int, end: int) -> bytes | None:
        for first, data in self.blocks.items():
            if first <= start and end <= first + len(data):
                return data[start - first : end - first]
        return None

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self.position + len(view), self.size)
        if end <= self.position:
            return 0
        data = self._cached(self.position, end)
        if data is None:
            fetch_end = min(max(end, self.position + BLOCK), self.size) - 1
            data, _ = self.index.read_range(self.url, self.position, fetch_end)
            self._store(self.position, data)
            data = data[: end - self.position]
        view[: len(data)] = data
        self.position += len(data)
        return len(data)


def _zip_metadata(file: IO[bytes]) -> bytes | None:
    """The top-level ``*.dist-info/METADATA`` of a wheel (None when it has none)."""
    with zipfile.ZipFile(file) as archive:
        names = [
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if not names or archive.getinfo(names[0]).file_size > MAX_METADATA:
            return None
        return archive.read(names[0])


def _has_metadata(path: Path) -> bool:
    return path.suffix == ".whl" or path.with_name(path.name + ".metadata").is_file()


def wheel_metadata(path: Path) -> bytes | None:
    """The METADATA of a wheel file (None when it has none or is no zip)."""
    try:
        with path.open("rb") as file:
            return _zip_metadata(file)
    except (OSError, zipfile.BadZipFile):
        return None
