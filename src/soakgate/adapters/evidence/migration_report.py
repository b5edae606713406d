"""The migration's comparison as one self-contained HTML page: the roadmap's expected gains
next to what was measured, every stored comparison (3.12 against 3.14, a release against its
variants) with its forest plot and table, the interpreters' builds, and the dependency
readiness table when one was written.

    documents = stored_comparisons(state)            # newest first
    render_migration_report(documents, Path("reports/migration.html"), readiness=doc)

Nothing is fetched: the plots are the comparisons' own SVG files, inlined.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soakgate.adapters.atomic_file import write_atomic
from soakgate.core.migration import expected_vs_measured

CSS = """
body { font-family: system-ui, sans-serif; color: #1f2328; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; font-size: 1.25rem; }
.muted { color: #59636e; } table { border-collapse: collapse; margin: .6rem 0; width: 100%; }
th, td { border-bottom: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left;
         font-size: .9rem; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.v-faster, .v-smaller, .v-Yes, .v-GO { color: #1a7f37; font-weight: 600; }
.v-slower, .v-larger, .v-No, .v-NO-GO { color: #cf222e; font-weight: 600; }
.v-inconclusive, .v-mixed, .v-Verify { color: #9a6700; font-weight: 600; }
.card { border: 1px solid #d0d7de; border-radius: 8px; padding: .8rem 1rem; margin: 1rem 0; }
svg { max-width: 100%; height: auto; }
"""


def stored_comparisons(state: Path) -> list[tuple[dict[str, Any], str]]:
    """(comparison.json document, its SVG text) of every stored comparison, newest first; a
    folder whose files are missing or unreadable is left out."""
    found = []
    for folder in sorted((state / "compare").glob("*/"), reverse=True):
        try:
            document = json.loads((folder / "comparison.json").read_text())
            svg = (folder / "comparison.svg").read_text()
        except (OSError, ValueError):
            continue
        if isinstance(document, dict):
            found.append((document, svg))
    return found


def _e(value: object) -> str:
    return html.escape(str(value))


def _verdict(value: object) -> str:
    word = str(value)
    return f'<span class="v-{_e(word.replace(" ", "-"))}">{_e(word)}</span>'


def _inline(svg: str) -> str:
    """An SVG document as inline markup: no XML prolog or DOCTYPE."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


def _number(value: object, digits: int = 2) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def comparison_section(document: Mapping[str, Any], svg: str, index: int) -> str:
    a, b = document.get("a") or {}, document.get("b") or {}
    rows = []
    for figure in document.get("figures") or []:
        interval = figure.get("interval_percent")
        shown = (
            f"[{interval[0]:+.1f}, {interval[1]:+.1f}]" if interval and None not in interval else ""
        )
        change = figure.get("change_percent")
        name = figure.get("name", "")
        if figure.get("kind"):
            name = f"{name} · {figure['kind']}"
        rows.append(
            f"<tr><td>{_e(name)}</td><td class=num>{_number(figure.get('a'))}"
            f" {_e(figure.get('unit', ''))}</td><td class=num>{_number(figure.get('b'))}"
            f" {_e(figure.get('unit', ''))}</td><td class=num>"
            f"{'—' if change is None else f'{change:+.1f} %'} {shown}</td>"
            f"<td>{_verdict(figure.get('verdict'))}</td></tr>"
        )
    notes = "".join(f"<li>{_e(note)}</li>" for note in document.get("notes") or [])
    method = document.get("method") or {}
    return (
        f'<div class="card" id="comparison-{index}"><h3>{_e(b.get("label"))} against'
        f" {_e(a.get('label'))}: {_verdict(document.get('verdict'))}</h3>"
        f'<p class="muted">A <code>{_e(a.get("release"))}</code><br>B'
        f" <code>{_e(b.get('release'))}</code><br>"
        f"threshold ±{_e(document.get('threshold_percent'))}"
        f" %, {_e(round(100 * float(document.get('confidence') or 0)))} % intervals,"
        f" {_e(method.get('seconds', '?'))} s, environment of B:"
        f" {_e(json.dumps((method.get('environment') or {}).get('b') or {}))}</p>"
        f"{_inline(svg)}"
        "<table><tr><th>figure</th><th>A</th><th>B</th><th>change [interval]</th>"
        f"<th>verdict</th></tr>{''.join(rows)}</table>"
        f"{f'<ul>{notes}</ul>' if notes else ''}</div>"
    )


def expectations_table(documents: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for answer in expected_vs_measured(documents):
        rows.append(
            f"<tr><td>{_e(answer.expectation.question)}</td>"
            f"<td>{_e(answer.expectation.expected)}</td><td>{_e(answer.measured)}</td>"
            f"<td>{_verdict(answer.verdict) if answer.verdict else '—'}</td>"
            f"<td class=muted>{_e(answer.source or '')}</td></tr>"
        )
    return (
        "<table><tr><th>question</th><th>expected</th><th>measured here</th><th>verdict</th>"
        f"<th>from</th></tr>{''.join(rows)}</table>"
    )


READINESS_COLUMNS = (
    ("name", "package"),
    ("group", "group"),
    ("pinned", "pinned"),
    ("newest_installable", "newest installable"),
    ("kind", "wheel"),
    ("free_threaded_wheel", "cp3Xt wheel"),
    ("requires_python", "Requires-Python"),
    ("verdict", "verdict"),
    ("reason", "reason"),
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _e(value)


def readiness_section(readiness: Mapping[str, Any] | None) -> str:
    """The table ``soakgate readiness --format json`` wrote: the project's own requirements and
    any dependency that is not Yes (the others are counted), then the GO / NO-GO lines."""
    if not readiness:
        return (
            '<p class="muted">No readiness table was given: <code>soakgate readiness'
            " REQUIREMENTS --python 3.14 --format json &gt; FILE</code>, then"
            " <code>--readiness FILE</code>.</p>"
        )
    packages = [p for p in readiness.get("packages") or [] if isinstance(p, dict)]
    shown = [p for p in packages if not p.get("dependency_of") or p.get("verdict") != "Yes"]
    head = "".join(f"<th>{_e(title)}</th>" for _, title in READINESS_COLUMNS)
    body = []
    for package in shown:
        cells = []
        for key, _ in READINESS_COLUMNS:
            value = package.get(key)
            if key == "group" and not value and package.get("dependency_of"):
                value = f"dependency of {package['dependency_of']}"
            cells.append(
                f"<td>{_verdict(value)}</td>" if key == "verdict" else f"<td>{_cell(value)}</td>"
            )
        body.append(f"<tr>{''.join(cells)}</tr>")
    hidden = len(packages) - len(shown)
    lines = [g.get("line", "") for g in readiness.get("groups") or [] if isinstance(g, dict)]
    lines.append(f"Migration: {readiness.get('decision', '')}")
    free = " free-threaded" if readiness.get("free_threaded") else ""
    return (
        f'<p class="muted">Python {_e(readiness.get("python", "?"))}{free}, from'
        f" {_e(readiness.get('index', '?'))}"
        + (f"; {hidden} more dependencies are Yes (not shown)" if hidden else "")
        + f"</p><table><tr>{head}</tr>{''.join(body)}</table>"
        + f"<ul>{''.join(f'<li>{_e(line)}</li>' for line in lines if line)}</ul>"
    )


def render_migration_report(
    documents: Sequence[tuple[Mapping[str, Any], str]],
    path: Path,
    *,
    readiness: Mapping[str, Any] | None = None,
    builds: Sequence[str] = (),
    title: str = "Python 3.12 → 3.14: what was measured",
) -> Path:
    """Write the page to ``path`` (atomically) and return it."""
    comparisons = "".join(
        comparison_section(document, svg, index) for index, (document, svg) in enumerate(documents)
    )
    build_items = "".join(f"<li><code>{_e(line)}</code></li>" for line in builds)
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class=muted>written"
        f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by soakgate compare --report;"
        f" {len(documents)} comparisons</p>"
        "<h2>Expected by the roadmap, measured here</h2>"
        f"{expectations_table([d for d, _ in documents])}"
        + (f"<h2>Interpreters</h2><ul>{build_items}</ul>" if build_items else "")
        + f"<h2>Dependency readiness</h2>{readiness_section(readiness)}"
        f"<h2>Comparisons</h2>{comparisons or '<p class=muted>none stored yet</p>'}"
        "</body></html>\n"
    )
    page = re.sub(r"[ \t]+\n", "\n", page)
    write_atomic(path, page, mode=0o644)
    return path
