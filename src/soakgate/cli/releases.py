"""``soakgate releases``: the built images, newest first, with their quarantine; marking one
bad or lifting that (on the ledger)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from soakgate.cli.options import JsonFlag, needs_reason
from soakgate.cli.output import console
from soakgate.core.release import Release
from soakgate.core.rollback import QUARANTINE, BadMark, bad_marks
from soakgate.errors import ConfigError


def render_releases(releases: list[Release], marks: dict[str, BadMark] | None = None) -> Table:
    bad = marks or {}
    table = Table(title="releases", title_justify="left")
    for column in (
        "digest",
        "python",
        "version",
        "revision",
        "created",
        "size",
        "image",
        "quarantine",
    ):
        table.add_column(column)
    for release in releases:
        mark = bad.get(release.digest)
        table.add_row(
            release.short,
            release.python,
            release.app_version,
            release.revision[:12],
            release.created,
            f"{release.size / 1e6:.0f} MB",
            release.image,
            escape(f"bad: {mark.reason} ({mark.actor}, {mark.time})") if mark else "",
            style="red" if mark else None,
        )
    if not releases:
        table.caption = "no releases yet: soakgate build"
    return table


def releases_json(releases: list[Release], marks: dict[str, BadMark] | None = None) -> str:
    bad = marks or {}
    return json.dumps(
        [
            {**asdict(release), "quarantine": asdict(bad[release.digest])}
            if release.digest in bad
            else {**asdict(release), "quarantine": None}
            for release in releases
        ],
        indent=2,
    )


def releases(
    as_json: JsonFlag = False,
    mark_bad: Annotated[
        str | None, typer.Option("--mark-bad", metavar="RELEASE", help="Quarantine a release.")
    ] = None,
    clear_bad: Annotated[
        str | None,
        typer.Option("--clear-bad", metavar="RELEASE", help="Lift a release's quarantine."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (with --mark-bad/--clear-bad).")] = "",
) -> None:
    """List the releases (built images) soakgate knows, newest first, with their quarantine."""
    from soakgate.adapters.state.ledger import LedgerStore
    from soakgate.adapters.state.releases import StateDB

    if mark_bad and clear_bad:
        raise ConfigError("give one of --mark-bad or --clear-bad")
    change = mark_bad or clear_bad
    if change:
        needs_reason(f"--{'mark' if mark_bad else 'clear'}-bad", reason)
    with StateDB.open() as db:
        if change:
            digest = db.require_release(change).digest
        found = db.releases()
    with LedgerStore.open() as ledger:
        if change:
            action = "mark" if mark_bad else "clear"
            data = {"gate": QUARANTINE, "action": action, "reason": reason}
            ledger.append("override", stage=None, from_release=None, to_release=digest, data=data)
        marks = bad_marks(ledger.events())
    if as_json:
        print(releases_json(found, marks))
    else:
        console.print(render_releases(found, marks))
