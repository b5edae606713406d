"""Soak judgement: has a release run healthy, and long enough, to leave staging?

    slo = parse_slo(tomllib.loads(text).get("slo", {}))
    verdict = judge_soak(samples, engine_samples, baseline_latencies_ms, slo, now=time.time())
    verdict.state        # "healthy" | "breached" | "not enough data"
    verdict.reasons      # one line each: why

The rules, exactly
------------------
Probes. A probe is *ok* when it got a 2xx answer and *answered* when it got any HTTP status.
availability = ok probes / all probes; error rate = answered probes that were not ok /
answered probes (connection errors and timeouts count against availability only); latency
percentiles are taken over the latencies of ok probes, interpolating linearly between the
closest ranks (numpy's default).

Soak clock (:func:`observed_time`). Samples are ordered by ``t``. Two consecutive probes at
most ``gap_threshold`` apart (``gap_factor`` x probe interval, 3 s by default) observe the
time between them; that segment belongs to the window of its later probe. A longer silence is
a *gap* — shown, never counted — and so is a silence longer than ``gap_threshold`` between
``started_at`` and the first probe, or between the last probe and ``now``. The soak is cut
into consecutive *windows* of ``window_seconds`` (1 h) from ``started_at`` (else the first
probe). A window is *in breach* when it holds ≥ ``window_min_samples`` probes and its
availability, error rate, p95 or p99 breaks the SLO — or when it holds fewer probes and any
of them failed (a short window is healthy only if every probe in it was ok). The time of a
window in breach is not counted: ``observed_seconds`` = observed time - time in windows in
breach.

Verdict (:func:`judge_soak`). Rows are judged on the probes and engine samples up to ``now``:

- *soak totals*: availability, error rate, p95 and p99 over the whole soak, judged once it
  holds ≥ ``min_samples`` probes. A rate (availability, error rate) breaks its SLO only when
  the exact binomial test says the excess is no chance: P(≥ k failures in n | the SLO's
  budget) < ``regression_p_value`` — at a 0.1 % budget, 4 failed probes in an hour of 3600 are
  a measured 0.11 % but happen by chance at the budget half the time (p = 0.48); sparse errors
  need counting, not dividing. The same rule judges every window;
- *last window* (``now - window_seconds``, ``now``]: the same four, judged with
  ≥ ``window_min_samples`` probes — this catches a release that starts failing within minutes;
- restarts over the soak ≤ ``max_restarts`` (the engine's restart count only grows; a drop
  means the container was replaced: one restart plus its new count); OOM kills (samples whose
  ``oom_killed`` turns true) ≤ ``max_oom_kills``;
- memory growth: median memory over the last ``trend_window_seconds`` (1 day) divided by the
  median over the first, minus one, ≤ ``memory_growth_percent``; judged once the two do not
  overlap — a slow leak over days;
- memory slope (:func:`memory_trend`): the trend of memory over the whole soak, judged from
  the first hours on — once the engine samples of the running container span
  ``memory_trend_min_span_seconds`` (6 h) and number ≥ ``memory_trend_min_samples``. The
  samples are cut into at most 60 equal time bins; the Theil-Sen line through the bins'
  medians gives the slope per hour and Sen's distribution-free 90 % interval (widened for
  neighbouring bins that move together), both as % of the line's level at the first sample
  (and MiB/h). A breach needs the *whole* interval above
  ``memory_slope_percent_per_hour`` (the low end is the row's measured value): a leak of a
  few % per hour breaches within hours, a flat service (GC sawtooth, a warm-up step) does not;
- latency spread vs the baseline, over the soak and the last trend window: the Brown-Forsythe
  test (one-sided: candidate more spread) and the effect size mean |latency - median| of the
  candidate / the baseline's; a breach needs p < ``regression_p_value`` AND the ratio >
  ``latency_spread_ratio`` — a release whose median holds but whose latency jitters (GC
  pauses) is caught here, not by Mann-Whitney. Judged like the latency comparison;
- latency vs the baseline release, over the soak and over the last trend window: a breach when
  the Mann-Whitney U test (one-sided: candidate slower) gives p < ``regression_p_value`` AND
  the effect size median(candidate) / median(baseline) - 1 > ``regression_percent`` — both
  are needed, as Kayenta does (a large sample makes a tiny shift significant; a small one
  makes a large shift noise). Judged when both sides hold ≥ ``min_samples`` latencies; the
  note adds Cliff's delta (the rank-biserial effect size of U, -1 … +1);
- routing: probes answered by another release than the one soaking (their error starts with
  ``"drift: "``, see :data:`DRIFT`) = 0, judged from the first probe — a soak whose traffic
  went to the other slot is no evidence for its release, so one such probe breaches it.

The state is *breached* when any judged row fails (breach beats "not enough data"); else
*healthy* when ``observed_seconds`` ≥ ``required_seconds``, the soak totals are judged and
engine samples exist; else *not enough data*. A past window in breach whose soak totals still
hold costs its time, not the verdict; whether a breach ends the soak is the caller's policy.

No verdict comes from too few samples: the totals wait for ``min_samples`` probes, a window
for ``window_min_samples`` (a shorter one breaches only on a failed probe), the latency tests
for ``min_samples`` per side, the memory slope for its span and sample count. Only counts
the SLO allows none of (restarts, OOM kills, another release answering) judge from the first.

The tests live in :mod:`soakgate.core.stats`, in pure Python (Mann-Whitney U's normal
approximation with tie and continuity corrections, Brown-Forsythe, the exact binomial tail,
Theil-Sen); the unit tests cross-check each with scipy. Sides longer than
``max_test_samples`` are thinned by an even stride for the tests; medians and spreads use
every value.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from soakgate.core.stats import (
    ar1_variance_factor,
    binomial_tail,
    brown_forsythe,
    cliffs_delta,
    mann_whitney_u,
    percentile,
    theil_sen,
    thin,
)
from soakgate.core.validation import ConfigInvalid, parse_duration

State = Literal["healthy", "breached", "not enough data"]
HEALTHY: State = "healthy"
BREACHED: State = "breached"
NOT_ENOUGH_DATA: State = "not enough data"
DRIFT = "drift: "  # the error of a probe answered by another release than the soaking one


@dataclass(frozen=True, slots=True)
class Sample:
    """One probe through the stage's proxy. ``t`` in epoch seconds; ``ok`` means a 2xx."""

    t: float
    ok: bool
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RoutedSample(Sample):
    """A probe's sample and who answered it, as the stage's proxy says (its headers); the
    monitor checks these and stores the plain :class:`Sample`."""

    slot: str | None = None  # X-Soakgate-Slot: the slot the proxy routed to
    upstream: str | None = None  # X-Soakgate-Upstream: the address that answered

    def plain(self, error: str | None = None) -> Sample:
        """The stored sample; with ``error``, a failed one (the answer does not count)."""
        if error is None:
            return Sample(self.t, self.ok, self.status, self.latency_ms, self.error)
        return Sample(self.t, False, self.status, self.latency_ms, error)


@dataclass(frozen=True, slots=True)
class EngineSample:
    """What the Docker engine says about the release's container at ``t``."""

    t: float
    restarts: int  # the container's RestartCount
    oom_killed: bool
    memory_bytes: int
    cpu_percent: float
    running: bool = True
    # its health check has not passed since it (re)started (Docker's "starting"): a live
    # signal for the monitor, not stored with the sample
    starting: bool = False


@dataclass(frozen=True)
class Gap:
    """A time without probes: shown in reports, never counted as soak time."""

    start: float
    end: float
    seconds: float


@dataclass(frozen=True)
class Window:
    """A window in breach; its observed time is not counted."""

    start: float
    end: float
    probes: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SloRow:
    """One line of the SLO table. ``ok`` is None while the row cannot be judged yet."""

    name: str
    threshold: float
    measured: float | None
    ok: bool | None
    op: str = "≤"
    unit: str = ""
    note: str = ""

    @property
    def shown(self) -> str:
        """The measured value without unit: 3 decimals for %, 1 for ms; "-" when not judged."""
        if self.measured is None:
            return "-"
        if self.unit in ("%", "%/h"):
            return _num(round(self.measured, 3))
        if self.unit == "ms":
            return f"{self.measured:.1f}"
        return _num(self.measured)

    def describe(self) -> str:
        """``"p95 latency (soak): 312.0 ms (SLO ≤ 300 ms)"``."""
        unit = f" {self.unit}" if self.unit else ""
        measured = "not judged yet" if self.measured is None else f"{self.shown}{unit}"
        note = f"; {self.note}" if self.note else ""
        return f"{self.name}: {measured} (SLO {self.op} {_num(self.threshold)}{unit}){note}"


@dataclass(frozen=True)
class Regression:
    """Candidate latency vs the baseline's: Mann-Whitney U (candidate slower) and effect size."""

    u: float
    p_value: float
    candidate_median_ms: float
    baseline_median_ms: float
    effect: float  # candidate median / baseline median - 1
    n_candidate: int
    n_baseline: int
    cliffs_delta: float = 0.0  # P(candidate > baseline) - P(candidate < baseline), of the test


@dataclass(frozen=True)
class Spread:
    """Candidate latency spread vs the baseline's: Brown-Forsythe (candidate more spread)."""

    w: float
    p_value: float  # one-sided: the candidate is more spread
    candidate_spread_ms: float  # mean |latency - median|
    baseline_spread_ms: float
    ratio: float  # candidate spread / baseline spread
    variance_ratio: float  # candidate variance / baseline variance (shown, not judged)


@dataclass(frozen=True)
class MemoryTrend:
    """The Theil-Sen line of memory over the soak (see :func:`memory_trend`)."""

    slope_bytes_per_hour: float
    low_bytes_per_hour: float  # Sen's interval at TREND_CONFIDENCE
    high_bytes_per_hour: float
    start_bytes: float  # the line's level at the first sample
    start_t: float  # the first sample's time
    span_seconds: float
    samples: int
    bins: int
    autocorrelation: float = 0.0  # lag-1, of the bins' residuals around the line
    variance_factor: float = 1.0  # how much that widened the interval's variance

    def percent(self, bytes_per_hour: float) -> float:
        """Bytes per hour as % of the start level per hour."""
        return 100.0 * bytes_per_hour / self.start_bytes

    def as_dict(self) -> dict[str, float | int]:
        return {
            "slope_percent_per_hour": self.percent(self.slope_bytes_per_hour),
            "low_percent_per_hour": self.percent(self.low_bytes_per_hour),
            "high_percent_per_hour": self.percent(self.high_bytes_per_hour),
            "slope_mib_per_hour": self.slope_bytes_per_hour / 1024**2,
            "low_mib_per_hour": self.low_bytes_per_hour / 1024**2,
            "high_mib_per_hour": self.high_bytes_per_hour / 1024**2,
            "start_mib": self.start_bytes / 1024**2,
            "start_t": self.start_t,
            "confidence": TREND_CONFIDENCE,
            "span_seconds": self.span_seconds,
            "samples": self.samples,
            "bins": self.bins,
            "autocorrelation": self.autocorrelation,
            "variance_factor": self.variance_factor,
        }


@dataclass(frozen=True)
class SloConfig:
    """The soak's SLOs and clock settings; see the module docstring for how each is judged."""

    availability_percent: float = 99.9
    error_rate_percent: float = 0.1
    p95_ms: float = 300.0
    p99_ms: float = 800.0
    max_restarts: int = 0
    max_oom_kills: int = 0
    memory_growth_percent: float = 20.0
    memory_slope_percent_per_hour: float = 1.0
    memory_trend_min_span_seconds: float = 6 * 3600.0
    memory_trend_min_samples: int = 30
    regression_percent: float = 5.0
    latency_spread_ratio: float = 1.5
    regression_p_value: float = 0.01
    required_seconds: float = 7 * 86400.0
    probe_interval_seconds: float = 1.0
    gap_factor: float = 3.0
    window_seconds: float = 3600.0
    window_min_samples: int = 300
    min_samples: int = 1000
    trend_window_seconds: float = 86400.0
    max_test_samples: int = 20_000

    @property
    def gap_threshold(self) -> float:
        """No probe for longer than this is a gap (3 x the probe interval by default)."""
        return self.gap_factor * self.probe_interval_seconds


@dataclass(frozen=True)
class Verdict:
    """The soak's state and the evidence for it."""

    state: State
    observed_seconds: float  # observed, healthy: counts towards the soak
    required_seconds: float
    gaps: list[Gap]
    slo_rows: list[SloRow]
    reasons: list[str]
    breached_windows: list[Window] = field(default_factory=list)
    gap_seconds: float = 0.0
    breached_seconds: float = 0.0  # observed, but in windows in breach: not counted
    probes: int = 0
    started_at: float | None = None
    judged_at: float = 0.0
    regression: Regression | None = None
    memory_trend: MemoryTrend | None = None

    @property
    def progress(self) -> float:
        """Observed healthy time over required time, 0.0-1.0."""
        if self.required_seconds <= 0:
            return 1.0
        return min(1.0, self.observed_seconds / self.required_seconds)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready evidence for gates and reports."""
        return {
            "state": self.state,
            "observed_seconds": round(self.observed_seconds, 3),
            "required_seconds": self.required_seconds,
            "gap_seconds": round(self.gap_seconds, 3),
            "breached_seconds": round(self.breached_seconds, 3),
            "probes": self.probes,
            "started_at": self.started_at,
            "judged_at": self.judged_at,
            "reasons": list(self.reasons),
            "gaps": [{"start": g.start, "end": g.end, "seconds": g.seconds} for g in self.gaps],
            "breached_windows": [
                {"start": w.start, "end": w.end, "probes": w.probes, "reasons": list(w.reasons)}
                for w in self.breached_windows
            ],
            "slo": [
                {
                    "name": r.name,
                    "threshold": r.threshold,
                    "op": r.op,
                    "unit": r.unit,
                    "measured": r.measured,
                    "ok": r.ok,
                    "note": r.note,
                }
                for r in self.slo_rows
            ],
            "memory_trend": None if self.memory_trend is None else self.memory_trend.as_dict(),
        }


# --- configuration ---------------------------------------------------------------------------

SLO_EXAMPLE = """\
[slo]
availability_percent = 99.9    # ok (2xx) probes / all probes, at least
error_rate_percent = 0.1       # non-2xx answers / answers, at most
p95_ms = 300                   # latency of ok probes, at most
p99_ms = 800
max_restarts = 0               # container restarts over the soak
max_oom_kills = 0
memory_growth_percent = 20     # median memory, last trend window vs first
memory_slope_percent_per_hour = 1  # memory trend over the soak (Theil-Sen, % of its start
                               # level per hour): a breach when its whole 90 % interval is above
memory_trend_min_span = "6h"   # the slope is judged once engine samples span this long ...
memory_trend_min_samples = 30  # ... and are this many
regression_percent = 5         # median latency vs the baseline release, at most ...
regression_p_value = 0.01      # ... unless Mann-Whitney U (one-sided) p is not below this; the
                               # significance level of the other tests too (spread, error counts)
latency_spread_ratio = 1.5     # latency spread (mean |x - median|) vs the baseline's, at most,
                               # unless Brown-Forsythe (one-sided) p is not below regression_p_value
duration = "7d"                # observed healthy time required
probe_interval = "1s"
gap_factor = 3                 # no probe for longer than gap_factor x probe_interval: a gap
window = "1h"                  # availability, errors and latency are also judged per window
window_min_samples = 300       # a shorter window is judged only on failed probes
min_samples = 1000             # probes needed before the soak totals are judged
trend_window = "1d"            # memory growth and latency regression compare whole windows
max_test_samples = 20000       # longer sides are thinned for the Mann-Whitney test
"""

_DURATIONS = {
    "duration": "required_seconds",
    "probe_interval": "probe_interval_seconds",
    "window": "window_seconds",
    "trend_window": "trend_window_seconds",
    "memory_trend_min_span": "memory_trend_min_span_seconds",
}
_COUNTS = {
    "max_restarts",
    "max_oom_kills",
    "window_min_samples",
    "min_samples",
    "max_test_samples",
    "memory_trend_min_samples",
}
_PERCENTS = {"availability_percent", "error_rate_percent"}


def _number(path: str, value: Any, what: str, low: float, high: float, closed: bool) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    inside = is_number and (low <= value <= high if closed else low < value <= high)
    if not inside or not math.isfinite(float(value)):
        raise ConfigInvalid(path, f"expected {what}, got {value!r}")
    return float(value)


def parse_slo(data: dict[str, Any]) -> SloConfig:
    """Validate the ``[slo]`` table of soakgate.toml; every key is optional (see SLO_EXAMPLE)."""
    if not isinstance(data, dict):
        raise ConfigInvalid("slo", f"expected a table, got {type(data).__name__}")
    plain = {f.name for f in fields(SloConfig)} - set(_DURATIONS.values())
    known = plain | set(_DURATIONS)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigInvalid(f"slo.{unknown[0]}", f"unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for key, value in data.items():
        path = f"slo.{key}"
        if key in _DURATIONS:
            seconds = parse_duration(path, value)
            if seconds <= 0:
                raise ConfigInvalid(path, f"expected a positive duration, got {value!r}")
            values[_DURATIONS[key]] = float(seconds)
        elif key in _COUNTS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigInvalid(path, f"expected a whole number ≥ 0, got {value!r}")
            values[key] = value
        elif key in _PERCENTS:
            values[key] = _number(path, value, "a percentage 0-100", 0, 100, closed=True)
        elif key == "regression_p_value":
            values[key] = _number(path, value, "a probability between 0 and 1", 0, 1, False)
        elif key in ("gap_factor", "latency_spread_ratio"):
            values[key] = _number(path, value, "a number ≥ 1", 1, math.inf, closed=True)
        else:
            values[key] = _number(path, value, "a positive number", 0, math.inf, closed=False)
    slo = SloConfig(**values)
    if slo.p99_ms < slo.p95_ms:
        raise ConfigInvalid(
            "slo.p99_ms", f"expected ≥ p95_ms ({_num(slo.p95_ms)}), got {_num(slo.p99_ms)}"
        )
    if slo.max_test_samples < 2:
        raise ConfigInvalid("slo.max_test_samples", f"expected ≥ 2, got {slo.max_test_samples}")
    if slo.memory_trend_min_samples < 3:
        raise ConfigInvalid(
            "slo.memory_trend_min_samples", f"expected ≥ 3, got {slo.memory_trend_min_samples}"
        )
    return slo


# --- the baseline comparison ---------------------------------------------------------------


def compare_latency(
    candidate_sorted: Sequence[float],
    baseline_sorted: Sequence[float],
    candidate_in_time_order: Sequence[float],
    baseline_in_time_order: Sequence[float],
    max_test_samples: int,
) -> Regression:
    """Mann-Whitney U and Cliff's delta on thinned sides, the effect size on the full medians."""
    candidate = thin(candidate_in_time_order, max_test_samples)
    baseline = thin(baseline_in_time_order, max_test_samples)
    u, p = mann_whitney_u(candidate, baseline)
    cand = percentile(candidate_sorted, 50)
    base = percentile(baseline_sorted, 50)
    effect = cand / base - 1.0 if base > 0 else (math.inf if cand > 0 else 0.0)
    delta = cliffs_delta(u, len(candidate), len(baseline))
    return Regression(u, p, cand, base, effect, len(candidate_sorted), len(baseline_sorted), delta)


def compare_spread(
    candidate_sorted: Sequence[float],
    baseline_sorted: Sequence[float],
    candidate_in_time_order: Sequence[float],
    baseline_in_time_order: Sequence[float],
    max_test_samples: int,
) -> Spread:
    """Brown-Forsythe on thinned sides (one-sided p: the candidate is more spread); the spreads
    (mean |latency - median|) and the variance ratio on every value."""
    w, p_two = brown_forsythe(
        thin(candidate_in_time_order, max_test_samples),
        thin(baseline_in_time_order, max_test_samples),
    )
    cand, cand_var = _spread(candidate_sorted)
    base, base_var = _spread(baseline_sorted)
    p = p_two / 2.0 if cand > base else 1.0 - p_two / 2.0
    ratio = cand / base if base > 0 else (math.inf if cand > 0 else 1.0)
    variance_ratio = cand_var / base_var if base_var > 0 else (math.inf if cand_var > 0 else 1.0)
    return Spread(w, p, cand, base, ratio, variance_ratio)


def _spread(ordered: Sequence[float]) -> tuple[float, float]:
    """(mean |x - median|, sample variance) of sorted values."""
    centre = percentile(ordered, 50)
    n = len(ordered)
    mean = math.fsum(ordered) / n
    deviation = math.fsum(abs(x - centre) for x in ordered) / n
    variance = math.fsum((x - mean) ** 2 for x in ordered) / (n - 1) if n > 1 else 0.0
    return deviation, variance


# --- the memory trend --------------------------------------------------------------------------

TREND_BINS = 60  # Theil-Sen is O(bins²): 1770 pairs
TREND_CONFIDENCE = 0.90  # two-sided: the low end alone is a one-sided 95 % bound


def memory_trend(engines: Sequence[EngineSample], slo: SloConfig) -> MemoryTrend | str:
    """The Theil-Sen trend of the running container's memory over the soak, or why not yet.

    Why Theil-Sen on bin medians, with Sen's interval: memory of a healthy Python service is
    not a line plus normal noise — it has a GC sawtooth, allocation spikes, a warm-up step
    and plateaus. The median of pairwise slopes ignores up to 29 % of wild points, where
    least squares (and its t-interval) lets the first or last hour tip the line; Sen's
    interval needs no normal errors and no random seed (a bootstrap would), so a verdict can
    be recomputed exactly from its samples. Medians of at most ``TREND_BINS`` equal time bins
    first absorb the short-range dependence of consecutive samples (one every 10 s), which
    the interval's independence assumption cannot, and keep the O(n²) pairs small; what
    dependence is left between bins (a plateau, a slow wander: neighbours on the same side of
    the line) widens the interval by the AR(1) factor of the residuals' lag-1
    autocorrelation (:func:`~soakgate.core.stats.ar1_variance_factor`) — a trend test on
    dependent points that ignored it would see trends in noise.
    """
    points = [(e.t, float(e.memory_bytes)) for e in engines if e.running and e.memory_bytes > 0]
    need_span = format_duration(slo.memory_trend_min_span_seconds)
    if len(points) < slo.memory_trend_min_samples:
        return f"{len(points)} memory samples, need {slo.memory_trend_min_samples}"
    t0 = points[0][0]
    span = points[-1][0] - t0
    if span <= 0 or span < slo.memory_trend_min_span_seconds:
        return f"memory samples span {format_duration(span)}, need {need_span}"
    count = min(TREND_BINS, len(points))
    width = span / count
    bins: list[tuple[list[float], list[float]]] = [([], []) for _ in range(count)]
    for t, memory in points:
        times, values = bins[min(int((t - t0) / width), count - 1)]
        times.append((t - t0) / 3600.0)
        values.append(memory)
    xs = [percentile(sorted(times), 50) for times, _ in bins if times]
    ys = [percentile(sorted(values), 50) for _, values in bins if values]
    if len(xs) < 3:
        return f"memory samples fall in {len(xs)} time bins, need 3"
    slope, intercept, _, _ = theil_sen(xs, ys, TREND_CONFIDENCE)
    if intercept <= 0:
        return "the memory line starts at or below 0 bytes"
    factor, r1 = ar1_variance_factor(
        [y - intercept - slope * x for x, y in zip(xs, ys, strict=True)]
    )
    _, _, low, high = theil_sen(xs, ys, TREND_CONFIDENCE, variance_factor=factor)
    return MemoryTrend(slope, low, high, intercept, t0, span, len(points), len(xs), r1, factor)


def _memory_trend_row(
    engines: Sequence[EngineSample], slo: SloConfig
) -> tuple[SloRow, MemoryTrend | None]:
    name = f"memory slope (soak; low end of {100 * TREND_CONFIDENCE:.0f} % interval)"
    threshold = slo.memory_slope_percent_per_hour
    found = memory_trend(engines, slo)
    if isinstance(found, str):
        return SloRow(name, threshold, None, None, unit="%/h", note=found), None
    slope, low, high = (
        found.percent(found.slope_bytes_per_hour),
        found.percent(found.low_bytes_per_hour),
        found.percent(found.high_bytes_per_hour),
    )
    note = (
        f"Theil-Sen {slope:+.2f} %/h, interval {low:+.2f} … {high:+.2f} %/h"
        f" ({found.slope_bytes_per_hour / 1024**2:+.1f} MiB/h from {_mib(found.start_bytes)}),"
        f" {found.samples} samples over {format_duration(found.span_seconds)} in"
        f" {found.bins} bins (lag-1 autocorrelation {found.autocorrelation:+.2f});"
        f" a breach needs the whole interval above {_num(threshold)} %/h"
    )
    return SloRow(name, threshold, low, low <= threshold, unit="%/h", note=note), found


# --- the soak clock --------------------------------------------------------------------------


def observed_time(
    samples: Sequence[Sample],
    gap_threshold: float,
    *,
    now: float | None = None,
    started_at: float | None = None,
    excluded: Sequence[Window] = (),
) -> tuple[float, list[Gap]]:
    """(observed seconds outside ``excluded`` windows, gaps) — rules in the module docstring.

    ``samples`` must be ordered by ``t``; a segment between two probes belongs to the window
    of its later probe.
    """
    gaps: list[Gap] = []
    if not samples:
        if started_at is not None and now is not None and now - started_at > gap_threshold:
            gaps.append(Gap(started_at, now, now - started_at))
        return 0.0, gaps
    if started_at is not None and samples[0].t - started_at > gap_threshold:
        gaps.append(Gap(started_at, samples[0].t, samples[0].t - started_at))
    spans = sorted((w.start, w.end) for w in excluded)
    span = 0
    observed = 0.0
    previous = samples[0].t
    for sample in samples[1:]:
        t = sample.t
        dt = t - previous
        if dt > gap_threshold:
            gaps.append(Gap(previous, t, dt))
        else:
            while span < len(spans) and spans[span][1] <= t:
                span += 1
            if not (span < len(spans) and spans[span][0] <= t):
                observed += dt
        previous = t
    if now is not None and now - previous > gap_threshold:
        gaps.append(Gap(previous, now, now - previous))
    return observed, gaps


# --- judgement -------------------------------------------------------------------------------


@dataclass
class _Stats:
    probes: int
    ok: int
    answered: int
    errors: int
    latencies: list[float]  # of ok probes, sorted

    @classmethod
    def of(cls, probes: Sequence[Sample]) -> _Stats:
        latencies = sorted([s.latency_ms for s in probes if s.ok and s.latency_ms is not None])
        ok = sum(1 for s in probes if s.ok)
        answered = sum(1 for s in probes if s.status is not None)
        errors = sum(1 for s in probes if s.status is not None and not s.ok)
        return cls(len(probes), ok, answered, errors, latencies)

    @property
    def failed(self) -> int:
        return self.probes - self.ok


def _rate_row(
    name: str,
    threshold: float,
    op: str,
    counts: tuple[int, int, str],
    budget_percent: float,
    slo: SloConfig,
    judged: bool,
) -> SloRow:
    """Availability or error rate: ``counts`` = (failures, trials, what failed). Off its SLO
    only when the exact binomial test says the failures exceed the budget beyond chance."""
    failures, trials, what = counts
    if not trials:
        return SloRow(name, threshold, None, None, op, "%")
    measured = 100.0 * (trials - failures if op == "≥" else failures) / trials
    if not judged:
        return SloRow(name, threshold, measured, None, op, "%")
    if (measured >= threshold) if op == "≥" else (measured <= threshold):
        return SloRow(name, threshold, measured, True, op, "%")
    p = binomial_tail(failures, trials, min(1.0, max(0.0, budget_percent / 100.0)))
    chance = p >= slo.regression_p_value
    note = (
        f"{failures} of {trials} {what}; exact binomial p {format_p(p)} at a"
        f" {_num(budget_percent)} % budget"
        + (f": chance (a breach needs p < {_num(slo.regression_p_value)})" if chance else "")
    )
    return SloRow(name, threshold, measured, chance, op, "%", note)


def _probe_rows(stats: _Stats, label: str, slo: SloConfig, judged: bool) -> list[SloRow]:
    p95 = percentile(stats.latencies, 95) if stats.latencies else None
    p99 = percentile(stats.latencies, 99) if stats.latencies else None

    def row(name: str, threshold: float, measured: float | None, op: str, unit: str) -> SloRow:
        if not judged or measured is None:
            ok = None
        else:
            ok = measured >= threshold if op == "≥" else measured <= threshold
        return SloRow(f"{name} ({label})", threshold, measured, ok, op, unit)

    note = "" if judged else f"{stats.probes} probes so far"
    rows = [
        _rate_row(
            f"availability ({label})",
            slo.availability_percent,
            "≥",
            (stats.failed, stats.probes, "probes failed"),
            100.0 - slo.availability_percent,
            slo,
            judged,
        ),
        _rate_row(
            f"error rate ({label})",
            slo.error_rate_percent,
            "≤",
            (stats.errors, stats.answered, "answers were errors"),
            slo.error_rate_percent,
            slo,
            judged,
        ),
        row("p95 latency", slo.p95_ms, p95, "≤", "ms"),
        row("p99 latency", slo.p99_ms, p99, "≤", "ms"),
    ]
    if note:
        rows = [SloRow(r.name, r.threshold, r.measured, r.ok, r.op, r.unit, note) for r in rows]
    if stats.probes and not stats.latencies:
        rows[2:] = [
            SloRow(r.name, r.threshold, None, None, r.op, r.unit, "no ok probe") for r in rows[2:]
        ]
    return rows


def _breached_windows(
    probes: Sequence[Sample], times: Sequence[float], origin: float, slo: SloConfig
) -> list[Window]:
    found: list[Window] = []
    if not probes:
        return found
    width = slo.window_seconds
    last = int((times[-1] - origin) // width)
    lo = bisect_left(times, origin)
    for k in range(max(0, int((times[0] - origin) // width)), last + 1):
        start, end = origin + k * width, origin + (k + 1) * width
        hi = bisect_left(times, end, lo)
        chunk = probes[lo:hi]
        lo = hi
        if not chunk:
            continue
        stats = _Stats.of(chunk)
        if stats.probes >= slo.window_min_samples:
            rows = _probe_rows(stats, "window", slo, judged=True)
            reasons = tuple(r.describe() for r in rows if r.ok is False)
        elif stats.failed:
            reasons = (f"{stats.failed} of {stats.probes} probes failed in a short window",)
        else:
            reasons = ()
        if reasons:
            found.append(Window(start, end, stats.probes, reasons))
    return found


def _restarts(engines: Sequence[EngineSample]) -> tuple[int, int]:
    restarts = 0
    ooms = 1 if engines and engines[0].oom_killed else 0
    for i in range(1, len(engines)):
        before, after = engines[i - 1], engines[i]
        if after.restarts >= before.restarts:
            restarts += after.restarts - before.restarts
        else:
            restarts += 1 + after.restarts  # the container was replaced
        if after.oom_killed and not before.oom_killed:
            ooms += 1
    return restarts, ooms


def is_drift(sample: Sample) -> bool:
    """Was ``sample`` answered by another release than the soaking one?"""
    return sample.error is not None and sample.error.startswith(DRIFT)


def _routing_row(probes: Sequence[Sample]) -> SloRow:
    drifted = [s for s in probes if is_drift(s)]
    note = ""
    if drifted:
        first = drifted[0].error or ""
        note = f"first: {first[len(DRIFT) :]}"
    return SloRow("answered by another release (soak)", 0, len(drifted), not drifted, note=note)


def _engine_rows(engines: Sequence[EngineSample], slo: SloConfig, now: float) -> list[SloRow]:
    trend = slo.trend_window_seconds
    label = f"memory growth (last {format_duration(trend)} vs first)"
    if not engines:
        return [
            SloRow("restarts (soak)", slo.max_restarts, None, None, note="no engine samples"),
            SloRow("OOM kills (soak)", slo.max_oom_kills, None, None, note="no engine samples"),
            SloRow(label, slo.memory_growth_percent, None, None, unit="%"),
        ]
    restarts, ooms = _restarts(engines)
    first_end = engines[0].t + trend
    last_start = now - trend
    growth_row = SloRow(label, slo.memory_growth_percent, None, None, unit="%")
    if first_end <= last_start:
        first = [e.memory_bytes for e in engines if e.t < first_end]
        last = [e.memory_bytes for e in engines if e.t > last_start]
        if first and last:
            first_median = percentile(sorted(first), 50)
            last_median = percentile(sorted(last), 50)
            if first_median > 0:
                growth = 100.0 * (last_median / first_median - 1.0)
                growth_row = SloRow(
                    label,
                    slo.memory_growth_percent,
                    growth,
                    growth <= slo.memory_growth_percent,
                    unit="%",
                    note=f"median {_mib(first_median)} → {_mib(last_median)}",
                )
    return [
        SloRow("restarts (soak)", slo.max_restarts, restarts, restarts <= slo.max_restarts),
        SloRow("OOM kills (soak)", slo.max_oom_kills, ooms, ooms <= slo.max_oom_kills),
        growth_row,
    ]


def _regression_row(
    label: str,
    candidate: Sequence[float] | None,
    baseline: Sequence[float],
    baseline_sorted: Sequence[float],
    slo: SloConfig,
) -> tuple[SloRow, Regression | None]:
    name = f"latency vs baseline ({label})"
    if not baseline:
        return SloRow(name, slo.regression_percent, None, None, unit="%", note="no baseline"), None
    if candidate is None or len(candidate) < slo.min_samples or len(baseline) < slo.min_samples:
        have = 0 if candidate is None else len(candidate)
        note = f"{have} vs {len(baseline)} latencies, need {slo.min_samples} each"
        return SloRow(name, slo.regression_percent, None, None, unit="%", note=note), None
    found = compare_latency(
        sorted(candidate), baseline_sorted, candidate, baseline, slo.max_test_samples
    )
    effect = 100.0 * found.effect
    regressed = found.p_value < slo.regression_p_value and effect > slo.regression_percent
    note = (
        f"median {found.candidate_median_ms:.1f} ms vs {found.baseline_median_ms:.1f} ms"
        f" ({effect:+.1f} %), Mann-Whitney U one-sided p {format_p(found.p_value)},"
        f" Cliff's δ {found.cliffs_delta:+.2f}"
        f" (breach needs p < {_num(slo.regression_p_value)} and effect > "
        f"{_num(slo.regression_percent)} %)"
    )
    return SloRow(name, slo.regression_percent, effect, not regressed, unit="%", note=note), found


def _spread_row(
    label: str,
    candidate: Sequence[float] | None,
    baseline: Sequence[float],
    baseline_sorted: Sequence[float],
    slo: SloConfig,
) -> SloRow:
    name = f"latency spread vs baseline ({label})"
    threshold = slo.latency_spread_ratio
    if not baseline:
        return SloRow(name, threshold, None, None, note="no baseline")
    if candidate is None or len(candidate) < slo.min_samples or len(baseline) < slo.min_samples:
        have = 0 if candidate is None else len(candidate)
        note = f"{have} vs {len(baseline)} latencies, need {slo.min_samples} each"
        return SloRow(name, threshold, None, None, note=note)
    found = compare_spread(
        sorted(candidate), baseline_sorted, candidate, baseline, slo.max_test_samples
    )
    spread = found.p_value < slo.regression_p_value and found.ratio > threshold
    note = (
        f"mean |latency - median| {found.candidate_spread_ms:.1f} ms vs"
        f" {found.baseline_spread_ms:.1f} ms, variance ratio {found.variance_ratio:.2f},"
        f" Brown-Forsythe one-sided p {format_p(found.p_value)}"
        f" (breach needs p < {_num(slo.regression_p_value)} and ratio > {_num(threshold)})"
    )
    return SloRow(name, threshold, found.ratio, not spread, note=note)


def _ordered_until(items: Sequence[Any], now: float) -> list[Any]:
    ordered = all(items[i - 1].t <= items[i].t for i in range(1, len(items)))
    items = items if ordered else sorted(items, key=lambda item: item.t)
    times = [item.t for item in items]
    return list(items[: bisect_right(times, now)])


def judge_soak(
    samples: Sequence[Sample],
    engine_samples: Sequence[EngineSample],
    baseline_latencies_ms: Sequence[float],
    slo: SloConfig,
    now: float,
    *,
    started_at: float | None = None,
) -> Verdict:
    """Judge the soak at ``now`` (the clock is the caller's); rules in the module docstring."""
    probes: list[Sample] = _ordered_until(samples, now)
    engines: list[EngineSample] = _ordered_until(engine_samples, now)
    times = [s.t for s in probes]
    origin = started_at if started_at is not None else (times[0] if times else now)

    windows = _breached_windows(probes, times, origin, slo)
    observed, gaps = observed_time(probes, slo.gap_threshold, now=now, started_at=started_at)
    counted, _ = observed_time(probes, slo.gap_threshold, excluded=windows)
    window_label = f"last {format_duration(slo.window_seconds)}"

    totals = _Stats.of(probes)
    recent = _Stats.of(probes[bisect_right(times, now - slo.window_seconds) :])
    rows = _probe_rows(totals, "soak", slo, judged=totals.probes >= slo.min_samples)
    rows += _probe_rows(recent, window_label, slo, recent.probes >= slo.window_min_samples)
    rows += _engine_rows(engines, slo, now)
    trend_row, memory = _memory_trend_row(engines, slo)
    rows.append(trend_row)
    routing = _routing_row(probes)
    rows.append(routing)

    baseline = list(baseline_latencies_ms)
    baseline_sorted = sorted(baseline)
    in_time_order = [s.latency_ms for s in probes if s.ok and s.latency_ms is not None]
    row, regression = _regression_row("soak", in_time_order, baseline, baseline_sorted, slo)
    rows.append(row)
    trend = slo.trend_window_seconds
    trend_label = f"last {format_duration(trend)}"
    last_trend: list[float] | None = None
    if probes and origin <= now - trend:
        cut = bisect_right(times, now - trend)
        last_trend = [s.latency_ms for s in probes[cut:] if s.ok and s.latency_ms is not None]
    row, recent_regression = _regression_row(
        trend_label, last_trend, baseline, baseline_sorted, slo
    )
    rows.append(row)
    if recent_regression is not None and row.ok is False:
        regression = recent_regression
    rows.append(_spread_row("soak", in_time_order, baseline, baseline_sorted, slo))
    rows.append(_spread_row(trend_label, last_trend, baseline, baseline_sorted, slo))

    gap_seconds = sum(g.seconds for g in gaps)
    breached_seconds = observed - counted
    failed = [r for r in rows if r.ok is False]
    failed.sort(key=lambda r: r is not routing)  # another release answered: that first
    reasons: list[str]
    if failed:
        state: State = BREACHED
        reasons = [r.describe() for r in failed]
    else:
        reasons = []
        if counted < slo.required_seconds:
            reasons.append(
                f"observed healthy {format_duration(counted)} of"
                f" {format_duration(slo.required_seconds)} required"
                f" (not counted: {format_duration(gap_seconds)} in {plural(len(gaps), 'gap')},"
                f" {format_duration(breached_seconds)} in"
                f" {plural(len(windows), 'window')} in breach)"
            )
        if totals.probes < slo.min_samples:
            reasons.append(f"{totals.probes} probes so far; the soak totals need {slo.min_samples}")
        if not engines:
            reasons.append("no engine samples: restarts, OOM kills and memory not observed")
        state = NOT_ENOUGH_DATA if reasons else HEALTHY
        if state == HEALTHY:
            reasons = [
                f"observed healthy {format_duration(counted)} of"
                f" {format_duration(slo.required_seconds)}; every judged SLO met"
            ]
    return Verdict(
        state=state,
        observed_seconds=counted,
        required_seconds=slo.required_seconds,
        gaps=gaps,
        slo_rows=rows,
        reasons=reasons,
        breached_windows=windows,
        gap_seconds=gap_seconds,
        breached_seconds=breached_seconds,
        probes=totals.probes,
        started_at=started_at if started_at is not None else (times[0] if times else None),
        judged_at=now,
        regression=regression,
        memory_trend=memory,
    )


# --- formatting ------------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """``"6d 18h"``, ``"5h 2m"``, ``"3m 10s"``, ``"42s"``: the two largest units."""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def plural(count: int, noun: str) -> str:
    """``"1 gap"``, ``"3 gaps"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_p(p: float) -> str:
    """``"= 0.0031"``, ``"= 2.1e-09"``; ``"< 1e-300"`` where the normal tail underflows."""
    return "< 1e-300" if p < 1e-300 else f"= {p:.2g}"


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"


def _mib(value: float) -> str:
    return f"{value / 1024**2:.0f} MiB"
