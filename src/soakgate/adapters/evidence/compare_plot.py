"""A comparison as a picture: each figure's change (B against A, percent) as a dot with its
confidence interval, the ±threshold band shaded, coloured by verdict (a forest plot), drawn
with matplotlib's ``Figure`` API (no pyplot: headless, no global state), as SVG.

    svg = forest_plot(comparison)            # a standalone SVG document
"""

from __future__ import annotations

import io
import math

import matplotlib
from matplotlib.figure import Figure as PlotFigure

from soakgate.core.compare import INCONCLUSIVE, SAME, Comparison, Figure

COLOURS = {"better": "#1a7f37", "worse": "#cf222e", SAME: "#59636e", INCONCLUSIVE: "#9a6700"}
INK, MUTED, BAND = "#1f2328", "#59636e", "#eaeef2"


def _name(figure: Figure) -> str:
    return figure.name if not figure.kind else f"{figure.name} · {figure.kind}"


def colour(figure: Figure, threshold: float) -> str:
    """The verdict's colour: green better, red worse, grey no difference, amber cannot tell."""
    verdict = figure.verdict(threshold)
    better, worse = figure.words()
    if verdict == better:
        return COLOURS["better"]
    if verdict == worse:
        return COLOURS["worse"]
    return COLOURS.get(verdict, COLOURS[INCONCLUSIVE])


def forest_plot(comparison: Comparison) -> str:
    """The SVG document. The axis reaches the widest finite value, between 2 and 10 times
    the threshold; an interval beyond it ends in an arrow at the edge."""
    figures = [f for f in comparison.figures if not math.isnan(f.change)]
    threshold = comparison.threshold
    values = [abs(f.change) for f in figures]
    for f in figures:
        if f.interval is not None:
            values += [abs(v) for v in f.interval if not math.isinf(v)]
    span = min(max([threshold * 2, *values]), threshold * 10) * 1.1
    plot = PlotFigure(figsize=(9, 0.32 * len(figures) + 1.2))
    plot.subplots_adjust(left=0.34, right=0.86, top=1 - 0.55 / (0.32 * len(figures) + 1.2))
    axes = plot.add_subplot()
    axes.axvspan(-threshold, threshold, color=BAND, linewidth=0)
    axes.axvline(0, color="#8c959f", linewidth=0.8)
    for row, figure in enumerate(figures):
        y = len(figures) - 1 - row
        low, high = figure.interval if figure.interval is not None else (figure.change,) * 2
        shade = colour(figure, threshold)
        left, right = max(low, -span), min(high, span)
        axes.plot([left, right], [y, y], color=shade, linewidth=2, solid_capstyle="butt")
        for value, edge, marker in ((low, -span, "<"), (high, span, ">")):
            if (value < -span) if edge < 0 else (value > span):
                axes.plot([edge], [y], marker=marker, color=shade, markersize=6)
        axes.plot([max(-span, min(span, figure.change))], [y], "o", color=shade, markersize=5)
        axes.text(
            1.01,
            y,
            figure.verdict(threshold),
            transform=axes.get_yaxis_transform(),
            va="center",
            fontsize=8,
            color=shade,
        )
    axes.set_yticks(range(len(figures)), [_name(f) for f in reversed(figures)], fontsize=8)
    axes.set_xlim(-span, span)
    axes.set_ylim(-0.7, len(figures) - 0.3)
    axes.set_xlabel("change of B against A, %", color=MUTED, fontsize=8)
    axes.tick_params(colors=MUTED, labelsize=8)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    a_label, b_label = comparison.labels
    plot.suptitle(
        f"{b_label} against {a_label}: {comparison.overall()}"
        f" ({comparison.confidence:.0%} intervals, ±{threshold:g} % shaded)",
        x=0.02,
        ha="left",
        fontsize=10,
        color=INK,
        weight="bold",
    )
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "compare"}):
        plot.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()
