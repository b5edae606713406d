"""``soakgate releases``: the built images, newest first."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.markup import escape
from rich.table import Table

from soakgate.core.release import Release
from soakgate.core.rollback import BadMark


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
