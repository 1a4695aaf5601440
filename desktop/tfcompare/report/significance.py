"""The statistics the report and the gate add on top of the pooled percentiles: a Mann-Whitney U
test on per-request latencies (is one set of requests slower than another, beyond noise?), Holm's
correction when many backend × variant rows are tested at once, and a robust (Theil–Sen) line
with an outlier check.

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
    """A line ``y = intercept + slope·x`` with the slope's 95 % interval."""

    slope: float
    intercept: float
    low: float
    high: float
    n: int

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x

    def residuals(self, xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
        return np.asarray(ys, dtype=float) - (
            self.intercept + self.slope * np.asarray(xs, dtype=float)
        )


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> Slope | None:
    """Theil–Sen line: the slope is the median of the slopes between every two points with
    different x, the intercept the median of ``y − slope·x``; the 95 % interval is Sen's (1968),
    from the ranks of the pairwise slopes (Kendall's S variance with ties in x and y taken out,
    as ``scipy.stats.theilslopes`` computes it). One wild
    point moves none of them far, where it can drag a least-squares line anywhere.

    None with fewer than 3 points or a single x value."""
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    n = len(x)
    if n < 3 or float(np.ptp(x)) == 0.0:
        return None
    i, j = np.triu_indices(n, 1)
    dx = x[j] - x[i]
    keep = dx != 0
    slopes = np.sort((y[j] - y[i])[keep] / dx[keep])
    m = len(slopes)
    slope = float(np.median(slopes))
    intercept = float(np.median(y - slope * x))
    spread = 1.96 * math.sqrt(max(0.0, _kendall_var(x, y)))
    lo = max(int(np.round((m - spread) / 2.0)) - 1, 0)  # as scipy.stats.theilslopes
    hi = min(int(np.round((m + spread) / 2.0)), m - 1)
    low, high = float(slopes[lo]), float(slopes[hi])
    return Slope(slope, intercept, low, high, n)


def _kendall_var(x: np.ndarray, y: np.ndarray) -> float:
    """Variance of Kendall's S under no trend, corrected for tied x and tied y values."""
    n = len(x)

    def ties(values: np.ndarray) -> float:
        _, counts = np.unique(values, return_counts=True)
        t = counts[counts > 1].astype(float)
        return float((t * (t - 1) * (2 * t + 5)).sum())

    return (n * (n - 1) * (2 * n + 5) - ties(x) - ties(y)) / 18.0


def outliers(residuals: Sequence[float] | np.ndarray, limit: float = 3.5) -> list[int]:
    """Indices of the residuals far from the rest: modified z-score |r − median| / (1.4826·MAD)
    above ``limit`` (Iglewicz & Hoaglin's rule). Residuals that are mostly identical (MAD 0) flag
    every point that differs from them by more than ``limit`` × their mean absolute deviation."""
    r = np.asarray(residuals, dtype=float)
    if len(r) < 3:
        return []
    centre = float(np.median(r))
    dev = np.abs(r - centre)
    mad = float(np.median(dev))
    scale = 1.4826 * mad if mad > 0 else 1.2533 * float(dev.mean())
    if scale <= 0:
        return []
    return [int(k) for k in np.nonzero(dev / scale > limit)[0]]
