"""``soakgate readiness``: are the project's dependencies ready for the next Python?

    soakgate readiness requirements.txt --python 3.14
    soakgate readiness requirements.txt pyproject.toml --python 3.14 --free-threaded
    soakgate readiness examples/roadmap-requirements.txt --index ./wheelhouse --format markdown

Marks in the requirement file's comments (``# priority: high; group: ml``) are described in
:mod:`soakgate.core.readiness`. Exit status: 0 GO (also "GO, deferring group ml"), 1 NO-GO,
2 a bad file or option, or an index that cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from soakgate.cli.output import console, err_console, safe
from soakgate.core.readiness import (
    DEFAULT_PLATFORM,
    NO,
    VERIFY,
    YES,
    ReadinessInputError,
    Report,
    columns,
    decision_lines,
    parse_target,
    report_document,
    report_markdown,
    table_rows,
)
from soakgate.errors import ConfigError

FORMATS = ("table", "json", "markdown")
_STYLE = {YES: "green", VERIFY: "yellow", NO: "red"}


def render_readiness(report: Report, caption: str = "") -> Table:
    """The report as a Rich table; the go / no-go lines are its caption."""
    target = report.target
    title = (
        f"readiness for Python {target.python}"
        + (" free-threaded" if target.free_threaded else "")
        + f" ({target.abi}, {safe(target.platform)}) from {safe(report.index)}"
    )
    table = Table(title=title, title_justify="left", caption_justify="left")
    for column in columns(target):
        table.add_column(column, overflow="fold")
    for row in table_rows(report):
        cells = [safe(cell) for cell in row]
        cells[-2] = f"[{_STYLE.get(row[-2], 'white')}]{cells[-2]}[/]"
        table.add_row(*cells)
    lines = [safe(line) for line in decision_lines(report)]
    lines[-1] = f"[bold {'green' if report.decision.go else 'red'}]{lines[-1]}[/]"
    lines += [safe(f"left out: {s}") for s in report.skipped]
    lines += [safe(note) for note in report.notes]
    if caption:
        lines.append(safe(caption))
    table.caption = "\n".join(lines)
    return table


def _cache_root() -> Path | None:
    from soakgate.adapters.state.db import cache_dir
    from soakgate.app.readiness import CACHE
    from soakgate.cli.options import warn

    root = cache_dir(CACHE)
    if root is None:
        warn("no soakgate project here: results are not cached (set SOAKGATE_HOME to cache)")
    return root


def readiness(
    requirements: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="REQUIREMENTS...",
            help="Requirement files and/or pyproject.toml (default: ./pyproject.toml).",
            show_default=False,
        ),
    ] = None,
    python: Annotated[str, typer.Option(metavar="3.X", help="The Python to migrate to.")] = "3.14",
    free_threaded: Annotated[
        bool, typer.Option("--free-threaded", help="Judge for the free-threaded build (cp3Xt).")
    ] = False,
    index: Annotated[
        str | None,
        typer.Option(
            metavar="URL_OR_DIR",
            help="Simple index URL, index directory or wheelhouse (default: pip's index).",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", metavar="table|json|markdown", help="How to print.")
    ] = "table",
    platform: Annotated[
        str, typer.Option(metavar="PLATFORM", help="Wheel platform, e.g. win_amd64.")
    ] = DEFAULT_PLATFORM,
) -> None:
    """Judge each dependency Yes / Verify / No for Python --python, and say GO or NO-GO.

    Yes: the pinned version has a wheel for it; Verify: only after an upgrade, from an sdist,
    or classifiers that do not name it; No: nothing installs, or a dependency is No. Exits 1
    on NO-GO (a required package is No); a group marked in the file (# group: ml) that is No
    is deferred instead."""
    from soakgate.app.readiness import NotReady, assess

    if output_format not in FORMATS:
        raise ConfigError(
            f"--format: should be one of {', '.join(FORMATS)}, got {output_format!r}",
            hint="e.g. --format markdown",
        )
    try:
        target = parse_target(python, free_threaded, platform)
    except ReadinessInputError as exc:
        raise ConfigError(str(exc), hint="e.g. --python 3.14") from None
    paths = list(requirements or [])
    if not paths:
        if not Path("pyproject.toml").is_file():
            raise ConfigError(
                "no requirements given and no pyproject.toml here",
                hint="pass requirement files: soakgate readiness requirements.txt",
            )
        paths = [Path("pyproject.toml")]
    with err_console.status("asking the package index"):
        report, read = assess(paths, target, index=index, cache_root=_cache_root())
    if output_format == "json":
        print(json.dumps({**report_document(report), "read": read}, indent=2))
    elif output_format == "markdown":
        print(report_markdown(report), end="")
    else:
        console.print(render_readiness(report, read))
    if not report.decision.go:
        raise NotReady(
            report.decision.line,
            hint="upgrade or replace the packages marked No, or mark them with # group: NAME",
        )
