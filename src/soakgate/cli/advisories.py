"""``soakgate advisories``: the OSV advisory directory the audit matches the image against,
refreshed from the package index and judged by its age.

    soakgate advisories refresh                          # every release with an SBOM
    soakgate advisories refresh --release 3f2a9c1b0d4e --requirements requirements.txt
    soakgate advisories show --json                      # age, index, counts; exit 1 if stale
    soakgate evidence collect RELEASE --advisories .soakgate/advisories

Registered in the main CLI with ``app.add_typer(advisories_app, name="advisories")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from soakgate.cli.options import JsonFlag
from soakgate.cli.output import console, safe
from soakgate.core.advisories import MAX_AGE, Freshness, Refresh, judge_freshness
from soakgate.core.soak import format_duration, plural
from soakgate.core.validation import ConfigInvalid, parse_duration
from soakgate.errors import ConfigError

advisories_app = typer.Typer(
    help="The OSV advisory directory: refresh it from the package index, show its age.",
    no_args_is_help=True,
)
DEFAULT_DIR = "advisories"  # inside the state directory: .soakgate/advisories
DEFAULT_MAX_AGE = f"{MAX_AGE // 86400}d"


def max_age_seconds(value: str, flag: str = "--max-age") -> int:
    """A max-age option (``7d``, ``36h``): seconds, or the one-line error naming ``flag``."""
    try:
        return parse_duration(flag, value)
    except ConfigInvalid as exc:
        raise ConfigError(str(exc)) from None


DirArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="DIR",
        help="The advisory directory (default: .soakgate/advisories).",
        show_default=False,
    ),
]
MaxAge = Annotated[
    str,
    typer.Option(metavar="AGE", help="Older than this is stale: 7d, 36h …"),
]


def _directory(directory: Path | None) -> Path:
    if directory is not None:
        return directory
    from soakgate.adapters.state.db import state_dir

    return state_dir() / DEFAULT_DIR


# --- refresh ----------------------------------------------------------------------------------


def render_refresh(directory: Path, refresh: Refresh) -> Table:
    """The packages with advisories or not checked; the others are counted in the caption."""
    table = Table(title=f"advisories refreshed from {safe(refresh.index)}", title_justify="left")
    for column in ("package", "version", "advisories", "status"):
        table.add_column(column, overflow="fold")
    for (name, version), ids in sorted(refresh.found.items()):
        table.add_row(safe(name), safe(version), safe(", ".join(ids)), "[green]checked[/]")
    for name, version, why in refresh.not_checked:
        table.add_row(safe(name), safe(version), "-", f"[red]not checked[/]: {safe(why)}")
    table.caption = (
        f"{plural(len(refresh.checked), 'package')} checked, {len(refresh.not_checked)} not"
        f" checked, {refresh.advisories} {'advisory' if refresh.advisories == 1 else 'advisories'}"
        f" in {safe(directory)}"
        f" ({refresh.seconds:.1f} s)"
    )
    return table


@advisories_app.command()
def refresh(
    directory: DirArg = None,
    release: Annotated[
        list[str] | None,
        typer.Option(
            "--release",
            metavar="RELEASE",
            help="Check the packages of this release's SBOM (repeatable).",
        ),
    ] = None,
    requirements: Annotated[
        list[Path] | None,
        typer.Option(
            "--requirements",
            exists=True,
            dir_okay=False,
            metavar="FILE",
            help="Check the name==version pins of this file (repeatable).",
        ),
    ] = None,
    index_url: Annotated[
        str | None,
        typer.Option(metavar="URL", help="Simple index URL (default: pip's configuration)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Refresh DIR from the package index (default: the packages of every release's SBOM).

    One OSV document per advisory, then refreshed.json; a package the index did not answer
    for is listed as not checked (it stays unaudited) and the command exits non-zero."""
    from soakgate.adapters.evidence.advisories import (
        AdvisoriesIncomplete,
        configured_index,
        pinned_packages,
        recorded_packages,
        refresh_advisories,
    )

    folder = _directory(directory)
    packages: set[tuple[str, str]] = set()
    for path in requirements or []:
        packages |= pinned_packages(path)
    if release or not requirements:
        from soakgate.adapters.state.db import state_dir
        from soakgate.adapters.state.releases import StateDB

        state = state_dir()
        with StateDB.open(state) as db:
            digests = [db.require_release(ref).digest for ref in release or []]
        recorded, used = recorded_packages(state, digests)
        packages |= recorded
        if not release and not used:
            raise ConfigError(
                "nothing to check: no release has an SBOM yet",
                hint="collect one (soakgate evidence collect RELEASE) or pass --requirements",
            )
    if not packages:
        raise ConfigError("nothing to check: no pinned package found")
    index = configured_index(index_url)
    with console.status(f"asking {safe(index.url)} about {len(packages)} packages"):
        done = refresh_advisories(folder, packages, index)
    if as_json:
        print(json.dumps({"directory": str(folder), **done.document()}, indent=2))
    else:
        console.print(render_refresh(folder, done))
    if done.not_checked:
        names = "; ".join(f"{n} {v}: {why}" for n, v, why in done.not_checked[:5])
        more = f" and {len(done.not_checked) - 5} more" if len(done.not_checked) > 5 else ""
        raise AdvisoriesIncomplete(
            f"{len(done.not_checked)} of {len(packages)} packages not checked ({names}{more})",
            hint="they stay unaudited (the vulnerability gate fails) until a refresh checks them",
        )


# --- show -------------------------------------------------------------------------------------


def advisories_summary(
    directory: Path,
    refresh: Refresh | None,
    freshness: Freshness,
    max_age: float,
    problem: str | None = None,
) -> dict[str, Any]:
    """What ``show`` prints, as data (its --json)."""
    state = "broken" if problem else ("stale" if freshness.stale else "fresh")
    return {
        "directory": str(directory),
        "state": state,
        "line": problem or freshness.line,
        "refreshed_at": refresh.refreshed_at if refresh else None,
        "age_seconds": round(freshness.age) if freshness.age is not None else None,
        "max_age_seconds": round(max_age),
        "index": refresh.index if refresh else None,
        "packages_checked": len(refresh.checked) if refresh else 0,
        "not_checked": [
            {"name": n, "version": v, "reason": why} for n, v, why in refresh.not_checked
        ]
        if refresh
        else [],
        "advisories": refresh.advisories if refresh else 0,
    }


def render_summary(summary: dict[str, Any]) -> Table:
    table = Table(title=f"advisories in {safe(summary['directory'])}", title_justify="left")
    table.add_column("", style="bold")
    table.add_column("", overflow="fold")
    style = {"fresh": "green", "stale": "red", "broken": "red"}[summary["state"]]
    age = summary["age_seconds"]
    rows = (
        ("state", f"[{style}]{summary['state']}[/]: {safe(summary['line'])}"),
        ("refreshed", safe(summary["refreshed_at"] or "never")),
        ("age", "-" if age is None else f"{format_duration(max(age, 0))}"),
        ("max age", format_duration(summary["max_age_seconds"])),
        ("index", safe(summary["index"] or "-")),
        ("packages checked", str(summary["packages_checked"])),
        ("not checked", str(len(summary["not_checked"]))),
        ("advisories", str(summary["advisories"])),
    )
    for key, value in rows:
        table.add_row(key, value)
    table.show_header = False
    return table


@advisories_app.command()
def show(
    directory: DirArg = None,
    max_age: MaxAge = DEFAULT_MAX_AGE,
    as_json: JsonFlag = False,
) -> None:
    """How old DIR is, from which index, with how many packages and advisories.

    Exits non-zero when it does not count: never refreshed, cut off, changed since, or older
    than --max-age."""
    from soakgate.adapters.evidence.advisories import AdvisoriesStale, read_refresh
    from soakgate.adapters.state.evidence import now_iso

    seconds = max_age_seconds(max_age)
    folder = _directory(directory)
    problem = None
    try:
        refresh = read_refresh(folder)
    except AdvisoriesStale as exc:
        refresh, problem = None, exc.message
    freshness = judge_freshness(refresh, now=now_iso(), max_age=seconds)
    summary = advisories_summary(folder, refresh, freshness, seconds, problem)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        console.print(render_summary(summary))
    if summary["state"] != "fresh":
        raise AdvisoriesStale(f"{folder}: {summary['line']}")
