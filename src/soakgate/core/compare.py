"""Two releases side by side: every figure's change with its confidence interval, and a
verdict per figure that never guesses when the interval is too wide.

    load = load_figures(cycles_a, cycles_b, rounds)             # throughput, p50/p95/p99 per kind
    spot = repeated_figure("start-up", "s", LOWER, [0.8, 0.9], [0.7, 0.8])
    result = Comparison("sha256:a…", "sha256:b…", [*load, spot], threshold=5.0)
    result.overall()         # "slower" / "faster" / "no difference" / "inconclusive" / "mixed"
    render_markdown(result)

A figure's change is ``(b - a) / a`` in percent. Its verdict, at ``threshold`` percent: *worse*
("slower", "larger") when the whole interval is beyond the threshold in the figure's bad
direction, *better* ("faster", "smaller") when it is beyond it in the good one, "no
difference" when the whole interval is within ±threshold, else "inconclusive": the
measurement cannot tell, measure longer. A figure measured once per side (an image's size) has
no interval: its verdict is read from the point estimate.

The load's intervals are the performance gate's (``core.evidence``): a paired, round-stratified
moving-block bootstrap over interleaved cycles (``core.stats.block_bootstrap``); repeated
measurements (start-up, memory, a test suite's duration) get an ordinary bootstrap of the
ratio of medians, each side resampled on its own.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from soakgate.core.stats import block_bootstrap, percentile

HIGHER = "higher"  # a higher value is better (throughput)
LOWER = "lower"  # a lower value is better (latency, memory, size, durations)
SAME = "no difference"
INCONCLUSIVE = "inconclusive"
MIXED = "mixed"
ALL = "all requests"
DEFAULT_THRESHOLD = 5.0  # percent
DEFAULT_CONFIDENCE = 0.90
# the figures whose verdicts make the overall one (speed under load, all requests together)
HEADLINE = ("throughput", "p50", "p95")
_WORDS = {"s": ("faster", "slower"), "ms": ("faster", "slower"), "req/s": ("faster", "slower")}
_SIZE_WORDS = ("smaller", "larger")

# one cycle of one side: request kind -> (latencies of good answers in ms, time waited in ms)
KindCycle = Mapping[str, tuple[Sequence[float], float]]


@dataclass(frozen=True)
class Figure:
    """One measured figure of both releases and its change."""

    name: str
    kind: str  # the request kind, or "" for a figure of the whole release
    unit: str
    better: str  # HIGHER or LOWER
    a: float
    b: float
    interval: tuple[float, float] | None = None  # percent change (b - a) / a, low and high
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def change(self) -> float:
        return _change(self.a, self.b)

    def words(self) -> tuple[str, str]:
        """(better, worse) in this figure's terms."""
        return _WORDS.get(self.unit, _SIZE_WORDS)

    def verdict(self, threshold: float) -> str:
        low, high = self.interval if self.interval is not None else (self.change, self.change)
        if math.isnan(low) or math.isnan(high):
            return INCONCLUSIVE
        better, worse = self.words()
        if self.better == HIGHER:
            low, high = -high, -low  # now positive is worse, as for LOWER figures
        if low > threshold:
            return worse
        if high < -threshold:
            return better
        if -threshold <= low and high <= threshold:
            return SAME
        return INCONCLUSIVE

    def as_dict(self, threshold: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "better": self.better,
            "a": _round(self.a),
            "b": _round(self.b),
            "change_percent": _round(self.change),
            "interval_percent": None
            if self.interval is None
            else [_round(self.interval[0]), _round(self.interval[1])],
            "verdict": self.verdict(threshold),
            **({"detail": dict(self.detail)} if self.detail else {}),
        }


@dataclass(frozen=True)
class Comparison:
    """Release ``a`` (the reference) against release ``b``."""

    a: str
    b: str
    figures: Sequence[Figure]
    threshold: float = DEFAULT_THRESHOLD
    confidence: float = DEFAULT_CONFIDENCE
    labels: tuple[str, str] = ("A", "B")
    notes: Sequence[str] = ()
    method: Mapping[str, Any] = field(default_factory=dict)
    variant: str | None = None  # B is A's (or another release's) variant of this name

    def headline(self) -> list[Figure]:
        return [f for f in self.figures if f.kind == ALL and f.name in HEADLINE]

    def overall(self) -> str:
        """The verdict of the headline figures together: one word when they agree (figures
        with no difference leave the others' word standing), "mixed" when some are better and
        some worse, "inconclusive" when any cannot tell."""
        verdicts = {f.verdict(self.threshold) for f in self.headline()}
        if not verdicts or INCONCLUSIVE in verdicts:
            return INCONCLUSIVE
        moved = verdicts - {SAME}
        if not moved:
            return SAME
        return moved.pop() if len(moved) == 1 else MIXED

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": {"release": self.a, "label": self.labels[0]},
            "b": {"release": self.b, "label": self.labels[1]},
            "variant": self.variant,
            "threshold_percent": self.threshold,
            "confidence": self.confidence,
            "verdict": self.overall(),
            "figures": [f.as_dict(self.threshold) for f in self.figures],
            "notes": list(self.notes),
            "method": dict(self.method),
        }


def _change(a: float, b: float) -> float:
    if a == 0 or math.isinf(a) or math.isinf(b):
        return math.nan
    return 100.0 * (b - a) / a


def _round(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(value, 3)


# --- the load: interleaved cycles, per request kind --------------------------------------
def _kind_figures(cycles: Sequence[KindCycle], indices: Sequence[int], kind: str) -> list[float]:
    """(throughput, p50, p95, p99) of ``kind`` (or of every kind, :data:`ALL`) over the cycles
    at ``indices``; inf when there is no good answer."""
    latencies: list[float] = []
    busy = 0.0
    for index in indices:
        for name, (values, waited) in cycles[index].items():
            if kind in (ALL, name):
                latencies.extend(values)
                busy += waited
    if not latencies or busy <= 0:
        return [math.inf] * 4
    latencies.sort()
    return [
        1000.0 * len(latencies) / busy,
        percentile(latencies, 50),
        percentile(latencies, 95),
        percentile(latencies, 99),
    ]


LOAD_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("throughput", "req/s", HIGHER),
    ("p50", "ms", LOWER),
    ("p95", "ms", LOWER),
    ("p99", "ms", LOWER),
)


def load_figures(
    a: Sequence[KindCycle],
    b: Sequence[KindCycle],
    rounds: Sequence[int],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = 1000,
) -> list[Figure]:
    """Throughput and p50/p95/p99 latency of all requests and of each kind, with paired
    moving-block bootstrap intervals of their changes (cycle ``i`` of both sides answered the
    same requests, interleaved)."""
    if len(a) != len(b) or sum(rounds) != len(a) or not a:
        raise ValueError("paired cycles: both sides and the rounds should count the same cycles")
    kinds = [ALL, *sorted({name for cycle in (*a, *b) for name in cycle})]
    if len(kinds) == 2:
        kinds = [ALL]  # one kind of request: its figures are all requests' figures

    def changes(indices: Sequence[int]) -> list[float]:
        values: list[float] = []
        for kind in kinds:
            old, new = _kind_figures(a, indices, kind), _kind_figures(b, indices, kind)
            values.extend(_change(x, y) for x, y in zip(old, new, strict=True))
        return [0.0 if math.isnan(v) else v for v in values]

    intervals = block_bootstrap(rounds, changes, resamples=resamples, confidence=confidence)
    everything = list(range(len(a)))
    figures = []
    for k, kind in enumerate(kinds):
        old, new = _kind_figures(a, everything, kind), _kind_figures(b, everything, kind)
        for f, (name, unit, better) in enumerate(LOAD_FIGURES):
            figures.append(
                Figure(
                    name, kind, unit, better, old[f], new[f], intervals[k * len(LOAD_FIGURES) + f]
                )
            )
    return figures


# --- figures measured a few times per side -----------------------------------------------
def median_ratio_interval(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the percent change of the median, each side
    resampled on its own (the measurements are not paired). Fewer than 3 values on a side
    give an unbounded interval: no verdict from two measurements."""
    if len(a) < 3 or len(b) < 3:
        return (-math.inf, math.inf)
    rng = random.Random(seed)
    draws = []
    for _ in range(resamples):
        old = median(rng.choices(a, k=len(a)))
        new = median(rng.choices(b, k=len(b)))
        draws.append(_change(old, new) if old else math.inf)
    draws.sort()
    tail = 100 * (1 - confidence) / 2
    return percentile(draws, tail), percentile(draws, 100 - tail)


def repeated_figure(
    name: str,
    unit: str,
    better: str,
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Figure:
    """A figure measured several times per side: medians, and the interval of their change."""
    if not a or not b:
        raise ValueError(f"{name}: no measurement on one side")
    return Figure(
        name,
        "",
        unit,
        better,
        median(a),
        median(b),
        median_ratio_interval(a, b, confidence=confidence),
        {"a": [_round(v) for v in a], "b": [_round(v) for v in b]},
    )


def exact_figure(name: str, unit: str, a: float, b: float) -> Figure:
    """A figure that is the same at every reading (an image's size): no interval."""
    return Figure(name, "", unit, LOWER, a, b)


# --- rendering ------------------------------------------------------------------------------
def _value(value: float, unit: str) -> str:
    if math.isnan(value) or math.isinf(value):
        return "—"
    digits = 1 if abs(value) >= 100 else 2
    return f"{value:.{digits}f} {unit}"


def _interval(figure: Figure) -> str:
    if math.isnan(figure.change):
        return "—"
    if figure.interval is None:
        return f"{figure.change:+.1f} %"
    low, high = figure.interval
    if math.isinf(low) or math.isinf(high):
        return f"{figure.change:+.1f} % (too few runs for an interval)"
    return f"{figure.change:+.1f} % [{low:+.1f}, {high:+.1f}]"


def table_rows(comparison: Comparison) -> list[tuple[str, str, str, str, str]]:
    """(figure, A, B, change [interval], verdict) for each figure, headline ones first."""
    rows = []
    for figure in comparison.figures:
        name = figure.name if not figure.kind else f"{figure.name} · {figure.kind}"
        rows.append(
            (
                name,
                _value(figure.a, figure.unit),
                _value(figure.b, figure.unit),
                _interval(figure),
                figure.verdict(comparison.threshold),
            )
        )
    return rows


def render_markdown(comparison: Comparison, title: str = "Comparison") -> str:
    """The comparison as a Markdown section: the verdict, the table, the notes."""
    a_label, b_label = comparison.labels
    lines = [
        f"## {title}: {a_label} → {b_label}",
        "",
        f"**Verdict: {comparison.overall()}** (threshold ±{comparison.threshold:g} %,"
        f" {comparison.confidence:.0%} intervals; B against A)",
        "",
        f"- A: {a_label} `{comparison.a}`",
        f"- B: {b_label} `{comparison.b}`",
        "",
        "| figure | A | B | change [interval] | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in table_rows(comparison)]
    if comparison.notes:
        lines += ["", *[f"- {note}" for note in comparison.notes]]
    return "\n".join(lines) + "\n"


Measure = Callable[[], float]
