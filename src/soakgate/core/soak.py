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
  holds ≥ ``min_samples`` probes;
- *last window* (``now - window_seconds``, ``now``]: the same four, judged with
  ≥ ``window_min_samples`` probes — this catches a release that starts failing within minutes;
- restarts over the soak ≤ ``max_restarts`` (the engine's restart count only grows; a drop
  means the container was replaced: one restart plus its new count); OOM kills (samples whose
  ``oom_killed`` turns true) ≤ ``max_oom_kills``;
- memory growth: median memory over the last ``trend_window_seconds`` (1 day) divided by the
  median over the first, minus one, ≤ ``memory_growth_percent``; judged once the two do not
  overlap;
- latency vs the baseline release, over the soak and over the last trend window: a breach when
  the Mann-Whitney U test (one-sided: candidate slower) gives p < ``regression_p_value`` AND
  the effect size median(candidate) / median(baseline) - 1 > ``regression_percent`` — both
  are needed, as Kayenta does (a large sample makes a tiny shift significant; a small one
  makes a large shift noise). Judged when both sides hold ≥ ``min_samples`` latencies;
- routing: probes answered by another release than the one soaking (their error starts with
  ``"drift: "``, see :data:`DRIFT`) = 0, judged from the first probe — a soak whose traffic
  went to the other slot is no evidence for its release, so one such probe breaches it.

The state is *breached* when any judged row fails (breach beats "not enough data"); else
*healthy* when ``observed_seconds`` ≥ ``required_seconds``, the soak totals are judged and
engine samples exist; else *not enough data*. A past window in breach whose soak totals still
hold costs its time, not the verdict; whether a breach ends the soak is the caller's policy.

Mann-Whitney U lives here, in pure Python: the normal approximation with tie and continuity
corrections — what ``scipy.stats.mannwhitneyu(method="asymptotic")`` computes (the unit tests
cross-check it). Sides longer than ``max_test_samples`` are thinned by an even stride for the
test; the medians use every value.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from soakgate.core.stats import mann_whitney_u, percentile, thin
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
        if self.unit == "%":
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
    regression_percent: float = 5.0
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
regression_percent = 5         # median latency vs the baseline release, at most ...
regression_p_value = 0.01      # ... unless Mann-Whitney U (one-sided) p is not below this
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
}
_COUNTS = {"max_restarts", "max_oom_kills", "window_min_samples", "min_samples", "max_test_samples"}
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
        elif key == "gap_factor":
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
    return slo


# --- the baseline comparison ---------------------------------------------------------------


def compare_latency(
    candidate_sorted: Sequence[float],
    baseline_sorted: Sequence[float],
    candidate_in_time_order: Sequence[float],
    baseline_in_time_order: Sequence[float],
    max_test_samples: int,
) -> Regression:
    """Mann-Whitney U on thinned sides plus the effect size on the full medians."""
    u, p = mann_whitney_u(
        thin(candidate_in_time_order, max_test_samples),
        thin(baseline_in_time_order, max_test_samples),
    )
    cand = percentile(candidate_sorted, 50)
    base = percentile(baseline_sorted, 50)
    effect = cand / base - 1.0 if base > 0 else (math.inf if cand > 0 else 0.0)
    return Regression(u, p, cand, base, effect, len(candidate_sorted), len(baseline_sorted))


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


def _probe_rows(stats: _Stats, label: str, slo: SloConfig, judged: bool) -> list[SloRow]:
    availability = 100.0 * stats.ok / stats.probes if stats.probes else None
    error_rate = 100.0 * stats.errors / stats.answered if stats.answered else None
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
        row("availability", slo.availability_percent, availability, "≥", "%"),
        row("error rate", slo.error_rate_percent, error_rate, "≤", "%"),
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
        f" ({effect:+.1f} %), Mann-Whitney U one-sided p {format_p(found.p_value)}"
        f" (breach needs p < {_num(slo.regression_p_value)} and effect > "
        f"{_num(slo.regression_percent)} %)"
    )
    return SloRow(name, slo.regression_percent, effect, not regressed, unit="%", note=note), found


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
