"""Soak judgement over simulated weeks (one probe every 10 s) with an injected clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cache

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from soakgate.core.config import ConfigInvalid
from soakgate.core.soak import (
    BREACHED,
    HEALTHY,
    NOT_ENOUGH_DATA,
    SLO_EXAMPLE,
    EngineSample,
    Gap,
    Sample,
    SloConfig,
    SloRow,
    Verdict,
    Window,
    format_duration,
    format_p,
    judge_soak,
    observed_time,
    parse_slo,
)
from soakgate.core.stats import mann_whitney_u, percentile

T0 = 1_700_000_000.0
HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY
STEP = 10.0
SLO = SloConfig(probe_interval_seconds=STEP)  # gaps: no probe for more than 30 s


def probes(
    days: float = 7.0,
    *,
    slower: float = 1.0,
    failing: Callable[[float], bool] = lambda t: False,
    missing: Callable[[float], bool] = lambda t: False,
    spike: Callable[[float], bool] = lambda t: False,
    seed: int = 1,
) -> list[Sample]:
    """One probe every 10 s from T0 to T0 + days (inclusive); latency ~ N(120 ms, 12 ms)."""
    rng = random.Random(seed)
    samples = []
    for i in range(int(days * DAY / STEP) + 1):
        t = T0 + i * STEP
        if missing(t):
            continue
        if failing(t):
            samples.append(Sample(t, False, None, None, "ConnectError"))
        else:
            latency = 700.0 if spike(t) else rng.gauss(120.0, 12.0) * slower
            samples.append(Sample(t, True, 200, latency))
    return samples


def engine(
    days: float = 7.0,
    *,
    restarts: Callable[[float], int] = lambda t: 0,
    memory: Callable[[float], int] = lambda t: 200 * 1024**2,
    oom: Callable[[float], bool] = lambda t: False,
) -> list[EngineSample]:
    """One engine sample a minute."""
    times = (T0 + i * 60.0 for i in range(int(days * DAY / 60) + 1))
    return [EngineSample(t, restarts(t), oom(t), memory(t), 2.5) for t in times]


@cache
def healthy_week() -> list[Sample]:
    return probes()


@cache
def steady_engine() -> list[EngineSample]:
    return engine()


@cache
def baseline() -> list[float]:
    rng = random.Random(99)
    return [rng.gauss(120.0, 12.0) for _ in range(20_000)]


def judge(
    samples: list[Sample],
    now: float = T0 + WEEK,
    *,
    engines: list[EngineSample] | None = None,
    base: list[float] | None = None,
) -> Verdict:
    return judge_soak(
        samples,
        steady_engine() if engines is None else engines,
        baseline() if base is None else base,
        SLO,
        now,
    )


def failing_rows(verdict: Verdict) -> list[str]:
    return [row.name for row in verdict.slo_rows if row.ok is False]


# --- verdicts --------------------------------------------------------------------------------


def test_a_steady_week_is_healthy_once_seven_days_are_observed() -> None:
    early = judge(healthy_week(), now=T0 + 6 * DAY)
    assert early.state == NOT_ENOUGH_DATA
    assert early.reasons[0].startswith("observed healthy 6d of 7d required")
    verdict = judge(healthy_week())
    assert verdict.state == HEALTHY
    assert verdict.observed_seconds == pytest.approx(WEEK)
    assert verdict.gaps == [] and verdict.breached_windows == []
    assert failing_rows(verdict) == []
    assert all(row.ok is not None for row in verdict.slo_rows)


def test_a_two_hour_outage_is_a_breach() -> None:
    outage_start = T0 + 3 * DAY + 30 * 60
    samples = probes(failing=lambda t: outage_start <= t < outage_start + 2 * HOUR)
    verdict = judge(samples)
    assert verdict.state == BREACHED
    assert "availability (soak)" in failing_rows(verdict)
    assert verdict.reasons[0].startswith("availability (soak): 98.8")
    covered = verdict.breached_windows
    assert [(w.start - T0) / HOUR for w in covered] == [72, 73, 74]
    assert verdict.breached_seconds == pytest.approx(3 * HOUR, abs=STEP)


def test_a_release_that_starts_failing_is_caught_within_minutes() -> None:
    now = T0 + 3 * DAY
    samples = probes(days=3, failing=lambda t: t > now - 120)  # the last 2 minutes
    verdict = judge(samples, now=now)
    assert verdict.state == BREACHED
    assert failing_rows(verdict) == ["availability (last 1h)"]  # the totals still hold


def test_a_past_blip_within_the_totals_costs_its_hour_not_the_verdict() -> None:
    blip = T0 + 2 * DAY + 10 * 60
    samples = probes(days=7.2, failing=lambda t: blip <= t < blip + 120)
    assert judge(samples).state == NOT_ENOUGH_DATA
    verdict = judge(samples, now=T0 + WEEK + HOUR)
    assert verdict.state == HEALTHY
    assert [w.start for w in verdict.breached_windows] == [T0 + 2 * DAY]
    assert verdict.observed_seconds == pytest.approx(WEEK)


def test_a_gap_is_shown_not_counted_and_must_be_made_up() -> None:
    down = T0 + 3 * DAY + 20 * 60
    samples = probes(days=7.5, missing=lambda t: down <= t < down + 6 * HOUR)
    at_a_week = judge(samples)
    assert at_a_week.state == NOT_ENOUGH_DATA
    (gap,) = at_a_week.gaps
    assert (gap.start, gap.end) == (down - STEP, down + 6 * HOUR)
    assert gap.seconds == 6 * HOUR + STEP
    assert "6h in 1 gap, 0s in 0 windows in breach" in at_a_week.reasons[0]
    made_up = T0 + WEEK + 6 * HOUR + STEP
    assert judge(samples, now=made_up - STEP).state == NOT_ENOUGH_DATA
    verdict = judge(samples, now=made_up)
    assert verdict.state == HEALTHY
    assert verdict.observed_seconds == pytest.approx(WEEK)


def test_a_monitor_down_right_now_shows_a_trailing_gap() -> None:
    verdict = judge(healthy_week(), now=T0 + WEEK + HOUR)
    assert verdict.gaps == [Gap(T0 + WEEK, T0 + WEEK + HOUR, HOUR)]


def test_short_latency_spikes_raise_p99_within_the_slo() -> None:
    samples = probes(spike=lambda t: (t - T0) % DAY < 60)  # one minute a day at 700 ms
    verdict = judge(samples)
    assert verdict.state == HEALTHY
    p99 = {row.name: row.measured for row in verdict.slo_rows}
    calm = {row.name: row.measured for row in judge(healthy_week()).slo_rows}
    assert p99["p99 latency (soak)"] > calm["p99 latency (soak)"]
    assert p99["p99 latency (soak)"] <= SLO.p99_ms


def test_a_sustained_regression_against_the_baseline_is_a_breach() -> None:
    verdict = judge(probes(slower=1.2))
    assert verdict.state == BREACHED
    assert failing_rows(verdict) == ["latency vs baseline (soak)", "latency vs baseline (last 1d)"]
    found = verdict.regression
    assert found is not None
    assert found.p_value < 0.01 and found.effect == pytest.approx(0.2, abs=0.01)
    assert found.cliffs_delta == pytest.approx(0.79, abs=0.03)  # large, and significant
    reason = verdict.reasons[0]
    assert f"Mann-Whitney U one-sided p {format_p(found.p_value)}" in reason
    assert f"Cliff's δ +{found.cliffs_delta:.2f}" in reason
    assert "(+20." in reason and "latency vs baseline (soak): 20." in reason


def test_a_significant_but_small_shift_is_not_a_breach() -> None:
    verdict = judge(probes(slower=1.02))
    assert verdict.regression.p_value < 0.01
    assert verdict.state == HEALTHY


def test_without_a_baseline_the_regression_is_not_judged() -> None:
    verdict = judge(probes(slower=1.2), base=[])
    assert verdict.state == HEALTHY
    row = next(r for r in verdict.slo_rows if r.name == "latency vs baseline (soak)")
    assert (row.ok, row.note) == (None, "no baseline")


def test_a_restart_is_a_breach_and_a_replaced_container_counts() -> None:
    restarted = engine(restarts=lambda t: 1 if t > T0 + 2 * DAY else 0)
    verdict = judge(healthy_week(), engines=restarted)
    assert failing_rows(verdict) == ["restarts (soak)"]
    replaced = engine(restarts=lambda t: 3 if t < T0 + DAY else 0)  # counter went back to 0
    rows = {r.name: r for r in judge(healthy_week(), engines=replaced).slo_rows}
    assert rows["restarts (soak)"].measured == 1


def test_an_oom_kill_is_a_breach() -> None:
    killed = engine(oom=lambda t: T0 + DAY <= t < T0 + DAY + 120)
    assert failing_rows(judge(healthy_week(), engines=killed)) == ["OOM kills (soak)"]


def test_memory_growth_past_the_limit_is_a_breach() -> None:
    def leaking(growth: float) -> list[EngineSample]:
        return engine(memory=lambda t: int(200 * 1024**2 * (1 + growth * (t - T0) / WEEK)))

    assert judge(healthy_week(), engines=leaking(0.15)).state == HEALTHY
    verdict = judge(healthy_week(), engines=leaking(0.40))
    assert failing_rows(verdict) == ["memory growth (last 1d vs first)"]
    assert "median 206 MiB → 274 MiB" in verdict.reasons[0]


MIB = 1024**2


def service_memory(leak_percent_per_hour: float = 0.0, *, seed: int = 4) -> Callable[[float], int]:
    """A Python service's memory: 200 MiB after a 30 min warm-up of +20 MiB, a GC sawtooth of
    5 MiB every 5 min, noise of 2 MiB — plus a steady leak of % of 200 MiB per hour."""
    rng = random.Random(seed)

    def memory(t: float) -> int:
        age = t - T0
        warm = 20 * MIB * min(1.0, age / 1800) - 20 * MIB
        sawtooth = 5 * MIB * ((age % 300) / 300)
        leak = 200 * MIB * leak_percent_per_hour / 100 * age / HOUR
        return int(200 * MIB + warm + sawtooth + leak + rng.gauss(0, 2 * MIB))

    return memory


def memory_row(verdict: Verdict) -> SloRow:
    return next(r for r in verdict.slo_rows if r.name.startswith("memory slope"))


def test_a_steady_leak_of_a_few_percent_an_hour_breaches_once_six_hours_are_seen() -> None:
    leaking = engine(days=1, memory=service_memory(3.0))
    early = judge(probes(days=1), now=T0 + 5 * HOUR, engines=leaking)
    row = memory_row(early)
    assert (row.ok, row.note) == (None, "memory samples span 5h, need 6h")
    assert early.state == NOT_ENOUGH_DATA
    verdict = judge(probes(days=1), now=T0 + 6 * HOUR, engines=leaking)
    assert verdict.state == BREACHED
    assert failing_rows(verdict) == ["memory slope (soak; low end of 90 % interval)"]
    trend = verdict.memory_trend
    assert trend is not None
    low, slope, high = (
        trend.percent(trend.low_bytes_per_hour),
        trend.percent(trend.slope_bytes_per_hour),
        trend.percent(trend.high_bytes_per_hour),
    )
    assert 1.0 < low < 3.0 < high and slope == pytest.approx(3.0, abs=0.5)
    assert trend.start_bytes == pytest.approx(200 * MIB, rel=0.05)
    reason = verdict.reasons[0]
    assert reason.startswith("memory slope (soak; low end of 90 % interval): ")
    assert "(SLO ≤ 1 %/h); Theil-Sen +" in reason and "MiB/h from " in reason
    assert verdict.as_dict()["memory_trend"]["bins"] == 60
    # the day-over-day row could not have said anything yet
    growth = next(r for r in verdict.slo_rows if r.name.startswith("memory growth"))
    assert growth.ok is None


def test_a_flat_service_with_a_warm_up_gc_sawtooth_and_noise_never_breaches_the_slope() -> None:
    flat = engine(memory=service_memory(0.0))
    for hours in (6, 7, 9, 12, 24, 72, 168):
        row = memory_row(judge(probes(days=7), now=T0 + hours * HOUR, engines=flat))
        assert row.ok is True, (hours, row.note)
    assert judge(healthy_week(), engines=flat).state == HEALTHY


def test_the_slope_breaches_only_when_its_whole_interval_is_above_the_limit() -> None:
    """A leak a little above the limit: at first its interval reaches below the limit (noise);
    only more hours narrow it enough to call it."""
    memory = service_memory(1.4)
    noisy = [
        EngineSample(
            e.t, 0, False, e.memory_bytes + int(random.Random(e.t).gauss(0, 20 * MIB)), 2.5
        )
        for e in engine(days=3, memory=memory)
    ]
    early = memory_row(judge(probes(days=3), now=T0 + 6 * HOUR, engines=noisy))
    assert early.ok is True and early.measured is not None and early.measured < 1.0
    assert "a breach needs the whole interval above 1 %/h" in early.note
    late = memory_row(judge(probes(days=3), now=T0 + 12 * HOUR, engines=noisy))
    assert late.ok is False and late.measured is not None and late.measured > 1.0


def test_the_slope_leaves_out_samples_of_a_stopped_container() -> None:
    stopped = [
        EngineSample(
            e.t,
            0,
            False,
            0 if e.t > T0 + 3 * HOUR else e.memory_bytes,
            0.0,
            running=e.t <= T0 + 3 * HOUR,
        )
        for e in engine(days=1, memory=service_memory(0.0))
    ]
    row = memory_row(judge(probes(days=1), now=T0 + 8 * HOUR, engines=stopped))
    assert (row.ok, row.note) == (None, "memory samples span 3h, need 6h")


def test_the_memory_trend_minimums_are_settings() -> None:
    leaking = engine(days=1, memory=service_memory(3.0))[:200]  # 3h 19m
    slo = SloConfig(
        probe_interval_seconds=STEP,
        memory_trend_min_span_seconds=HOUR,
        memory_trend_min_samples=250,
    )
    verdict = judge_soak([], leaking, [], slo, now=T0 + 4 * HOUR)
    assert memory_row(verdict).note == "200 memory samples, need 250"
    slo = SloConfig(probe_interval_seconds=STEP, memory_trend_min_span_seconds=HOUR)
    assert memory_row(judge_soak([], leaking, [], slo, now=T0 + 4 * HOUR)).ok is False


def test_sparse_errors_at_the_budget_are_chance_not_a_breach() -> None:
    """One probe in 360 (the last hour) answered 500: 0.28 % against a 0.1 % budget, but at the
    budget one or more errors happen in 30 % of such hours. Three in the hour do not (p 0.0059)."""
    now = T0 + 2 * DAY

    def with_errors(count: int) -> list[Sample]:
        samples = probes(days=2)
        for i in range(count):
            index = len(samples) - 10 - 20 * i
            samples[index] = Sample(samples[index].t, False, 500, 5.0, "HTTP 500")
        return samples

    one = judge(with_errors(1), now=now)
    rows = {r.name: r for r in one.slo_rows}
    row = rows["error rate (last 1h)"]
    assert row.measured == pytest.approx(100 / 360, rel=0.01) and row.ok is True
    assert row.note.startswith("1 of 360 answers were errors; exact binomial p = 0.3")
    assert row.note.endswith(": chance (a breach needs p < 0.01)")
    assert rows["availability (last 1h)"].ok is True
    assert one.breached_windows == [] and one.state == NOT_ENOUGH_DATA
    three = judge(with_errors(3), now=now)
    assert failing_rows(three) == ["availability (last 1h)", "error rate (last 1h)"]
    assert "3 of 360 answers were errors; exact binomial p = 0.0059" in three.reasons[1]
    assert [w.start for w in three.breached_windows] == [T0 + 47 * HOUR]


def test_a_zero_budget_takes_no_chances() -> None:
    slo = SloConfig(probe_interval_seconds=STEP, availability_percent=100.0)
    samples = probes(days=1, failing=lambda t: t == T0 + 12 * HOUR)
    verdict = judge_soak(samples, steady_engine(), [], slo, T0 + DAY)
    assert "availability (soak)" in failing_rows(verdict)


def test_more_jitter_at_the_same_median_is_a_spread_breach() -> None:
    jittery = [  # the candidate: N(120, 30) ms against the baseline's N(120, 12) ms
        Sample(s.t, True, 200, 120.0 + (s.latency_ms - 120.0) * 2.5)
        for s in probes(days=7, seed=8)
        if s.latency_ms is not None
    ]
    verdict = judge(jittery)
    assert failing_rows(verdict) == [
        "latency spread vs baseline (soak)",
        "latency spread vs baseline (last 1d)",
    ]
    row = next(r for r in verdict.slo_rows if r.name == "latency spread vs baseline (soak)")
    assert row.measured == pytest.approx(2.5, rel=0.03)
    assert "variance ratio 6.2" in row.note and "Brown-Forsythe one-sided p < 1e-300" in row.note
    # the median did not move: Mann-Whitney sees nothing
    assert verdict.regression is not None and verdict.regression.p_value > 0.01


def test_a_significant_but_small_widening_is_not_a_breach() -> None:
    wider = [
        Sample(s.t, True, 200, 120.0 + (s.latency_ms - 120.0) * 1.2)
        for s in healthy_week()
        if s.latency_ms is not None
    ]
    verdict = judge(wider)
    row = next(r for r in verdict.slo_rows if r.name == "latency spread vs baseline (soak)")
    assert row.ok is True and row.measured == pytest.approx(1.2, rel=0.03)
    assert "Brown-Forsythe one-sided p = 2e-124" in row.note  # significant, but small
    assert verdict.state == HEALTHY


def test_breach_beats_not_enough_data() -> None:
    restarted = engine(days=1, restarts=lambda t: 1 if t > T0 + HOUR else 0)
    verdict = judge(probes(days=1), now=T0 + DAY, engines=restarted)
    assert verdict.state == BREACHED


def test_no_engine_samples_is_not_enough_data() -> None:
    verdict = judge(healthy_week(), engines=[])
    assert verdict.state == NOT_ENOUGH_DATA
    assert verdict.reasons == ["no engine samples: restarts, OOM kills and memory not observed"]


def test_no_probes_at_all() -> None:
    verdict = judge_soak([], [], [], SLO, now=T0, started_at=T0 - 120)
    assert verdict.state == NOT_ENOUGH_DATA
    assert verdict.gaps == [Gap(T0 - 120, T0, 120)]


def test_samples_after_now_are_ignored_and_order_does_not_matter() -> None:
    samples = probes(days=2)
    shuffled = samples[::-1]
    a = judge_soak(samples, [], [], SLO, now=T0 + DAY)
    b = judge_soak(shuffled, [], [], SLO, now=T0 + DAY)
    assert a == b and a.probes == int(DAY / STEP) + 1


def test_the_verdict_is_json_ready() -> None:
    import json

    data = judge(healthy_week()).as_dict()
    assert json.loads(json.dumps(data))["state"] == "healthy"


# --- the soak clock --------------------------------------------------------------------------


def test_observed_time_counts_segments_and_names_gaps() -> None:
    times = [100, 101, 102, 110, 111, 112]
    samples = [Sample(float(t), True, 200, 1.0) for t in times]
    observed, gaps = observed_time(samples, 3.0, now=120.0, started_at=95.0)
    assert observed == 4.0  # 100-102 and 110-112
    assert gaps == [Gap(95.0, 100.0, 5.0), Gap(102.0, 110.0, 8.0), Gap(112.0, 120.0, 8.0)]
    # a segment belongs to the window of its later sample
    window = Window(110.5, 112.0, 2, ("x",))
    assert observed_time(samples, 3.0, excluded=[window]) == (3.0, [Gap(102.0, 110.0, 8.0)])


# --- statistics ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n1", "n2", "shift", "decimals"),
    [
        (40, 60, 0.0, 1),
        (300, 250, 0.25, 1),
        (1000, 800, -0.1, 0),
        (8, 5, 1.0, 2),
        (2000, 3000, 0.05, 3),
    ],
)
def test_mann_whitney_matches_scipy(n1: int, n2: int, shift: float, decimals: int) -> None:
    rng = random.Random(n1 * 7 + n2)
    candidate = [round(rng.gauss(shift, 1.0), decimals) for _ in range(n1)]  # rounding: ties
    base = [round(rng.gauss(0.0, 1.0), decimals) for _ in range(n2)]
    u, p = mann_whitney_u(candidate, base)
    ref = mannwhitneyu(candidate, base, alternative="greater", method="asymptotic")
    assert u == ref.statistic
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


def test_mann_whitney_of_identical_values_gives_no_evidence() -> None:
    assert mann_whitney_u([5.0] * 10, [5.0] * 10) == (50.0, 1.0)


def test_percentile_matches_numpy() -> None:
    rng = random.Random(3)
    values = sorted(rng.random() for _ in range(1001))
    for q in (0, 1, 50, 95, 99, 99.9, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_format_p() -> None:
    assert [format_p(p) for p in (0.0031, 2.1e-9, 0.0)] == ["= 0.0031", "= 2.1e-09", "< 1e-300"]


def test_format_duration() -> None:
    assert [format_duration(s) for s in (42, 190, 3600, 7260, WEEK, 6 * DAY + 18 * HOUR)] == [
        "42s",
        "3m 10s",
        "1h",
        "2h 1m",
        "7d",
        "6d 18h",
    ]


# --- configuration ---------------------------------------------------------------------------


def test_the_example_is_the_defaults() -> None:
    import tomllib

    assert parse_slo(tomllib.loads(SLO_EXAMPLE)["slo"]) == SloConfig() == parse_slo({})
    assert SloConfig().gap_threshold == 3.0


def test_values_are_read() -> None:
    slo = parse_slo({"p95_ms": 250, "duration": "3d", "probe_interval": "5s", "max_restarts": 2})
    assert (slo.p95_ms, slo.required_seconds, slo.gap_threshold, slo.max_restarts) == (
        250.0,
        3 * DAY,
        15.0,
        2,
    )
    slo = parse_slo(
        {
            "memory_slope_percent_per_hour": 300,
            "memory_trend_min_span": "30s",
            "memory_trend_min_samples": 10,
            "latency_spread_ratio": 2,
        }
    )
    assert (
        slo.memory_slope_percent_per_hour,
        slo.memory_trend_min_span_seconds,
        slo.memory_trend_min_samples,
        slo.latency_spread_ratio,
    ) == (300.0, 30.0, 10, 2.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"p95_ms": "fast"}, "slo.p95_ms: expected a positive number, got 'fast'"),
        ({"p99_ms": 0}, "slo.p99_ms: expected a positive number, got 0"),
        ({"p95_ms": True}, "slo.p95_ms: expected a positive number, got True"),
        ({"availability_percent": 100.5}, "slo.availability_percent: expected a percentage 0-100"),
        ({"regression_p_value": 0}, "slo.regression_p_value: expected a probability between 0"),
        ({"max_restarts": -1}, "slo.max_restarts: expected a whole number ≥ 0, got -1"),
        ({"max_restarts": 1.5}, "slo.max_restarts: expected a whole number ≥ 0, got 1.5"),
        ({"duration": "a week"}, 'slo.duration: expected a duration like "4h" or "30m"'),
        ({"duration": "0d"}, "slo.duration: expected a positive duration, got '0d'"),
        ({"gap_factor": 0.5}, "slo.gap_factor: expected a number ≥ 1, got 0.5"),
        ({"latency_spread_ratio": 0.9}, "slo.latency_spread_ratio: expected a number ≥ 1, got 0.9"),
        ({"memory_slope_percent_per_hour": 0}, "slo.memory_slope_percent_per_hour: expected a pos"),
        ({"memory_trend_min_span": "0h"}, "slo.memory_trend_min_span: expected a positive durat"),
        ({"memory_trend_min_samples": 2}, "slo.memory_trend_min_samples: expected ≥ 3, got 2"),
        ({"p95_ms": 900}, "slo.p99_ms: expected ≥ p95_ms (900), got 800"),
        ({"p95": 300}, "slo.p95: unknown key (known: availability_percent, "),
    ],
)
def test_errors_name_the_path(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigInvalid) as raised:
        parse_slo(data)
    assert str(raised.value).startswith(message)


def test_not_a_table() -> None:
    with pytest.raises(ConfigInvalid, match=r"^slo: expected a table, got str$"):
        parse_slo("strict")
