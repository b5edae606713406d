"""Use case: compare two releases (or a release and its variant) side by side on this host and
write the result where people and the comparison report read it.

    request = CompareRequest("sha256:a…", None, variant="jit")     # a release against its JIT
    result = compare(project, request)
    result.comparison.overall(), result.folder   # <state>/compare/<when>-<a>-<b>[-variant]/

The folder holds ``comparison.json`` (every figure, interval and verdict, and the method),
``comparison.md`` (the table) and ``comparison.svg`` (the forest plot).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.state.releases import StateDB
from soakgate.core.compare import LOWER, Comparison, render_markdown, repeated_figure
from soakgate.core.interpreter_build import InterpreterBuild, comparison_note
from soakgate.core.names import short_digest
from soakgate.core.project import Project
from soakgate.core.readiness import NO, Report, parse_target, report_markdown
from soakgate.core.release import Release
from soakgate.core.variants import FREE_THREADED, JIT, VariantUnavailable, variant_environment
from soakgate.errors import ConfigError

Measure = Callable[..., Comparison]
# (project, [(image, Python series, environment) per side], rounds) -> seconds per side
TimeSuite = Callable[
    [Project, Sequence[tuple[str, str, Mapping[str, str]]], int], list[list[float]]
]


@dataclass(frozen=True)
class CompareRequest:
    """What to compare: ``a`` against ``b`` (default: ``a`` itself), ``b`` run as ``variant``."""

    a: str
    b: str | None = None
    variant: str | None = None
    threshold: float = 5.0
    seconds: float = 30.0
    max_seconds: float = 120.0
    test_rounds: int = 5  # timed runs of the service's test suite per side; 0: none


@dataclass(frozen=True)
class CompareResult:
    comparison: Comparison
    folder: Path
    files: Sequence[Path]


def _release(db: StateDB, ref: str) -> Release:
    release = db.find_release(ref)
    if release is None:
        raise ConfigError(
            f"release {ref!r}: no release has this digest, prefix (12+ hex digits) or tag,"
            " or the prefix matches several",
            hint="soakgate releases lists them",
        )
    return release


def _label(release: Release, variant: str | None) -> str:
    label = f"{release.python} {short_digest(release.digest)}"
    return f"{label} + {variant}" if variant else label


def check_request(request: CompareRequest) -> None:
    """Refuse what cannot be compared before anything starts."""
    if request.b is None and request.variant is None:
        raise ConfigError(
            "compare needs two releases, or one and --variant",
            hint="soakgate compare RELEASE_A RELEASE_B, or soakgate compare RELEASE --variant jit",
        )
    if not 0 < request.threshold <= 100:
        raise ConfigError(
            f"--threshold {request.threshold:g}: expected a percentage above 0 and at most 100",
            hint="the default is 5",
        )
    if not 5 <= request.seconds <= request.max_seconds:
        raise ConfigError(
            f"--seconds {request.seconds:g}: expected at least 5 and at most"
            f" --max-seconds ({request.max_seconds:g})",
            hint="the default is 30",
        )
    if not 0 <= request.test_rounds <= 50:
        raise ConfigError(
            f"--test-rounds {request.test_rounds}: expected 0 (no test suite timing) to 50",
            hint="the default is 5",
        )


def interpreter_notes(a: InterpreterBuild, b: InterpreterBuild, variant: str | None) -> list[str]:
    """Refuse a variant B's interpreter cannot run; else the builds side by side, and a "not
    like with like" note when they differ in more than the variant switches on."""
    if variant == JIT and not b.jit_available:
        raise VariantUnavailable(
            f"variant jit: the interpreter of B has no JIT ({b.summary()})",
            hint="the JIT needs an interpreter configured with --enable-experimental-jit"
            " (Debian's 3.14 is)",
        )
    if variant == FREE_THREADED and not b.free_threaded:
        raise VariantUnavailable(
            f"variant free-threaded: the interpreter of B has the GIL ({b.summary()}); no Debian"
            " suite ships a free-threaded 3.14 (python3.14t) to build one on",
            hint="check the wheels first: soakgate readiness requirements.txt --python 3.14"
            " --free-threaded",
        )
    intended = dataclasses.replace(b, jit_enabled=False) if variant == JIT else b
    notes = [f"A: {a.summary()}", f"B: {b.summary()}" + (f" + {variant}" if variant else "")]
    note = comparison_note(a, intended)
    return [*notes, note] if note else [*notes, "interpreters built alike"]


def free_threaded_readiness(project: Project, python: str) -> Report | None:
    """The readiness of the service's requirements for ``python``'s free-threaded build
    (``cp3Xt`` wheels), from pip's index; None for a service with no requirements or when
    the index cannot be asked."""
    from soakgate.adapters.readiness.index import IndexUnavailable
    from soakgate.adapters.state.db import cache_dir
    from soakgate.app.readiness import CACHE, assess

    service = project.config.service
    if not service.requirements:
        return None
    path = project.root / service.context / service.requirements[0]
    target = parse_target(python, free_threaded=True)
    try:
        report, _ = assess([path], target, index=None, cache_root=cache_dir(CACHE))
    except IndexUnavailable:
        return None
    return report


def check_free_threaded(
    notes: Callable[[], list[str]], readiness: Report | None, python: str
) -> list[str]:
    """The ``free-threaded`` variant's checks: its interpreter (``notes`` raises when B has
    the GIL) and its wheels (a package that is No for ``cp3Xt``); a refusal carries the
    readiness table, so that it says what else stands in the way."""
    table = f"\n{report_markdown(readiness)}" if readiness is not None else ""
    try:
        found = notes()
    except VariantUnavailable as exc:
        raise VariantUnavailable(exc.message + table, hint=exc.hint) from None
    missing = [p for p in readiness.packages if p.verdict == NO] if readiness else []
    if missing:
        blockers = ", ".join(f"{p.name} ({p.reason})" for p in missing)
        raise VariantUnavailable(
            f"variant free-threaded: no Python {python}t wheel for {blockers}{table}",
            hint=f"soakgate readiness REQUIREMENTS --python {python} --free-threaded shows the"
            " table; pin versions that publish cp3Xt wheels",
        )
    return found


def suite_seconds(
    project: Project, sides: Sequence[tuple[str, str, Mapping[str, str]]], rounds: int
) -> list[list[float]]:
    """The service's test suite timed in each side's image (``adapters.evidence.suite_timing``),
    with the test wheels of each side's Python from the evidence's cache."""
    from soakgate.adapters.evidence.layout import ServiceLayout
    from soakgate.adapters.evidence.suite_timing import SuiteSide, time_suites
    from soakgate.adapters.evidence.tests import download_test_wheels

    service = project.config.service
    layout = ServiceLayout(project.root / service.context, service)
    cache = project.state / "cache" / "evidence"
    timed = [
        SuiteSide(image, download_test_wheels(layout, series, cache), environment)
        for image, series, environment in sides
    ]
    with tempfile.TemporaryDirectory(prefix="soakgate-suite-") as work:
        return time_suites(
            timed, layout, rounds=rounds, work=Path(work), namespace=project.config.namespace
        )


def compare(
    project: Project,
    request: CompareRequest,
    *,
    measure: Measure | None = None,
    build_of: Callable[[str], InterpreterBuild] | None = None,
    readiness: Callable[[Project, str], Report | None] = free_threaded_readiness,
    time_suite: TimeSuite = suite_seconds,
) -> CompareResult:
    """Measure, then write the folder; nothing is written when the measurement fails."""
    check_request(request)
    service = project.config.service
    with StateDB.open(project.state) as db:
        a = _release(db, request.a)
        b = _release(db, request.b) if request.b is not None else a
        built = db.variant_of(b.digest, request.variant) if request.variant else None
    environment = variant_environment(request.variant, service.variants) if request.variant else {}
    b_image = b.digest
    if built is not None:  # the variant image the Pulumi program built: its ENV is set
        b_image, environment = built.digest, {}
    if build_of is None:
        from soakgate.adapters.images.interpreter_info import build_of as read_build

        build_of = read_build
    builds = {digest: build_of(digest) for digest in {a.digest, b_image}}  # once if the same

    def notes_of() -> list[str]:
        found = interpreter_notes(builds[a.digest], builds[b_image], request.variant)
        if built is not None:
            found.insert(2, f"B: variant image {built.image} ({short_digest(built.digest)})")
        return found

    if request.variant == FREE_THREADED:
        notes = check_free_threaded(notes_of, readiness(project, b.python_series), b.python_series)
    else:
        notes = notes_of()
    if measure is None:
        from soakgate.adapters.evidence.compare import compare_images

        measure = compare_images
    from soakgate.adapters.evidence.compare import ComparePlan, Side

    comparison = measure(
        Side(a.digest, _label(a, None)),
        Side(b_image, _label(b, request.variant), environment),
        port=service.port,
        health_path=service.health_path,
        workload=service.workload,
        plan=ComparePlan(
            seconds=request.seconds,
            max_seconds=request.max_seconds,
            threshold=request.threshold,
        ),
        namespace=project.config.namespace,
        notes=notes,
    )
    if request.test_rounds:
        sides = [(a.digest, a.python_series, {}), (b_image, b.python_series, environment)]
        began = time.monotonic()
        seconds = time_suite(project, sides, request.test_rounds)
        figure = repeated_figure("test suite", "s", LOWER, seconds[0], seconds[1])
        comparison = dataclasses.replace(
            comparison,
            figures=[*comparison.figures, figure],
            method={
                **comparison.method,
                "test suite": f"{request.test_rounds} timed pytest runs a side (after one"
                " untimed), alternating, without coverage, in one container a side"
                f" ({time.monotonic() - began:.0f} s)",
            },
        )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"{stamp}-{a.digest[7:19]}-{b.digest[7:19]}"
    folder = project.state / "compare" / (f"{name}-{request.variant}" if request.variant else name)
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "comparison.json", folder / "comparison.md", folder / "comparison.svg"]
    comparison = dataclasses.replace(comparison, variant=request.variant)
    write_atomic(files[0], json.dumps(comparison.as_dict(), indent=2) + "\n", mode=0o644)
    write_atomic(files[1], render_markdown(comparison), mode=0o644)
    from soakgate.adapters.evidence.compare_plot import forest_plot  # matplotlib: only here

    write_atomic(files[2], forest_plot(comparison), mode=0o644)
    return CompareResult(comparison, folder, files)


def write_report(project: Project, path: Path, readiness: Path | None = None) -> Path:
    """The migration's comparison page from every comparison stored in the project's state."""
    from soakgate.adapters.evidence.migration_report import (
        render_migration_report,
        stored_comparisons,
    )
    from soakgate.app.report import read_readiness

    table = read_readiness(readiness)
    return render_migration_report(stored_comparisons(project.state), path, readiness=table)
