"""The statistics soakgate judges with: one percentile rule, one Mann-Whitney U.

percentile(sorted_values, 95)            # numpy's default (linear) interpolation
mann_whitney_u(candidate, baseline)      # (U, one-sided p that the candidate is greater)
"""

from __future__ import annotations

import math
from collections.abc import Sequence


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
