"""The project's whole story as one self-contained HTML page (``soakgate report``): the stages
now, the ledger as a timeline, every gate table with its evidence, soak plots, every
rollback's time to restore against its stage's budget, incidents, and the 3.12 → 3.14
comparison and readiness tables.

    render_project_report(ReportInput(...), Path("reports/soakgate.html"))

Plots are inline SVG drawn with matplotlib's ``Figure`` API (as the soak report's); nothing is
fetched: no script, stylesheet, font or image from anywhere.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.evidence.migration_report import (
    comparison_section,
    expectations_table,
    readiness_section,
)
from soakgate.adapters.soak.report import (
    STATE_COLOURS,
    SoakSeries,
    slo_table,
    soak_plots,
    svg_markup,
)
from soakgate.core.config import STAGES
from soakgate.core.incident import Incident
from soakgate.core.ledger import Event
from soakgate.core.names import short_digest
from soakgate.core.soak import SloConfig, Verdict, format_duration

KIND_COLOURS = {
    "build": "#8c959f",
    "deploy": "#0072B2",
    "gate": "#009E73",
    "refusal": "#D55E00",
    "override": "#E69F00",
    "promote": "#56B4E9",
    "rollback": "#cf222e",
    "drill": "#CC79A7",
}
INK, MUTED = "#1f2328", "#59636e"
TRANSITION_INTO = {"staging": "dev_to_staging", "production": "staging_to_production"}


@dataclass(frozen=True)
class StageRow:
    stage: str
    url: str
    active: str  # "blue", "green" or "-"
    release: str  # digest or "-"
    python: str
    health: str
    warm: str  # digest of the warm slot's release or "-"


@dataclass(frozen=True)
class SoakPart:
    stage: str
    release: str
    baseline: str | None
    time_scale: float
    verdict: Verdict
    series: SoakSeries
    slo: SloConfig


@dataclass
class ReportInput:
    title: str
    stages: list[StageRow]
    events: list[Event]
    budgets: Mapping[str, float]  # seconds, by stage
    soaks: list[SoakPart] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    comparisons: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    readiness: Mapping[str, Any] | None = None


CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:0 14px 32px}
header.top{background:#24292f;color:#fff;padding:20px 24px;border-radius:0 0 10px 10px}
header.top h1{margin:0;font-size:26px}
header.top .sub{opacity:.85;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{flex:1 1 150px;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px}
.card .n{font-size:26px;font-weight:800}.card .l{color:#59636e;font-size:12px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:16px 0;padding:14px 18px}
h2{font-size:17px;margin:0 0 10px}h3{font-size:15px;margin:14px 0 6px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
code,.digest{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;
overflow-wrap:anywhere}
.pass{color:#1a7f37;font-weight:700}.fail{color:#cf222e;font-weight:700}
.over{color:#9a6700;font-weight:700}.muted{color:#59636e}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;
color:#fff}
.accel{background:#8250df}
.plot{margin:4px 0 10px}svg{max-width:100%;height:auto}
details summary{cursor:pointer;color:#0969da}
.v-faster,.v-smaller,.v-Yes,.v-GO{color:#1a7f37;font-weight:600}
.v-slower,.v-larger,.v-No,.v-NO-GO{color:#cf222e;font-weight:600}
.v-inconclusive,.v-mixed,.v-Verify{color:#9a6700;font-weight:600}
.wait{color:#59636e}.note{color:#59636e;font-size:12px}td.st{white-space:nowrap}
div.card h3{margin-top:4px}
footer{color:#59636e;font-size:12px;text-align:center}
@media (max-width:640px){body{font-size:14px}header.top h1{font-size:20px}
section{padding:10px}th,td{padding:4px 5px}}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _epoch(event: Event) -> float:
    return datetime.fromisoformat(event.time.replace("Z", "+00:00")).timestamp()


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _digest(value: str | None) -> str:
    return (
        f'<span class="digest" title="{_e(value)}">{_e(short_digest(value))}</span>'
        if value
        else "-"
    )


def rollbacks_of(events: Sequence[Event]) -> list[Event]:
    """The rollbacks and drills that restored traffic (they carry a time to restore)."""
    return [
        event
        for event in events
        if event.kind in ("rollback", "drill")
        and isinstance(event.data.get("seconds_to_restored"), int | float)
    ]


def gate_events(events: Sequence[Event]) -> list[Event]:
    return [e for e in events if e.kind in ("gate", "refusal") and e.data.get("gates")]


# --- plots -------------------------------------------------------------------------------------


def timeline_svg(events: Sequence[Event]) -> str:
    """Every ledger event on its stage's lane (builds and other stage-less ones on their own),
    coloured by kind."""
    lanes = ["(none)", *reversed(STAGES)]
    figure = Figure(figsize=(10, 2.9))
    figure.subplots_adjust(left=0.11, right=0.985, top=0.84, bottom=0.16)
    axes = figure.add_subplot()
    seen: set[str] = set()
    start = min((_epoch(e) for e in events), default=time.time())
    for event in events:
        lane = lanes.index(event.stage) if event.stage in lanes else 0
        colour = KIND_COLOURS.get(event.kind, MUTED)
        label = event.kind if event.kind not in seen else None
        seen.add(event.kind)
        axes.scatter([(_epoch(event) - start) / 60], [lane], s=46, color=colour, label=label,
                     edgecolors="white", linewidths=0.6, zorder=3)  # fmt: skip
    axes.set_yticks(range(len(lanes)), lanes)
    axes.set_ylim(-0.6, len(lanes) - 0.4)
    axes.set_xlabel(f"minutes since {_utc(start)}", color=MUTED, fontsize=9)
    axes.grid(True, axis="x", color="#e5e7eb", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=MUTED, labelsize=8)
    if seen:
        axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, frameon=False,
                    ncol=10, handletextpad=0.3, borderaxespad=0.2)  # fmt: skip
    return svg_markup(figure, "timeline")


def rollback_svg(rollbacks: Sequence[Event], budgets: Mapping[str, float]) -> str:
    """Each rollback's time to restore on a log scale, its stage's budget as a line."""
    figure = Figure(figsize=(10, 2.4))
    figure.subplots_adjust(left=0.11, right=0.985, top=0.78, bottom=0.2)
    figure.text(0.11, 0.96, "Time to restore traffic against the stage's budget (log scale)",
                ha="left", va="top", fontsize=11, color=INK, weight="bold")  # fmt: skip
    axes = figure.add_subplot()
    lanes = list(reversed(STAGES))
    for index, stage in enumerate(lanes):
        budget = budgets.get(stage)
        if budget:
            axes.plot([budget, budget], [index - 0.35, index + 0.35], color="#cf222e", lw=2,
                      label="budget" if index == 0 else None)  # fmt: skip
    for event in rollbacks:
        if event.stage in lanes:
            seconds = max(float(event.data["seconds_to_restored"]), 0.01)
            colour = KIND_COLOURS.get(event.kind, MUTED)
            axes.scatter([seconds], [lanes.index(event.stage)], s=50, color=colour, zorder=3)
    axes.set_xscale("log")
    axes.set_xlim(0.05, max([*budgets.values(), 60.0]) * 3)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: format_duration(x)))
    axes.set_yticks(range(len(lanes)), lanes)
    axes.set_ylim(-0.6, len(lanes) - 0.4)
    axes.grid(True, axis="x", color="#e5e7eb", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=MUTED, labelsize=8)
    return svg_markup(figure, "rollbacks")


# --- sections ----------------------------------------------------------------------------------


def _stages(rows: Sequence[StageRow]) -> str:
    body = "".join(
        f"<tr><td>{_e(r.stage)}</td><td class=st><code>{_e(r.url)}</code></td>"
        f"<td>{_e(r.active)}</td>"
        f"<td>{_digest(r.release if r.release != '-' else None)}</td><td>{_e(r.python)}</td>"
        f'<td class="{"pass" if r.health == "healthy" else "fail"}">{_e(r.health)}</td>'
        f"<td>{_digest(r.warm if r.warm != '-' else None)}</td></tr>"
        for r in rows
    )
    return (
        '<div class="scroll"><table><tr><th>stage</th><th>URL</th><th>active</th>'
        "<th>release</th><th>Python</th><th>health</th><th>warm slot</th></tr>"
        f"{body}</table></div>"
    )


def _event_summary(event: Event) -> str:
    data = event.data
    if event.kind in ("rollback", "drill") and "seconds_to_restored" in data:
        return f"restored in {data['seconds_to_restored']:.2f} s ({data.get('path', '')})"
    if event.kind in ("gate", "refusal"):
        return f"{data.get('transition', '')}: {'passed' if data.get('passed') else 'refused'}"
    return str(data.get("reason") or data.get("via") or "")


def _ledger(events: Sequence[Event]) -> str:
    rows = "".join(
        f"<tr><td class=num>{e.seq}</td><td class=num>{_e(e.time[:19].replace('T', ' '))}</td>"
        f"<td>{_e(e.kind)}</td><td>{_e(e.stage or '')}</td><td>{_digest(e.from_release)}</td>"
        f"<td>{_digest(e.to_release)}</td><td>{_e(_event_summary(e))}</td></tr>"
        for e in events
    )
    return (
        f"<details><summary>all {len(events)} events</summary><div class=scroll><table>"
        "<tr><th>#</th><th>time (UTC)</th><th>kind</th><th>stage</th><th>from</th><th>to</th>"
        f"<th>what</th></tr>{rows}</table></div></details>"
    )


def _gates(events: Sequence[Event]) -> str:
    if not events:
        return '<p class="muted">no gate decision on the ledger yet</p>'
    parts = []
    for event in events:
        data = event.data
        verdict = (
            '<span class="pass">passed</span>'
            if data.get("passed")
            else ('<span class="fail">refused</span>')
        )
        rows = "".join(
            f"<tr><td>{_e(g.get('name'))}</td><td>{_e(g.get('threshold'))}</td>"
            f"<td>{_e(g.get('measured'))}</td><td>{_gate_result(g)}</td>"
            f"<td><code>{_e(g.get('evidence_file') or '')}</code>"
            f"{_reasons(g.get('reasons') or [])}</td></tr>"
            for g in data.get("gates", [])
        )
        parts.append(
            f"<h3>{_e(data.get('transition') or TRANSITION_INTO.get(event.stage or '', ''))}"
            f" · {_digest(event.to_release)} · {verdict}"
            f' <span class="muted">{_e(event.time[:19].replace("T", " "))} UTC</span></h3>'
            '<div class="scroll"><table><tr><th>gate</th><th>threshold</th><th>measured</th>'
            f"<th>result</th><th>evidence</th></tr>{rows}</table></div>"
        )
    return "".join(parts)


def _reasons(reasons: Sequence[str], shown: int = 2) -> str:
    """The reasons, the first ``shown`` in full and the rest folded away."""
    if not reasons:
        return ""
    head = "".join(f"<div>{_e(reason)}</div>" for reason in reasons[:shown])
    rest = reasons[shown:]
    if not rest:
        return head
    more = "".join(f"<div>{_e(reason)}</div>" for reason in rest)
    return f"{head}<details><summary>{len(rest)} more</summary>{more}</details>"


def _gate_result(gate: Mapping[str, Any]) -> str:
    if gate.get("overridden_reason"):
        return f'<span class="over">overridden: {_e(gate["overridden_reason"])}</span>'
    return (
        '<span class="pass">pass</span>' if gate.get("passed") else '<span class="fail">FAIL</span>'
    )


def _soaks(parts: Sequence[SoakPart]) -> str:
    if not parts:
        return '<p class="muted">no soak recorded yet</p>'
    html_parts = []
    for index, part in enumerate(parts):
        verdict = part.verdict
        colour = STATE_COLOURS.get(verdict.state, MUTED)
        badge = (
            f' <span class="badge accel">ACCELERATED x{part.time_scale:g}: simulated time</span>'
            if part.time_scale > 1
            else ""
        )
        plots = (
            "".join(
                f'<div class="plot">{svg}</div>'
                for svg in soak_plots(verdict, part.series, part.slo)
            )
            if len(part.series.starts)
            else '<p class="muted">no samples</p>'
        )
        html_parts.append(
            f'<h3>{_e(part.stage)} · {_digest(part.release)} · <span class="badge" '
            f'style="background:{colour}">{_e(verdict.state)}</span>{badge}</h3>'
            f"<p>{_e(format_duration(verdict.observed_seconds))} of"
            f" {_e(format_duration(verdict.required_seconds))} observed healthy ·"
            f" {verdict.probes:,} probes · baseline {_digest(part.baseline)}</p>"
            f"{slo_table(verdict)}{plots}"
        )
        if index >= 2:
            break
    return "".join(html_parts)


def _rollbacks(rollbacks: Sequence[Event], budgets: Mapping[str, float]) -> str:
    if not rollbacks:
        return '<p class="muted">no rollback yet</p>'
    rows = []
    for event in rollbacks:
        seconds = float(event.data["seconds_to_restored"])
        budget = budgets.get(event.stage or "")
        share = f"{100 * seconds / budget:.4f} %" if budget else "-"
        within = budget is not None and seconds <= budget
        rows.append(
            f"<tr><td class=num>{_e(event.time[:19].replace('T', ' '))}</td>"
            f"<td>{_e(event.kind)}</td><td>{_e(event.stage)}</td>"
            f"<td>{_e(event.data.get('path', ''))}</td>"
            f"<td>{_digest(event.from_release)} → {_digest(event.to_release)}</td>"
            f"<td class=num>{seconds:.2f} s</td>"
            f"<td class=num>{_e(format_duration(budget)) if budget else '-'}</td>"
            f"<td class=num>{share}</td>"
            f'<td class="{"pass" if within else "fail"}">{"within" if within else "OVER"}</td></tr>'
        )
    return (
        f'<div class="plot">{rollback_svg(rollbacks, budgets)}</div><div class="scroll"><table>'
        "<tr><th>time (UTC)</th><th>kind</th><th>stage</th><th>path</th><th>from → to</th>"
        "<th>restored in</th><th>budget</th><th>of budget</th><th></th></tr>"
        f"{''.join(rows)}</table></div>"
    )


def _incidents(incidents: Sequence[Incident]) -> str:
    if not incidents:
        return '<p class="muted">no incident recorded</p>'
    rows = "".join(
        f"<tr><td><code>{_e(i.id)}</code></td><td>{_e(i.created[:19])}</td><td>{_e(i.stage)}</td>"
        f"<td>{_digest(i.release)}</td><td>{_digest(i.restored)}</td>"
        f"<td>{_e(i.rollback.get('reason', ''))}</td>"
        f"<td>{_e(', '.join(i.problems) or 'complete')}</td></tr>"
        for i in incidents
    )
    return (
        '<div class="scroll"><table><tr><th>incident</th><th>created</th><th>stage</th>'
        "<th>bad release</th><th>restored</th><th>why</th><th>evidence</th></tr>"
        f"{rows}</table></div>"
    )


def _within(event: Event, budgets: Mapping[str, float]) -> bool:
    budget = budgets.get(event.stage or "")
    return budget is not None and float(event.data["seconds_to_restored"]) <= budget


def _cards(data: ReportInput, rollbacks: Sequence[Event]) -> str:
    within = len([e for e in rollbacks if _within(e, data.budgets)])
    fastest = min((float(e.data["seconds_to_restored"]) for e in rollbacks), default=math.nan)
    cards = [
        (str(len(data.events)), "ledger events"),
        (str(sum(1 for e in data.events if e.kind == "gate")), "gate decisions passed"),
        (str(sum(1 for e in data.events if e.kind == "refusal")), "promotions refused"),
        (f"{within}/{len(rollbacks)}", "rollbacks within budget"),
        ("-" if math.isnan(fastest) else f"{fastest:.2f} s", "fastest restore"),
        (str(len(data.incidents)), "incidents"),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="n">{_e(n)}</div><div class="l">{_e(label)}</div></div>'
            for n, label in cards
        )
        + "</div>"
    )


def render_project_report(data: ReportInput, path: Path) -> Path:
    """Write the page to ``path`` (atomically, 0644) and return it."""
    rollbacks = rollbacks_of(data.events)
    comparisons = "".join(
        comparison_section(document, svg, index)
        for index, (document, svg) in enumerate(data.comparisons)
    )
    timeline = timeline_svg(data.events) if data.events else '<p class="muted">empty ledger</p>'
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(data.title)}</title><style>{CSS}</style></head>
<body><header class="top"><main style="padding:0"><h1>{_e(data.title)}</h1>
<div class="sub">generated {_e(_utc(time.time()))} by soakgate report · times in UTC</div>
</main></header><main>
{_cards(data, rollbacks)}
<section><h2>Stages now</h2>{_stages(data.stages)}</section>
<section><h2>Timeline</h2><p class="muted">every event on the ledger, on its stage's lane,
coloured by kind</p><div class="plot">{timeline}</div>{_ledger(data.events)}</section>
<section><h2>Gates and their evidence</h2>{_gates(gate_events(data.events))}</section>
<section><h2>Soaks</h2>{_soaks(data.soaks)}</section>
<section><h2>Rollbacks against their budgets</h2>{_rollbacks(rollbacks, data.budgets)}</section>
<section><h2>Incidents</h2>{_incidents(data.incidents)}</section>
<section><h2>3.12 vs 3.14</h2>{expectations_table([d for d, _ in data.comparisons])}
{comparisons or '<p class="muted">no comparison stored yet</p>'}</section>
<section><h2>Dependency readiness</h2>{readiness_section(data.readiness)}</section>
<footer>soakgate report · self-contained: nothing on this page is fetched</footer>
</main></body></html>
"""
    write_atomic(path, page, mode=0o644)
    return path
