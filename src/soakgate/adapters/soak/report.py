"""A soak as one self-contained HTML page: verdict banner, progress, SLO table and plots.

    series = load_series(store, soak.id)        # or series_from_samples(samples, engines)
    render_report(verdict, series, Path("reports/soak-staging.html"),
                  slo=slo, stage="staging", release=soak.release, baseline=soak.baseline)

Plots are inline SVG drawn with matplotlib's ``Figure`` API (no pyplot, so no GUI backend and
no global state is touched: headless like Agg); no script, stylesheet, font or image is
fetched from anywhere. Probes are bucketed (5 minutes for a week: about 2,000 points a line)
with numpy; exact latency percentiles per bucket come from one sort of all latencies.
Times are shown in UTC.
"""

from __future__ import annotations

import html
import io
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from soakgate.adapters.state.soaks import SoakStore
from soakgate.core.soak import (
    BREACHED,
    HEALTHY,
    EngineSample,
    Sample,
    SloConfig,
    Verdict,
    format_duration,
    plural,
)

Floats = npt.NDArray[np.float64]

# One palette for the page and the plots (Okabe-Ito for series: readable when colour-blind).
STATE_COLOURS = {HEALTHY: "#1a7f37", BREACHED: "#cf222e", "not enough data": "#9a6700"}
P50, P95, P99 = "#56B4E9", "#0072B2", "#CC79A7"
AVAILABILITY, ERRORS, RESTARTS, MEMORY = "#009E73", "#D55E00", "#E69F00", "#0072B2"
GAP, BREACH_WINDOW, INK, MUTED = "#9ca3af", "#D55E00", "#1f2328", "#59636e"
NICE_BUCKETS = (10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)
MAX_BUCKETS = 2100


@dataclass(frozen=True)
class SoakSeries:
    """Per-bucket figures of a soak; NaN where a bucket has nothing to show."""

    bucket_seconds: float
    starts: Floats  # epoch seconds, bucket starts
    probes: Floats
    failed: Floats
    p50: Floats  # ms, over ok probes
    p95: Floats
    p99: Floats
    restarts: Floats  # restarts since the soak began, at the end of the bucket
    memory_mib: Floats  # median
    oom_kills: Floats  # epoch seconds of each OOM kill

    @property
    def availability(self) -> Floats:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.probes > 0, 100.0 * (1 - self.failed / self.probes), np.nan)


def pick_bucket(span_seconds: float) -> float:
    """The smallest of 10 s, 30 s, 1 m, 5 m, 15 m, 1 h, 4 h, 1 d giving ≤ 2,100 buckets."""
    for seconds in NICE_BUCKETS:
        if span_seconds / seconds <= MAX_BUCKETS:
            return float(seconds)
    return float(NICE_BUCKETS[-1])


def _bucket_percentiles(
    index: npt.NDArray[np.int64], values: Floats, count: int, qs: Sequence[float]
) -> list[Floats]:
    """Exact percentiles (numpy's linear rule) of ``values`` per bucket ``index``."""
    results = [np.full(count, np.nan) for _ in qs]
    if len(values) == 0:
        return results
    order = np.lexsort((values, index))
    ordered = values[order]
    sizes = np.bincount(index, minlength=count)
    firsts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    filled = sizes > 0
    for result, q in zip(results, qs, strict=True):
        position = firsts[filled] + (sizes[filled] - 1) * (q / 100.0)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, firsts[filled] + sizes[filled] - 1)
        result[filled] = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return results


def series_from_rows(
    probe_rows: Sequence[tuple[int, int, int | None]],
    engine_rows: Sequence[tuple[int, int, int, int]] = (),
    bucket_seconds: float | None = None,
) -> SoakSeries:
    """Bucket raw rows: probes ``(t_ms, ok, latency_us)``, engine ``(t_ms, restarts, oom, mem)``."""
    probes = np.array(probe_rows, dtype=np.float64).reshape(-1, 3)  # None -> NaN
    engines = np.array(engine_rows, dtype=np.float64).reshape(-1, 4)
    times = np.concatenate((probes[:, 0], engines[:, 0])) / 1000.0
    if len(times) == 0:
        empty = np.zeros(0)
        return SoakSeries(bucket_seconds or 300.0, *([empty] * 9))
    first, last = float(times.min()), float(times.max())
    bucket = bucket_seconds or pick_bucket(last - first)
    origin = np.floor(first / bucket) * bucket
    count = int((last - origin) // bucket) + 1
    starts = origin + bucket * np.arange(count, dtype=np.float64)

    index = ((probes[:, 0] / 1000.0 - origin) // bucket).astype(np.int64)
    ok = probes[:, 1] > 0
    total = np.bincount(index, minlength=count).astype(np.float64)
    failed = np.bincount(index[~ok], minlength=count).astype(np.float64)
    with_latency = ok & ~np.isnan(probes[:, 2])
    p50, p95, p99 = _bucket_percentiles(
        index[with_latency], probes[with_latency, 2] / 1000.0, count, (50, 95, 99)
    )

    restarts = np.full(count, np.nan)
    memory = np.full(count, np.nan)
    ooms = np.zeros(0)
    if len(engines):
        engines = engines[np.argsort(engines[:, 0], kind="stable")]
        e_index = ((engines[:, 0] / 1000.0 - origin) // bucket).astype(np.int64)
        counts = engines[:, 1]
        steps = np.diff(counts)
        increments = np.where(steps >= 0, steps, 1 + counts[1:])  # a drop: container replaced
        cumulative = np.concatenate(([0.0], np.cumsum(increments)))
        ends = np.concatenate((np.nonzero(np.diff(e_index))[0], [len(e_index) - 1]))
        restarts[e_index[ends]] = cumulative[ends]
        (memory,) = _bucket_percentiles(e_index, engines[:, 3] / 1024**2, count, (50,))
        oom = engines[:, 2] > 0
        rising = oom & ~np.concatenate(([False], oom[:-1]))
        ooms = engines[rising, 0] / 1000.0
    return SoakSeries(bucket, starts, total, failed, p50, p95, p99, restarts, memory, ooms)


def series_from_samples(
    samples: Sequence[Sample],
    engine_samples: Sequence[EngineSample] = (),
    bucket_seconds: float | None = None,
) -> SoakSeries:
    """The same from in-memory samples (tests, small soaks)."""
    probe_rows = [
        (
            round(s.t * 1000),
            int(s.ok),
            None if s.latency_ms is None else round(s.latency_ms * 1000),
        )
        for s in samples
    ]
    engine_rows = [
        (round(e.t * 1000), e.restarts, int(e.oom_killed), e.memory_bytes) for e in engine_samples
    ]
    return series_from_rows(probe_rows, engine_rows, bucket_seconds)


def load_series(store: SoakStore, soak_id: int, bucket_seconds: float | None = None) -> SoakSeries:
    """The soak's series straight from the store's raw rows (no Sample objects)."""
    return series_from_rows(store.probe_rows(soak_id), store.engine_rows(soak_id), bucket_seconds)


# --- plots -----------------------------------------------------------------------------------


def _dates(epoch_seconds: Any) -> Any:
    millis = np.round(np.asarray(epoch_seconds, dtype=np.float64) * 1000).astype(np.int64)
    return mdates.date2num(millis.astype("datetime64[ms]"))  # type: ignore[no-untyped-call]


def _axes(title: str, ylabel: str, span: tuple[float, float]) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(10, 2.7))
    figure.subplots_adjust(left=0.075, right=0.985, top=0.78, bottom=0.17)
    figure.text(0.075, 0.955, title, ha="left", va="top", fontsize=11, color=INK, weight="bold")
    axes = figure.add_subplot()
    axes.set_ylabel(ylabel, color=MUTED)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    )
    axes.set_xlim(*_dates(span))
    axes.grid(True, color="#e5e7eb", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=MUTED, labelsize=8)
    return figure, axes


def _shade(axes: Axes, verdict: Verdict) -> None:
    for i, gap in enumerate(verdict.gaps):
        start, end = _dates([gap.start, gap.end])
        label = "gap (not counted)" if i == 0 else None
        axes.axvspan(start, end, color=GAP, alpha=0.35, linewidth=0, label=label)
    for i, window in enumerate(verdict.breached_windows):
        start, end = _dates([window.start, window.end])
        label = "in breach (not counted)" if i == 0 else None
        axes.axvspan(start, end, color=BREACH_WINDOW, alpha=0.25, linewidth=0, label=label)


def svg_markup(figure: Figure, salt: str) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    # inline SVG in HTML needs no namespace declarations (and then nothing names a URL)
    text = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", text)
    # several SVGs share one document: give each its own ids
    text = re.sub(r'\bid="([^"]+)"', rf'id="{salt}-\1"', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{salt}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{salt}-\1)", text)
    return re.sub(
        r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
        r'<svg\1 width="100%" role="img"',
        text,
        count=1,
    )


def _legend(axes: Axes) -> None:
    axes.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        fontsize=8,
        frameon=False,
        ncol=7,
        handlelength=1.6,
        columnspacing=1.2,
        borderaxespad=0.2,
    )


def soak_plots(verdict: Verdict, series: SoakSeries, slo: SloConfig) -> list[str]:
    end = verdict.judged_at or (float(series.starts[-1]) + series.bucket_seconds)
    begin = verdict.started_at if verdict.started_at is not None else float(series.starts[0])
    span = (begin, max(end, begin + series.bucket_seconds))
    x = _dates(series.starts + series.bucket_seconds / 2)
    # at least 1/500 of the plot wide, so a single bad bucket in a week stays visible
    width_days = max(series.bucket_seconds, (span[1] - span[0]) / 500) / 86400.0
    bucket = format_duration(series.bucket_seconds)
    svgs: list[str] = []

    figure, axes = _axes(f"Latency of ok probes (per {bucket})", "ms", span)
    _shade(axes, verdict)
    axes.plot(x, series.p50, color=P50, linewidth=1, label="p50")
    axes.plot(x, series.p95, color=P95, linewidth=1, label="p95")
    axes.plot(x, series.p99, color=P99, linewidth=1, label="p99")
    axes.axhline(
        slo.p95_ms, color=P95, linestyle="--", linewidth=1, label=f"p95 SLO {slo.p95_ms:g}"
    )
    axes.axhline(
        slo.p99_ms, color=P99, linestyle="--", linewidth=1, label=f"p99 SLO {slo.p99_ms:g}"
    )
    peak = np.nanmax(series.p99) if np.isfinite(series.p99).any() else slo.p99_ms
    axes.set_ylim(0, max(slo.p99_ms, float(peak)) * 1.15)
    _legend(axes)
    svgs.append(svg_markup(figure, "latency"))

    figure, axes = _axes(f"Availability (per {bucket})", "% ok probes", span)
    _shade(axes, verdict)
    availability = series.availability
    floor = max(0.0, min(99.0, 100.0 - 10 * (100.0 - slo.availability_percent)))
    axes.plot(x, availability, color=AVAILABILITY, linewidth=1, label="availability")
    below = availability < floor
    if below.any():
        axes.plot(
            x[below],
            np.full(int(below.sum()), floor),
            "v",
            color=BREACH_WINDOW,
            markersize=5,
            label=f"below {floor:g} %",
        )
    axes.axhline(
        slo.availability_percent,
        color=AVAILABILITY,
        linestyle="--",
        linewidth=1,
        label=f"SLO {slo.availability_percent:g} %",
    )
    axes.set_ylim(floor - (100 - floor) * 0.04, 100 + (100 - floor) * 0.06)
    _legend(axes)
    svgs.append(svg_markup(figure, "availability"))

    figure, axes = _axes(f"Failed probes (per {bucket})", "probes", span)
    _shade(axes, verdict)
    failing = series.failed > 0
    axes.bar(
        x[failing], series.failed[failing], width=width_days, color=ERRORS, label="failed probes"
    )
    axes.set_ylim(0, max(1.0, float(series.failed.max(initial=0))) * 1.15)
    _legend(axes)
    svgs.append(svg_markup(figure, "errors"))

    figure, axes = _axes("Container restarts since the soak began", "restarts", span)
    _shade(axes, verdict)
    seen = np.isfinite(series.restarts)
    axes.step(x[seen], series.restarts[seen], where="post", color=RESTARTS, label="restarts")
    if len(series.oom_kills):
        axes.plot(
            _dates(series.oom_kills),
            np.zeros(len(series.oom_kills)),
            "X",
            color=ERRORS,
            markersize=8,
            label="OOM kill",
        )
    axes.axhline(slo.max_restarts, color=RESTARTS, linestyle="--", linewidth=1, label="SLO")
    axes.set_ylim(-0.3, max(1.0, float(np.nanmax(series.restarts, initial=0))) * 1.25 + 0.3)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(axes)
    svgs.append(svg_markup(figure, "restarts"))

    figure, axes = _axes(f"Container memory (median per {bucket})", "MiB", span)
    _shade(axes, verdict)
    axes.plot(x, series.memory_mib, color=MEMORY, linewidth=1, label="memory")
    first = series.memory_mib[series.starts < series.starts[0] + slo.trend_window_seconds]
    if np.isfinite(first).any():
        limit = float(np.nanmedian(first)) * (1 + slo.memory_growth_percent / 100.0)
        axes.axhline(
            limit,
            color=MEMORY,
            linestyle="--",
            linewidth=1,
            label=f"limit: first {format_duration(slo.trend_window_seconds)}"
            f" +{slo.memory_growth_percent:g} %",
        )
        top = max(limit, float(np.nanmax(series.memory_mib)))
        axes.set_ylim(0, top * 1.2)
    trend = verdict.memory_trend
    if trend is not None:  # the Theil-Sen line the memory slope row judges
        ends = np.array([trend.start_t, trend.start_t + trend.span_seconds])
        level = trend.start_bytes + trend.slope_bytes_per_hour * (ends - trend.start_t) / 3600.0
        axes.plot(
            _dates(ends),
            level / 1024**2,
            color=INK,
            linestyle=":",
            linewidth=1.2,
            zorder=1.9,  # under the memory line: the data stays in sight where they agree
            label=f"trend: {trend.percent(trend.slope_bytes_per_hour):+.2f} %/h (Theil-Sen)",
        )
    _legend(axes)
    svgs.append(svg_markup(figure, "memory"))
    return svgs


# --- the page --------------------------------------------------------------------------------

CSS = """
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:0 16px 32px}
.banner{color:#fff;padding:22px 28px;border-radius:0 0 10px 10px}
.banner .state{font-size:44px;font-weight:800;letter-spacing:.04em;text-transform:uppercase}
.banner .sub{opacity:.92;font-size:14px;word-break:break-all}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:16px 0;padding:14px 18px}
h2{font-size:16px;margin:0 0 10px}
.bar{height:22px;background:#eaeef2;border-radius:11px;overflow:hidden}
.fill{height:100%}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.st{white-space:nowrap}
.pass{color:#1a7f37;font-weight:700}.fail{color:#cf222e;font-weight:700}.wait{color:#59636e}
.note{color:#59636e;font-size:12px}
.plot{margin:4px 0 10px}
footer{color:#59636e;font-size:12px;text-align:center}
"""


def _utc(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def slo_table(verdict: Verdict) -> str:
    rows = []
    for row in verdict.slo_rows:
        unit = f" {row.unit}" if row.unit else ""
        if row.ok is True:
            status = '<span class="pass">✓ met</span>'
        elif row.ok is False:
            status = '<span class="fail">✗ breached</span>'
        else:
            status = '<span class="wait">… not judged yet</span>'
        measured = row.shown + unit if row.measured is not None else "-"
        rows.append(
            f"<tr><td>{html.escape(row.name)}"
            + (f'<div class="note">{html.escape(row.note)}</div>' if row.note else "")
            + f'</td><td class="num">{html.escape(row.op)} {row.threshold:g}{unit}</td>'
            f'<td class="num">{html.escape(measured)}</td><td class="st">{status}</td></tr>'
        )
    return (
        "<table><thead><tr><th>SLO</th><th>threshold</th><th>measured</th><th>status</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _spans_table(verdict: Verdict, limit: int = 25) -> str:
    rows = [
        (gap.start, gap.end, "gap: no probes", format_duration(gap.seconds)) for gap in verdict.gaps
    ] + [
        (w.start, w.end, "in breach: " + "; ".join(w.reasons), format_duration(w.end - w.start))
        for w in verdict.breached_windows
    ]
    if not rows:
        return "<p>None: every observed window counted.</p>"
    rows.sort()
    body = "".join(
        f'<tr><td class="num">{_utc(start)}</td><td class="num">{_utc(end)}</td>'
        f'<td class="num">{length}</td><td>{html.escape(what)}</td></tr>'
        for start, end, what, length in rows[:limit]
    )
    more = f"<p class='note'>… and {len(rows) - limit} more</p>" if len(rows) > limit else ""
    return (
        "<table><thead><tr><th>from</th><th>to</th><th>length</th><th>what</th></tr></thead>"
        f"<tbody>{body}</tbody></table>{more}"
    )


def render_report(
    verdict: Verdict,
    series: SoakSeries,
    path: Path,
    *,
    slo: SloConfig | None = None,
    stage: str = "",
    release: str = "",
    baseline: str | None = None,
) -> Path:
    """Write the report to ``path`` (atomically) and return it."""
    slo = slo or SloConfig()
    colour = STATE_COLOURS.get(verdict.state, "#59636e")
    percent = 100.0 * verdict.progress
    facts = " · ".join(
        part
        for part in (
            f"stage {stage}" if stage else "",
            f"release {release}" if release else "",
            f"baseline {baseline}" if baseline else "",
            f"judged {_utc(verdict.judged_at)}",
        )
        if part
    )
    progress = (
        f"{format_duration(verdict.observed_seconds)} of"
        f" {format_duration(verdict.required_seconds)} observed healthy ({percent:.0f} %)"
        f" · not counted: {format_duration(verdict.gap_seconds)} in"
        f" {plural(len(verdict.gaps), 'gap')}, {format_duration(verdict.breached_seconds)} in"
        f" {plural(len(verdict.breached_windows), 'window')} in breach"
        f" · {verdict.probes:,} probes"
    )
    plots = (
        "".join(f'<div class="plot">{svg}</div>' for svg in soak_plots(verdict, series, slo))
        if len(series.starts)
        else "<p>No samples yet.</p>"
    )
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in verdict.reasons)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Soak {html.escape(stage)}: {html.escape(verdict.state)}</title>
<style>{CSS}</style></head>
<body><main>
<header class="banner" style="background:{colour}">
<div class="state">{html.escape(verdict.state)}</div>
<div class="sub">{html.escape(facts)}</div></header>
<section><h2>Soak clock</h2>
<div class="bar" role="progressbar" aria-valuenow="{percent:.0f}" aria-valuemin="0"
 aria-valuemax="100"><div class="fill" style="width:{percent:.1f}%;background:{colour}"></div></div>
<p>{html.escape(progress)}</p></section>
<section><h2>Why</h2><ul>{reasons}</ul></section>
<section><h2>SLOs</h2>{slo_table(verdict)}</section>
<section><h2>Over the soak</h2>{plots}</section>
<section><h2>Gaps and windows in breach</h2>{_spans_table(verdict)}</section>
<footer>soakgate soak report · buckets of {format_duration(series.bucket_seconds)}
 · times in UTC · generated {_utc(time.time())}</footer>
</main></body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(page, encoding="utf-8")
    partial.replace(path)
    return path
