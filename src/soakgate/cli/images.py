"""``soakgate images …``: the base images (``bases``, ``list``), built offline or pulled; how
their interpreters were built (``build-info``) and how fast they run the same work
(``calibrate``).

    soakgate images list
    soakgate images build-info soakgate/python:3.12 soakgate/python:3.14
    soakgate images calibrate --rounds 10
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from soakgate.app.bases import FAILED, BaseResult, make_bases
from soakgate.cli.options import JsonFlag
from soakgate.cli.output import console, safe
from soakgate.core.base_recipes import DEFAULT_NAME_PREFIX, SUPPORTED_VERSIONS
from soakgate.core.interpreter_build import (
    InterpreterBuildError,
    comparison_note,
    differences,
    parse_build,
)
from soakgate.core.names import digest_ref, short_digest
from soakgate.errors import ConfigError, SoakgateError

if TYPE_CHECKING:
    from soakgate.adapters.images.interpreter_info import ImageBuild

images_app = typer.Typer(no_args_is_help=True)


@images_app.callback()
def images() -> None:
    """Base images of the service."""


def render_bases(results: list[BaseResult]) -> Table:
    """Return the table of ``images bases``: image, state, Python, id, size, seconds."""
    table = Table(title="soakgate base images", title_justify="left")
    for column in ("image", "state", "python", "id", "size", "seconds", "interpreter"):
        table.add_column(column, justify="right" if column in ("size", "seconds") else "left")
    for result in results:
        image = result.image
        state = "[red]failed[/]" if result.state == FAILED else f"[green]{result.state}[/]"
        table.add_row(
            result.reference,
            state,
            image.python_version if image else "",
            short_digest(image.image_id) if image else "",
            f"{image.size / 1e6:.0f} MB" if image else "",
            f"{result.seconds:.1f}",
            safe(_label_summary(image.build)) if image else "",
        )
    return table


def _label_summary(label: str) -> str:
    """The one-line summary of a build label; "" without one (``images list`` probes those)."""
    if not label:
        return ""
    try:
        return parse_build(label).summary()
    except InterpreterBuildError as exc:
        return f"unreadable label: {exc}"


def render_image_list(rows: list[tuple[str, str, str, int, ImageBuild | None]]) -> Table:
    """The table of ``images list``: image, python, id, size, interpreter build, read from."""
    table = Table(title="soakgate base images", title_justify="left")
    for column in ("image", "python", "id", "size", "interpreter", "from"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for reference, python, image_id, size, found in rows:
        table.add_row(
            safe(reference),
            safe(python),
            short_digest(image_id),
            f"{size / 1e6:.0f} MB",
            safe(found.build.summary()) if found else "",
            found.source if found else "",
        )
    if not rows:
        table.caption = "no base images yet: soakgate images bases"
    return table


def render_build_info(builds: list[ImageBuild]) -> Table:
    """The builds side by side: one row per fact, one column per image."""
    table = Table(title="interpreter builds", title_justify="left")
    table.add_column("")
    for found in builds:
        table.add_column(f"{safe(found.reference)}\n{short_digest(found.image_id)}")
    first = builds[0].build.details()
    rows = [found.build.details() for found in builds]
    for index, (field, _) in enumerate(first):
        cells = [row[index][1] for row in rows]
        differs = len(builds) > 1 and len(set(cells)) > 1 and field not in ("configure",)
        table.add_row(
            f"[bold]{field}[/]" if differs else field,
            *[safe(cell) for cell in cells],
        )
    table.add_row("read from", *[found.source for found in builds])
    return table


def verdicts(builds: list[ImageBuild]) -> list[str]:
    """One line per image after the first: "built alike" or "not like with like: …"."""
    lines = []
    first = builds[0]
    for other in builds[1:]:
        found = differences(first.build, other.build)
        who = f"{first.reference} vs {other.reference}"
        lines.append(
            f"{who}: not like with like: {', '.join(found)}" if found else f"{who}: built alike"
        )
    return lines


def _epoch() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return None
    if not value.isdigit():
        raise ConfigError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds")
    return int(value)


def _proxy(mirror: str | None) -> None:
    """The stages' proxy (Debian's nginx-light), made the same offline way."""
    from soakgate.adapters.images.proxy_image import make_proxy_image

    with console.status("proxy image: debootstrap bookworm + nginx-light"):
        proxy = make_proxy_image(mirror=mirror)
    state = "built" if proxy.built else "up to date"
    console.print(
        f"{proxy.reference}: {state}, {proxy.size / 1e6:.0f} MB ({digest_ref(proxy.image_id)})"
    )


@images_app.command()
def bases(
    python: Annotated[
        list[str] | None,
        typer.Option("--python", help="Python version (repeat): 3.12, 3.14. Default: both."),
    ] = None,
    name_prefix: Annotated[
        str, typer.Option("--name-prefix", help="Image name; the tag is the version.")
    ] = DEFAULT_NAME_PREFIX,
    python312_path: Annotated[
        Path | None,
        typer.Option(
            "--python312-path",
            help="Prefix of a CPython 3.12 install to copy (default: python3.12 on PATH or pyenv).",
        ),
    ] = None,
    from_registry: Annotated[
        bool, typer.Option("--from-registry", help="Pull python:<v>-slim instead of building.")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build even when the image is up to date.")
    ] = False,
    mirror: Annotated[
        str | None,
        typer.Option(
            "--mirror",
            envvar="SOAKGATE_DEBIAN_MIRROR",
            help="Debian mirror URL for debootstrap (default: the one apt uses).",
        ),
    ] = None,
) -> None:
    """Make the base images <prefix>:3.12 and <prefix>:3.14, and the proxy image, offline."""
    from soakgate.adapters.images.rootfs import DebootstrapBuilder

    results = make_bases(
        python or list(SUPPORTED_VERSIONS),
        name_prefix,
        python312_path.expanduser() if python312_path else None,
        from_registry,
        builder=DebootstrapBuilder(mirror=mirror),
        progress=lambda line: console.print(line, markup=False, highlight=False),
        rebuild=rebuild,
        epoch=_epoch(),
    )
    if any(result.error is None for result in results):
        console.print(render_bases(results))
    if not from_registry:
        _proxy(mirror)
    failures = [result for result in results if result.error is not None]
    if len(failures) == 1 and failures[0].error is not None:
        raise failures[0].error
    if failures:
        summary = "; ".join(
            f"{result.version}: {str(result.error).splitlines()[0]}" for result in failures
        )
        first = failures[0].error
        raise SoakgateError(
            f"{len(failures)} base images failed: {summary}", hint=first.hint if first else ""
        )


def _image_ref(reference: str) -> str:
    """A release's digest when ``reference`` names a release of the project (digest, prefix of
    12+ digits, tag), else ``reference`` as the engine resolves it (tag, image ID)."""
    from soakgate.adapters.state.db import state_dir
    from soakgate.adapters.state.releases import StateDB

    try:
        state = state_dir()
    except ConfigError:
        return reference
    if not (state / "soakgate.db").is_file():
        return reference
    with StateDB.open(state) as db:
        release = db.find_release(reference)
    return release.digest if release is not None else reference


@images_app.command("list")
def list_images(
    name_prefix: Annotated[
        str, typer.Option("--name-prefix", help="Image name; the tag is the version.")
    ] = DEFAULT_NAME_PREFIX,
    json_output: JsonFlag = False,
) -> None:
    """List the base images with how their interpreters were built."""
    from soakgate.adapters.images.interpreter_info import facts_json, read_build
    from soakgate.adapters.images.rootfs import inspect_base

    rows: list[tuple[str, str, str, int, ImageBuild | None]] = []
    for version in SUPPORTED_VERSIONS:
        image = inspect_base(f"{name_prefix}:{version}")
        if image is None:
            continue
        found = read_build(image.image_id)
        rows.append((image.reference, image.python_version, image.image_id, image.size, found))
    if json_output:
        documents = [
            {**facts_json(found), "reference": reference, "size": size}
            for reference, _, _, size, found in rows
            if found is not None
        ]
        console.print_json(json.dumps(documents))
        return
    console.print(render_image_list(rows))


@images_app.command("build-info")
def build_info(
    references: Annotated[
        list[str],
        typer.Argument(
            metavar="IMAGE_OR_RELEASE",
            help="Base images (soakgate/python:3.14), image IDs, release digests or tags.",
        ),
    ],
    json_output: JsonFlag = False,
) -> None:
    """How each image's interpreter was built; two or more side by side, like with like or not.

    Not alike when they differ in PGO, LTO, shared libpython, JIT on, free-threading or the
    compiler's major version: a comparison of the two then measures the builds too.
    """
    from soakgate.adapters.images.interpreter_info import facts_json, read_build

    builds = []
    for reference in references:
        builds.append(replace(read_build(_image_ref(reference)), reference=reference))
    if json_output:
        document: dict[str, object] = {"images": [facts_json(found) for found in builds]}
        if len(builds) > 1:
            document["notes"] = [
                comparison_note(builds[0].build, other.build) for other in builds[1:]
            ]
        console.print_json(json.dumps(document))
        return
    if len(builds) == 1:
        console.print(
            f"{builds[0].reference}: {builds[0].build.summary()}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    console.print(render_build_info(builds))
    for line in verdicts(builds):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@images_app.command()
def calibrate(
    rounds: Annotated[
        int, typer.Option("--rounds", help="Interleaved rounds (each runs every arm once).")
    ] = 10,
    passes: Annotated[
        int, typer.Option("--passes", help="Timed passes of each kernel per container.")
    ] = 3,
    scale: Annotated[float, typer.Option("--scale", help="Work per pass (1.0: ~0.05 s).")] = 1.0,
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", help="Start no round that would end later.")
    ] = 600.0,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Image of the first arm (default <prefix>:3.12)."),
    ] = None,
    candidate: Annotated[
        str | None,
        typer.Option("--candidate", help="Image of the second arm (default <prefix>:3.14)."),
    ] = None,
    name_prefix: Annotated[
        str, typer.Option("--name-prefix", help="Base image name; the tag is the version.")
    ] = DEFAULT_NAME_PREFIX,
    jit: Annotated[
        bool | None,
        typer.Option(
            "--jit/--no-jit",
            help="A third arm: the candidate with PYTHON_JIT=1 (default: when it has a JIT).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the JSON here.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Time one pure-Python workload on two base images' interpreters (and the JIT).

    The interpreter's share of a comparison across Python versions: medians with bootstrap
    intervals, written as JSON under .soakgate/calibration/.
    """
    from soakgate.adapters.images.calibration import calibrate as run_calibration
    from soakgate.adapters.images.calibration import write_calibration
    from soakgate.adapters.state.db import state_dir
    from soakgate.core.calibration import CalibrationPlan

    plan = CalibrationPlan(rounds=rounds, passes=passes, scale=scale, max_seconds=max_seconds)
    first = _image_ref(baseline) if baseline else f"{name_prefix}:3.12"
    second = _image_ref(candidate) if candidate else f"{name_prefix}:3.14"
    with console.status(f"calibrating {first} against {second}") as status:
        document = run_calibration(
            first, second, plan, with_jit=jit, progress=lambda line: status.update(line)
        )
    path = write_calibration(document, state_dir(), output)
    if json_output:
        console.print_json(json.dumps(document))
        return
    console.print(render_calibration(document))
    console.print(document["summary"], markup=False, highlight=False, soft_wrap=True)
    console.print(f"written to {path}" + (f" and {output}" if output else ""), markup=False)


def render_calibration(document: Mapping[str, Any]) -> Table:
    """Each arm's median with its interval, and the speedups."""
    arms, comparisons = document["arms"], document["comparisons"]
    confidence = round(100 * float(document["confidence"]))
    table = Table(
        title=f"interpreter calibration ({document['rounds']} rounds, {confidence} % intervals)",
        title_justify="left",
    )
    for column in ("arm", "interpreter", "median", "interval"):
        table.add_column(column, justify="right" if column in ("median", "interval") else "left")
    for name, arm in arms.items():
        figure = arm["median_seconds"]
        table.add_row(
            safe(name),
            safe(arm["build"]),
            f"{figure['estimate'] * 1000:.1f} ms",
            f"[{figure['low'] * 1000:.1f}, {figure['high'] * 1000:.1f}] ms",
        )
    for label, comparison in comparisons.items():
        figure = comparison["speedup_percent"]
        table.add_row(
            safe(label),
            "throughput",
            f"{figure['estimate']:+.1f} %",
            f"[{figure['low']:+.1f}, {figure['high']:+.1f}] %",
        )
    return table
