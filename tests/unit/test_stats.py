"""soakgate.core.stats against scipy: the same numbers from pure Python."""

from __future__ import annotations

import random

import pytest
from scipy import special, stats

from soakgate.core.stats import (
    ar1_variance_factor,
    betainc,
    binomial_tail,
    brown_forsythe,
    cliffs_delta,
    mann_whitney_u,
    mean_absolute_deviation,
    theil_sen,
)


@pytest.mark.parametrize(
    ("a", "b", "x"),
    [
        (1.0, 1.0, 0.5),
        (0.5, 0.5, 0.1),
        (2.5, 0.5, 0.3),
        (5.0, 3.0, 0.9),
        (20_000.0, 0.5, 0.9999),  # a Student-t tail with 40 000 degrees of freedom
        (700.0, 599_301.0, 0.001),  # a binomial tail of a week of probes
        (3.0, 3598.0, 0.001),
    ],
)
def test_betainc_matches_scipy(a: float, b: float, x: float) -> None:
    assert betainc(a, b, x) == pytest.approx(float(special.betainc(a, b, x)), rel=1e-8)


def test_betainc_edges_and_bad_parameters() -> None:
    assert (betainc(2.0, 3.0, 0.0), betainc(2.0, 3.0, 1.0)) == (0.0, 1.0)
    with pytest.raises(ValueError):
        betainc(0.0, 1.0, 0.5)


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [
        (1, 10, 0.001),
        (2, 1000, 0.001),
        (4, 3600, 0.001),  # at the budget: chance
        (12, 360, 0.001),  # two minutes down in an hour of 10 s probes
        (700, 600_000, 0.001),
        (50, 100, 0.3),
        (10, 10, 0.5),
        (3, 20, 0.5),
    ],
)
def test_binomial_tail_matches_scipy(k: int, n: int, p: float) -> None:
    expected = stats.binomtest(k, n, p, alternative="greater").pvalue
    assert binomial_tail(k, n, p) == pytest.approx(expected, rel=1e-8)


def test_binomial_tail_edges() -> None:
    assert binomial_tail(0, 100, 0.001) == 1.0
    assert binomial_tail(101, 100, 0.5) == 0.0
    assert binomial_tail(1, 100, 0.0) == 0.0  # a zero budget: any failure is no chance
    assert binomial_tail(5, 100, 1.0) == 1.0
    with pytest.raises(ValueError):
        binomial_tail(-1, 10, 0.1)


@pytest.mark.parametrize(
    ("n1", "n2", "sigma2", "decimals"),
    [(500, 700, 0.4, 3), (40, 60, 0.3, 1), (3000, 2000, 0.31, 2), (8, 5, 1.0, 2)],
)
def test_brown_forsythe_matches_scipy(n1: int, n2: int, sigma2: float, decimals: int) -> None:
    rng = random.Random(n1 + n2)
    candidate = [round(rng.lognormvariate(4.0, sigma2), decimals) for _ in range(n1)]
    baseline = [round(rng.lognormvariate(4.0, 0.3), decimals) for _ in range(n2)]
    w, p = brown_forsythe(candidate, baseline)
    ref = stats.levene(candidate, baseline, center="median")
    assert w == pytest.approx(ref.statistic, rel=1e-9)
    assert p == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-300)


def test_brown_forsythe_sees_spread_that_mann_whitney_does_not() -> None:
    rng = random.Random(7)
    baseline = [rng.gauss(120.0, 10.0) for _ in range(2000)]
    jittery = [rng.gauss(120.0, 25.0) for _ in range(2000)]  # same median, wider
    _, p_shift = mann_whitney_u(jittery, baseline)
    _, p_spread = brown_forsythe(jittery, baseline)
    assert p_shift > 0.01 and p_spread < 1e-30
    ratio = mean_absolute_deviation(jittery) / mean_absolute_deviation(baseline)
    assert ratio == pytest.approx(2.5, rel=0.1)


def test_brown_forsythe_of_constant_sides() -> None:
    assert brown_forsythe([1.0, 1.0, 1.0], [2.0, 2.0]) == pytest.approx(
        (float("nan"), 1.0), nan_ok=True
    )
    with pytest.raises(ValueError):
        brown_forsythe([1.0], [1.0, 2.0])


def test_cliffs_delta_is_the_rank_biserial_of_u() -> None:
    rng = random.Random(11)
    candidate = [round(rng.gauss(0.3, 1.0), 1) for _ in range(300)]
    baseline = [round(rng.gauss(0.0, 1.0), 1) for _ in range(200)]
    u, _ = mann_whitney_u(candidate, baseline)
    greater = sum(1 for c in candidate for b in baseline if c > b)
    less = sum(1 for c in candidate for b in baseline if c < b)
    expected = (greater - less) / (len(candidate) * len(baseline))
    assert cliffs_delta(u, len(candidate), len(baseline)) == pytest.approx(expected)
    assert cliffs_delta(mann_whitney_u([2.0, 3.0], [0.0, 1.0])[0], 2, 2) == 1.0


@pytest.mark.parametrize(
    ("n", "slope", "noise", "confidence"),
    [(40, 2.0, 3.0, 0.9), (60, 0.0, 1.0, 0.95), (12, -1.5, 0.5, 0.9)],
)
def test_theil_sen_matches_scipy(n: int, slope: float, noise: float, confidence: float) -> None:
    rng = random.Random(n)
    x = [rng.random() * 10 for _ in range(n)]
    y = [round(slope * xi + rng.gauss(0.0, noise), 1) for xi in x]  # rounding: ties in y
    x[1] = x[0]  # a tie in x: that pair has no slope
    found = theil_sen(x, y, confidence)
    ref = stats.theilslopes(y, x, confidence)
    assert found == pytest.approx(
        (ref.slope, ref.intercept, ref.low_slope, ref.high_slope), rel=1e-12, abs=1e-12
    )


def test_theil_sen_shrugs_off_outliers_that_tip_least_squares() -> None:
    x = [float(i) for i in range(30)]
    y = [100.0 + 0.5 * xi for xi in x]
    y[-3:] = [400.0, 420.0, 380.0]  # a spike at the end
    slope, intercept, low, high = theil_sen(x, y)
    assert slope == pytest.approx(0.5) and intercept == pytest.approx(100.0)
    assert low <= 0.5 <= high
    least_squares = stats.linregress(x, y).slope
    assert least_squares > 3.0


def test_theil_sen_needs_two_x() -> None:
    with pytest.raises(ValueError):
        theil_sen([1.0, 1.0], [2.0, 3.0])


def ar1_series(n: int, phi: float, rng: random.Random) -> list[float]:
    values, level = [], 0.0
    for _ in range(n):
        level = phi * level + rng.gauss(0.0, 1.0)
        values.append(level)
    return values


def test_the_ar1_factor_is_one_for_independent_points_and_grows_with_dependence() -> None:
    rng = random.Random(5)
    factor, r1 = ar1_variance_factor([rng.gauss(0.0, 1.0) for _ in range(2000)])
    assert abs(r1) < 0.05 and factor == pytest.approx(1.0, abs=0.1)
    factor, r1 = ar1_variance_factor(ar1_series(2000, 0.8, rng))
    assert r1 == pytest.approx(0.8, abs=0.05)
    assert factor == pytest.approx((1 + r1) / (1 - r1), rel=0.05)  # the large-n limit
    assert ar1_variance_factor([1.0, -1.0] * 20)[0] == 1.0  # alternating: never narrower
    assert ar1_variance_factor([3.0, 3.0, 3.0]) == (1.0, 0.0)


def test_a_wandering_flat_series_fools_sens_interval_unless_it_is_widened() -> None:
    """60 bins of a flat but dependent series (AR(1), phi 0.7): the plain interval's low end is
    above 0 — a trend where there is none — far more often than its one-sided 5 % (about a
    quarter of the runs); widened by the AR(1) factor, near its 5 % (7-10 % over seeds: r1 of
    60 points is biased low, so some excess remains)."""
    rng = random.Random(12)
    x = [float(i) for i in range(60)]
    plain = widened = 0
    runs = 300
    for _ in range(runs):
        y = ar1_series(60, 0.7, rng)
        slope, intercept, low, _ = theil_sen(x, y, 0.90)
        plain += low > 0
        factor, _ = ar1_variance_factor(
            [yi - intercept - slope * xi for xi, yi in zip(x, y, strict=True)]
        )
        widened += theil_sen(x, y, 0.90, variance_factor=factor)[2] > 0
    assert plain / runs > 0.18
    assert widened / runs < 0.12
