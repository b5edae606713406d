"""Use case: judge requirement files' readiness for a Python against a package index, for
``soakgate readiness`` and for the image build, which asks before it downloads a wheelhouse.

    report, read = assess([Path("requirements.txt")], parse_target("3.14"), index=None,
                          cache_root=state / "cache" / "readiness")
    report.decision.go, read        # False when a required package is No; what was read
    check_buildable(Path("images/service/requirements.txt"), "3.14", cache_root)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from soakgate.adapters.readiness import (
    ReadinessCache,
    check_readiness,
    index_location,
    open_index,
    read_wanted,
)
from soakgate.adapters.readiness.index import FIX, IndexUnavailable
from soakgate.core.doctor import REBUILD_314, outdated_314_bases
from soakgate.core.readiness import (
    NO,
    Report,
    Target,
    applicable,
    build_report,
    parse_target,
    report_markdown,
)
from soakgate.errors import ConfigError, SoakgateError

CACHE = "readiness"  # the cache's folder under <state>/cache


class NotReady(SoakgateError):
    """The migration is NO-GO: a required package is No."""

    exit_code = 1


def _engine_bases() -> dict[str, str]:
    from soakgate.adapters.images.interpreter_info import base_python_versions

    return base_python_versions()


def base_warnings(python: str, bases: Callable[[], Mapping[str, str]] = _engine_bases) -> list[str]:
    """For a migration to 3.14: a line for each 3.14 base image on this engine that is older
    than 3.14.5 (the one whose GC does not grow memory); none when no engine answers."""
    if python != "3.14":
        return []
    return [
        f"warning: base image {tag} has Python {why}; {REBUILD_314}"
        for tag, why in outdated_314_bases(bases()).items()
    ]


def assess(
    paths: Sequence[Path],
    target: Target,
    *,
    index: str | None,
    cache_root: Path | None,
    bases: Callable[[], Mapping[str, str]] = _engine_bases,
) -> tuple[Report, str]:
    """The readiness report of the requirements in ``paths`` for ``target`` (with a warning
    for each 3.14 base image older than 3.14.5), and a line saying what was read from the
    index (pages, metadata, cache)."""
    everything, skipped = read_wanted(paths)
    wanted, left_out = applicable(everything, target)
    if not wanted:
        raise ConfigError(f"no requirement to check in {', '.join(map(str, paths))}")
    source = open_index(index_location(index))
    try:
        cache = ReadinessCache(cache_root, source.description)
        checked = check_readiness(wanted, target, source, cache)
    finally:
        source.close()
    if checked.failed:
        shown = "; ".join(f"{name}: {why}" for name, why in sorted(checked.failed.items())[:3])
        more = f" and {len(checked.failed) - 3} more" if len(checked.failed) > 3 else ""
        raise IndexUnavailable(
            f"index {source.description} did not serve {len(checked.failed)} project pages"
            f" ({shown}{more})",
            hint=FIX,
        )
    notes = []
    if checked.stats.metadata_missing and not checked.stats.metadata_downloaded:
        notes.append(
            "The index serves no core metadata (PEP 658): classifiers and dependencies not read."
        )
    notes += base_warnings(target.python, bases)
    report = build_report(
        checked.assessments, target, source.description, [*skipped, *left_out], notes
    )
    return report, checked.stats.line()


def check_buildable(
    requirements: Path, python: str, cache_root: Path | None, index: str | None = None
) -> None:
    """Before a wheelhouse download: refuse a NO-GO for ``python`` with the table (a package
    with no installable file, say which and why) instead of pip's first missing wheel. An
    index that cannot be asked is no refusal: the download then says what it says."""
    try:
        report, _ = assess([requirements], parse_target(python), index=index, cache_root=cache_root)
    except IndexUnavailable:
        return
    if report.decision.go and not any(p.verdict == NO for p in report.packages):
        return
    blockers = ", ".join(f"{p.name} ({p.reason})" for p in report.packages if p.verdict == NO)
    raise NotReady(
        f"Python {python}: {blockers or report.decision.line}\n{report_markdown(report)}",
        hint=f"soakgate readiness {requirements} --python {python} shows the table;"
        " pin versions that publish wheels for it, or drop it from [images] pythons",
    )
