"""``soakgate releases``: the built images, newest first."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.table import Table

from soakgate.core.release import Release


def render_releases(releases: list[Release]) -> Table:
    table = Table(title="releases", title_justify="left")
    for column in ("digest", "python", "version", "revision", "created", "size", "image"):
        table.add_column(column)
    for release in releases:
        table.add_row(
            release.short,
            release.python,
            release.app_version,
            release.revision[:12],
            release.created,
            f"{release.size / 1e6:.0f} MB",
            release.image,
        )
    if not releases:
        table.caption = "no releases yet: soakgate build"
    return table


def releases_json(releases: list[Release]) -> str:
    return json.dumps([asdict(release) for release in releases], indent=2)
