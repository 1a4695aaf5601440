"""The statistics the report and the gate add on top of the pooled percentiles: a Mann-Whitney U
test on per-request latencies (is one set of requests slower than another, beyond noise?), Holm's
correction when many backend × variant rows are tested at once, and a least-squares slope.

numpy only (no scipy at run time): the U test uses the normal approximation with the tie
correction and a continuity correction, which is what ``scipy.stats.mannwhitneyu(...,
method="asymptotic")`` computes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # significance level of the report's and the gate's tests (family-wise for the gate)
MIN_SAMPLES = 3  # fewer successful requests on either side: no test is possible


def mann_whitney_greater(slower: Sequence[float], faster: Sequence[float]) -> float | None:
    """One-sided p-value that ``slower`` tends to be larger than ``faster`` (None: too few samples).

    Small p: the first set is larger beyond what chance explains. Ties get average ranks.
    """
    x = np.asarray(slower, dtype=float)
    y = np.asarray(faster, dtype=float)
    n1, n2 = len(x), len(y)
    if n1 < MIN_SAMPLES or n2 < MIN_SAMPLES:
        return None
    both = np.concatenate([x, y])
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    # average rank of each distinct value: ranks start at 1
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    ranks = avg_rank[inverse]
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    tie_term = float((counts.astype(float) ** 3 - counts).sum()) / (n * (n - 1))
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:  # every value identical: nothing to tell them apart
        return 1.0
    z = (u1 - n1 * n2 / 2.0 - 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_two_sided(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value that ``a`` and ``b`` differ (None: too few samples)."""
    up = mann_whitney_greater(a, b)
    down = mann_whitney_greater(b, a)
    if up is None or down is None:
        return None
    return min(1.0, 2.0 * min(up, down))


def holm(p_values: Sequence[float | None], alpha: float = ALPHA) -> list[bool]:
    """Holm-Bonferroni: which of the tests are significant with a family-wise error ``alpha``.

    ``None`` (no test possible) is never significant and does not count as a test.
    """
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out = [False] * len(p_values)
    m = len(tested)
    for k, (p, i) in enumerate(tested):
        if p > alpha / (m - k):
            break
        out[i] = True
    return out


@dataclass(frozen=True)
class Slope:
    """Least-squares line ``y = intercept + slope·x`` with the slope's 95 % interval."""

    slope: float
    intercept: float
    low: float
    high: float
    n: int

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Slope | None:
    """Ordinary least squares; None with fewer than 3 points or a single x value."""
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    n = len(x)
    if n < 3 or float(np.ptp(x)) == 0.0:
        return None
    x_mean, y_mean = float(x.mean()), float(y.mean())
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y_mean)).sum()) / sxx
    intercept = y_mean - slope * x_mean
    resid = y - (intercept + slope * x)
    se = math.sqrt(float((resid**2).sum()) / (n - 2) / sxx) if n > 2 else 0.0
    half = _t95(n - 2) * se
    return Slope(slope, intercept, slope - half, slope + half, n)


def _t95(dof: int) -> float:
    """Two-sided 95 % quantile of Student's t (a table for small samples, 1.96 beyond)."""
    table = {
        1: 12.71,
        2: 4.30,
        3: 3.18,
        4: 2.78,
        5: 2.57,
        6: 2.45,
        7: 2.36,
        8: 2.31,
        9: 2.26,
        10: 2.23,
        12: 2.18,
        15: 2.13,
        20: 2.09,
        30: 2.04,
        60: 2.00,
    }
    if dof >= 120:
        return 1.96
    for k in sorted(table):
        if dof <= k:
            return table[k]
    return 1.98
