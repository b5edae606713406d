"""The statistics soakgate judges with: one percentile rule, one Mann-Whitney U, one block
bootstrap.

percentile(sorted_values, 95)            # numpy's default (linear) interpolation
mann_whitney_u(candidate, baseline)      # (U, one-sided p that the candidate is greater)
block_bootstrap([340, 120], figures)     # [(low, high), …]: percentile intervals of figures
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence


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
