"""The statistics soakgate judges with, in pure Python (scipy is a test dependency only: the
unit tests check every function here against it).

percentile(sorted_values, 95)            # numpy's default (linear) interpolation
mann_whitney_u(candidate, baseline)      # (U, one-sided p that the candidate is greater)
cliffs_delta(u, n1, n2)                  # the effect size of that U: -1 … +1
brown_forsythe(candidate, baseline)      # (W, two-sided p): do the spreads differ?
binomial_tail(k, n, p)                   # P(X ≥ k), X ~ Binomial(n, p): exact
theil_sen(x, y, confidence=0.90)         # (slope, intercept, low, high): a robust trend
ar1_variance_factor(residuals)           # how much dependence widens that interval
block_bootstrap([340, 120], figures)     # [(low, high), …]: percentile intervals of figures
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from statistics import NormalDist


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values, interpolated like numpy's default."""
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def thin(values: Sequence[float], limit: int) -> list[float]:
    """At most ``limit`` values picked at an even stride (deterministic, keeps time order)."""
    if len(values) <= limit:
        return list(values)
    step = len(values) / limit
    return [values[int(i * step)] for i in range(limit)]


def mann_whitney_u(candidate: Sequence[float], baseline: Sequence[float]) -> tuple[float, float]:
    """(U of the candidate, one-sided p that the candidate is *greater*), normal approximation.

    Same as ``scipy.stats.mannwhitneyu(candidate, baseline, alternative="greater",
    method="asymptotic")``: average ranks for ties, tie-corrected variance, continuity 0.5.
    """
    n1, n2 = len(candidate), len(baseline)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs values on both sides")
    values = [*candidate, *baseline]
    n = n1 + n2
    order = sorted(range(n), key=values.__getitem__)
    rank_sum = 0.0
    tie_term = 0.0
    i = 0
    while i < n:
        j = i + 1
        while j < n and values[order[j]] == values[order[i]]:
            j += 1
        average_rank = (i + 1 + j) / 2.0  # ranks i+1 … j
        ties = j - i
        if ties > 1:
            tie_term += ties**3 - ties
        for k in range(i, j):
            if order[k] < n1:
                rank_sum += average_rank
        i = j
    u1 = rank_sum - n1 * (n1 + 1) / 2.0
    if n < 2:
        return u1, 1.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return u1, 1.0  # all values equal: no evidence either way
    z = (u1 - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    p = 0.5 * math.erfc(z / math.sqrt(2.0))
    return u1, min(1.0, max(0.0, p))


def block_length(count: int) -> int:
    """The moving-block bootstrap's block for ``count`` time-ordered units: ``count ** (1/3)``
    rounded (the order of the optimal length for variance and distribution estimates, Hall,
    Horowitz and Jing 1995), at least 1."""
    blocks: int = round(count ** (1 / 3))
    return max(1, blocks)


def resample_blocks(strata: Sequence[int], rng: random.Random) -> list[int]:
    """One moving-block resample of units numbered in time order, stratum after stratum
    (``strata`` are the sizes: one per round): within each stratum, blocks of consecutive
    units drawn with replacement until the stratum's size is reached, so every round keeps
    its weight and short-range correlation stays inside a block."""
    indices: list[int] = []
    offset = 0
    for count in strata:
        if count <= 0:
            continue
        block = min(block_length(count), count)
        drawn: list[int] = []
        while len(drawn) < count:
            start = offset + rng.randrange(count - block + 1)
            drawn.extend(range(start, start + block))
        indices.extend(drawn[:count])
        offset += count
    return indices


def block_bootstrap(
    strata: Sequence[int],
    figures: Callable[[Sequence[int]], Sequence[float]],
    *,
    resamples: int = 1000,
    confidence: float = 0.90,
    seed: int = 0,
) -> list[tuple[float, float]]:
    """Percentile intervals of ``figures`` (a function of the chosen unit indices, returning a
    fixed number of values) over ``resamples`` moving-block resamples (:func:`resample_blocks`).

    Two-sided at ``confidence``: 0.90 gives 5 % and 95 % bounds, so each bound alone is a
    one-sided 95 % bound. The seed is fixed by default: the same samples give the same
    intervals, so a judgement can be checked again from the evidence file.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence should be between 0 and 1, got {confidence}")
    if resamples < 1 or sum(max(0, count) for count in strata) == 0:
        raise ValueError("a bootstrap needs units and at least one resample")
    rng = random.Random(seed)
    draws = [list(figures(resample_blocks(strata, rng))) for _ in range(resamples)]
    tail = 100 * (1 - confidence) / 2
    intervals = []
    for column in zip(*draws, strict=True):
        ordered = sorted(column)
        intervals.append((percentile(ordered, tail), percentile(ordered, 100 - tail)))
    return intervals


# --- effect sizes, spreads, counts and trends -------------------------------------------------


def cliffs_delta(u: float, n1: int, n2: int) -> float:
    """Cliff's delta of the candidate from its Mann-Whitney ``u`` (ties count half):
    P(candidate > baseline) - P(candidate < baseline), -1 … +1; equal to the rank-biserial
    correlation. 0 is no shift; by the usual rule of thumb |δ| < 0.147 is negligible, < 0.33
    small, < 0.474 medium, larger is large."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("Cliff's delta needs values on both sides")
    return 2.0 * u / (n1 * n2) - 1.0


def median(values: Sequence[float]) -> float:
    """The median of (unsorted) values."""
    return percentile(sorted(values), 50)


def mean_absolute_deviation(values: Sequence[float]) -> float:
    """Mean distance from the median: the spread the Brown-Forsythe test compares."""
    if not values:
        raise ValueError("spread of no values")
    centre = median(values)
    return math.fsum(abs(value - centre) for value in values) / len(values)


def brown_forsythe(candidate: Sequence[float], baseline: Sequence[float]) -> tuple[float, float]:
    """(W, two-sided p) of the Brown-Forsythe test that the two spreads are equal: Levene's
    test on distances from each side's *median*, robust to the skewed, heavy-tailed latencies
    a service has (the mean-centred Levene and the F test of variances are not).

    Same as ``scipy.stats.levene(candidate, baseline, center="median")``. With two sides W is
    the square of the pooled two-sample t of the distances, so p comes from Student's t with
    n1 + n2 - 2 degrees of freedom; the one-sided p (candidate more spread) is p / 2 when the
    candidate's mean distance is the larger, else 1 - p / 2.
    """
    n1, n2 = len(candidate), len(baseline)
    if n1 < 2 or n2 < 2:
        raise ValueError("Brown-Forsythe needs at least two values on each side")
    centre1, centre2 = median(candidate), median(baseline)
    z1 = [abs(value - centre1) for value in candidate]
    z2 = [abs(value - centre2) for value in baseline]
    mean1, mean2 = math.fsum(z1) / n1, math.fsum(z2) / n2
    n = n1 + n2
    grand = (mean1 * n1 + mean2 * n2) / n
    between = n1 * (mean1 - grand) ** 2 + n2 * (mean2 - grand) ** 2
    within = math.fsum((z - mean1) ** 2 for z in z1) + math.fsum((z - mean2) ** 2 for z in z2)
    if within <= 0:
        return (math.inf, 0.0) if between > 0 else (math.nan, 1.0)
    w = (n - 2) * between / within
    df = n - 2
    return w, betainc(df / 2.0, 0.5, df / (df + w))


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), exactly (the regularized incomplete beta
    I_p(k, n - k + 1)): the one-sided p of ``k`` failures in ``n`` trials when the true rate is
    ``p``; ``scipy.stats.binomtest(k, n, p, alternative="greater").pvalue``."""
    if n < 0 or not k >= 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial tail of k={k}, n={n}, p={p}")
    if k == 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return betainc(float(k), float(n - k + 1), p)


def theil_sen(
    x: Sequence[float],
    y: Sequence[float],
    confidence: float = 0.90,
    variance_factor: float = 1.0,
) -> tuple[float, float, float, float]:
    """(slope, intercept, low, high): the Theil-Sen line and Sen's (1968) interval of its slope.

    The slope is the median of the slopes between all pairs of points (pairs with equal x are
    left out); the intercept is median(y) - slope x median(x). Up to 29 % of the points can be
    anywhere without moving it much (a GC spike, a warm-up step, a stray sample), where one
    point at an end can tip a least-squares line. The interval is distribution-free: the
    ranks of the pairwise slopes that bound it come from the variance of Kendall's S (ties
    corrected), so it needs no normal errors, only independent ones; it is two-sided at
    ``confidence`` (0.90: each bound alone is a one-sided 95 % bound). ``variance_factor``
    (≥ 1) widens it for dependent points: see :func:`ar1_variance_factor`.

    With ``variance_factor=1``, the same as ``scipy.stats.theilslopes(y, x, confidence)``.
    O(n²) pairs: meant for tens to a few hundred points (soakgate fits medians of time bins,
    not raw samples).
    """
    if len(x) != len(y):
        raise ValueError("theil_sen needs as many x as y")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence should be between 0 and 1, got {confidence}")
    n = len(x)
    slopes = sorted(
        (y[j] - y[i]) / (x[j] - x[i]) for i in range(n) for j in range(i + 1, n) if x[j] != x[i]
    )
    if not slopes:
        raise ValueError("theil_sen needs two points with different x")
    slope = percentile(slopes, 50)
    intercept = median(y) - slope * median(x)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    variance = (n * (n - 1) * (2 * n + 5) - _tie_term(x) - _tie_term(y)) / 18.0
    variance *= max(1.0, variance_factor)
    sigma = math.sqrt(max(0.0, variance))
    count = len(slopes)
    upper = min(round((count + z * sigma) / 2.0), count - 1)
    lower = max(round((count - z * sigma) / 2.0) - 1, 0)
    return slope, intercept, slopes[lower], slopes[upper]


def ar1_variance_factor(residuals: Sequence[float]) -> tuple[float, float]:
    """(factor, r1): how much positively correlated neighbours widen a trend's interval.

    ``r1`` is the lag-1 autocorrelation of the residuals (in time order) around the fitted
    line; under an AR(1) model the variance of a trend statistic grows by
    n / n* = 1 + 2 Σ_{k=1}^{n-1} (1 - k/n) r1^k (the effective sample size correction of the
    Mann-Kendall test, Yue and Wang 2004). A negative ``r1`` is taken as 0: the interval is
    never narrowed. Fewer than 3 residuals, or residuals all equal: (1.0, 0.0).
    """
    n = len(residuals)
    if n < 3:
        return 1.0, 0.0
    mean = math.fsum(residuals) / n
    centred = [value - mean for value in residuals]
    total = math.fsum(value * value for value in centred)
    if total <= 0:
        return 1.0, 0.0
    r1 = math.fsum(centred[i] * centred[i + 1] for i in range(n - 1)) / total
    r = min(max(r1, 0.0), 0.99)
    factor = 1.0 + 2.0 * math.fsum((1 - k / n) * r**k for k in range(1, n))
    return factor, r1


def _tie_term(values: Sequence[float]) -> float:
    counts: dict[float, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return float(sum(k * (k - 1) * (2 * k + 5) for k in counts.values() if k > 1))


# --- the regularized incomplete beta function ---------------------------------------------

_BETA_EPSILON = 1e-15
_BETA_ITERATIONS = 100_000
_TINY = 1e-300


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (``scipy.special.betainc``): Lentz's
    continued fraction (Numerical Recipes 6.4) on the side of x where it converges fast, so
    small tails keep their relative precision. Binomial and Student-t tails are made of it."""
    if not (a > 0 and b > 0) or math.isnan(x):
        raise ValueError(f"betainc needs a, b > 0, got a={a}, b={b}, x={x}")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    total, up, down = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - total * x / up
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _BETA_ITERATIONS):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((down + m2) * (a + m2)),
            -(a + m) * (total + m) * x / ((a + m2) * (up + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            step = d * c
            h *= step
        if abs(step - 1.0) < _BETA_EPSILON:
            return h
    raise ArithmeticError(f"betainc({a}, {b}, {x}) did not converge")
