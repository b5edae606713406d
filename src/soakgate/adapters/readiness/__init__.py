"""Read a project's requirements and ask an index about each of them and their dependencies.

    wanted, skipped = read_wanted([Path("requirements.txt"), Path("pyproject.toml")])
    source = open_index(index_location(None))
    checked = check_readiness(wanted, target, source, ReadinessCache(root, source.description))
    checked.assessments, checked.stats          # verdicts before propagation; what was read

Dependencies (Requires-Dist of the judged version, markers evaluated for the target) are
followed breadth first, at most ``MAX_DEPTH`` levels below the project's own requirements and
``MAX_PACKAGES`` packages in all; one the index does not know is left out (it is not judged).
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.metadata import InvalidMetadata
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from soakgate.adapters.readiness.cache import ReadinessCache
from soakgate.adapters.readiness.index import (
    IndexUnavailable,
    PageFailed,
    Source,
    index_location,
    open_index,
)
from soakgate.core.readiness import (
    Assessment,
    Metadata,
    ReadinessInputError,
    Target,
    Wanted,
    choose,
    judge,
    parse_metadata,
    parse_pyproject,
    parse_requirements,
)
from soakgate.errors import ConfigError

__all__ = [
    "Checked",
    "IndexUnavailable",
    "ReadinessCache",
    "Stats",
    "check_readiness",
    "index_location",
    "open_index",
    "read_wanted",
]
MAX_DEPTH = 4
MAX_PACKAGES = 300
WORKERS = 4
MAX_INCLUDES = 20  # nested -r files


def read_wanted(paths: Sequence[Path]) -> tuple[list[Wanted], list[str]]:
    """The requirements of requirements files (``-r`` includes followed) and ``pyproject.toml``
    files, and lines for what was left out; an unreadable file or bad line is a ConfigError."""
    wanted: list[Wanted] = []
    skipped: list[str] = []
    pending = [(path, 0) for path in paths]
    seen: set[Path] = set()
    while pending:
        path, depth = pending.pop(0)
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            message = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"{path}: {message}", hint="pass a requirements file") from None
        try:
            if path.suffix == ".toml":
                wanted += parse_pyproject(tomllib.loads(text), str(path))
                continue
            parsed = parse_requirements(text, str(path))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not TOML: {exc}") from None
        except ReadinessInputError as exc:
            raise ConfigError(str(exc), hint="fix the line, or leave it out") from None
        wanted += parsed.wanted
        skipped += parsed.skipped
        if parsed.includes and depth >= MAX_INCLUDES:
            raise ConfigError(f"{path}: -r includes nested deeper than {MAX_INCLUDES}")
        pending += [(path.parent / include, depth + 1) for include in parsed.includes]
    return wanted, skipped


@dataclass
class Stats:
    """What a check read: pages, and metadata downloaded or taken from the cache."""

    pages: int = 0
    pages_unchanged: int = 0
    metadata_downloaded: int = 0
    metadata_cached: int = 0
    metadata_missing: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def line(self) -> str:
        return (
            f"{self.pages} project pages ({self.pages_unchanged} unchanged); core metadata:"
            f" {self.metadata_downloaded} downloaded, {self.metadata_cached} from the cache,"
            f" {self.metadata_missing} not available"
        )


@dataclass
class Checked:
    assessments: list[Assessment]
    stats: Stats
    failed: dict[str, str]  # package: why its page could not be read


def _assess(
    wanted: Wanted, target: Target, source: Source, cache: ReadinessCache, stats: Stats
) -> Assessment | None:
    """One package judged; None when it is a dependency the index does not know."""
    cached = cache.page(wanted.name)
    page = source.page(wanted.name, cached)
    stats.add(pages=1, pages_unchanged=int(bool(page and page.unchanged)))
    if page is None:
        return None if wanted.dependency_of else judge(choose(wanted, None, target), None, target)
    choice = choose(wanted, page.files, target)
    metadata = None
    fetched: dict[str, Metadata] = {}
    if choice.file is not None and choice.kind != "sdist":
        metadata = cache.metadata(wanted.name, choice.file)
        if metadata is not None:
            stats.add(metadata_cached=1)
        else:
            data = source.metadata(choice.file)
            if data is not None:
                try:
                    metadata = parse_metadata(data)
                except (InvalidMetadata, ValueError, UnicodeDecodeError):
                    metadata = None
            if metadata is not None:
                fetched[choice.file.key] = metadata
                stats.add(metadata_downloaded=1)
            else:
                stats.add(metadata_missing=1)
    if fetched or not page.unchanged or cached is None:
        cache.save(wanted.name, page, fetched)
    return judge(choice, metadata, target)


def check_readiness(
    wanted: Sequence[Wanted],
    target: Target,
    source: Source,
    cache: ReadinessCache,
    *,
    max_depth: int = MAX_DEPTH,
    max_packages: int = MAX_PACKAGES,
    workers: int = WORKERS,
) -> Checked:
    """Every requirement judged, then the dependencies of the judged versions, level by
    level. A page the index failed to serve is listed in ``failed``; an unreachable index
    raises IndexUnavailable at once."""
    stats = Stats()
    done: dict[str, Assessment] = {}
    failed: dict[str, str] = {}
    seen = {w.name for w in wanted}
    level = list(wanted)
    depth = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while level:
            futures = [(w, pool.submit(_assess, w, target, source, cache, stats)) for w in level]
            following: list[Wanted] = []
            for one, future in futures:
                try:
                    assessment = future.result()
                except PageFailed as exc:
                    failed[one.name] = str(exc)
                    continue
                if assessment is None:
                    continue
                done[one.name] = assessment
                if depth >= max_depth:
                    continue
                for spec in assessment.requires:
                    name = canonicalize_name(Requirement(spec).name)
                    if name not in seen and len(seen) < max_packages:
                        seen.add(name)
                        following.append(Wanted(name, spec, dependency_of=one.name))
            level, depth = following, depth + 1
    return Checked(list(done.values()), stats, failed)
