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
    reason = verdict.reasons[0]
    assert f"Mann-Whitney U one-sided p {format_p(found.p_value)}" in reason
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
