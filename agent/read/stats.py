"""Statistics for comparing optimizers: pure functions over plain lists and numpy arrays.

Nothing here knows about runs or the event log; :mod:`agent.engine.compare` turns folded runs into the lists
these functions take. scipy is deliberately not a dependency: the two tests we need (a percentile
bootstrap and the Mann-Whitney U test with the normal approximation) are a few lines of numpy each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
_CHUNK = 2_000_000  # resample-matrix cells per chunk, so 10,000 x 1,000 samples never needs 80 MB at once


def mean_std(values: npt.ArrayLike) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value; NaN for none)."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else 0.0)


def median(values: npt.ArrayLike) -> float:
    a = np.asarray(values, dtype=float)
    return float(np.median(a)) if a.size else math.nan


def top_threshold(size: int, fraction: float) -> int:
    """The worst strict rank still inside the top ``fraction`` of ``size`` architectures: ceil(fraction*size).

    Rounded to 9 decimals first so that float noise (0.01 * 300 = 3.0000000000000004) cannot add a rank.
    """
    if size < 1 or not 0 < fraction <= 1:
        raise ValueError(f"need size >= 1 and 0 < fraction <= 1; got {size}, {fraction}")
    return max(1, math.ceil(round(size * fraction, 9)))


def top_share(ranks: npt.ArrayLike, size: int, fraction: float) -> float:
    """Share of ``ranks`` (strict ranks, 1 = best) inside the top ``fraction`` of the space."""
    a = np.asarray(ranks, dtype=float)
    if a.size == 0:
        return math.nan
    return float(np.mean(a <= top_threshold(size, fraction)))


def _resampled_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples of ``values`` (vectorised, in bounded chunks)."""
    n = values.size
    out = np.empty(resamples, dtype=float)
    step = max(1, _CHUNK // max(1, n))
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def bootstrap_mean_ci(values: npt.ArrayLike, *, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                      seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values`` (NaN, NaN when empty)."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return math.nan, math.nan
    means = _resampled_means(a, resamples, np.random.default_rng(seed))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_mean_diff_ci(x: npt.ArrayLike, y: npt.ArrayLike, *, level: float = 0.95,
                           resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``mean(x) - mean(y)``.

    ``x`` and ``y`` are independent samples (trials of two optimizers), so each is resampled on its own.
    Seeded: the same inputs always give the same interval. (NaN, NaN) when either sample is empty.
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    diffs = _resampled_means(a, resamples, rng) - _resampled_means(b, resamples, rng)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(diffs, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def average_ranks(values: npt.ArrayLike) -> np.ndarray:
    """Ranks 1..n of ``values``, ties sharing the average of the ranks they span (as in rank-sum tests)."""
    a = np.asarray(values, dtype=float)
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    # start index of each run of equal values, and its length
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    counts = np.diff(np.r_[starts, a.size])
    run_rank = starts + (counts + 1) / 2.0  # average of ranks starts+1 .. starts+counts
    ranks = np.empty(a.size, dtype=float)
    ranks[order] = np.repeat(run_rank, counts)
    return ranks


def mann_whitney_u(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, float]:
    """Two-sided Mann-Whitney U (Wilcoxon rank-sum) test: ``(U of x, p-value)``.

    Normal approximation with tie correction and continuity correction (scipy's ``method="asymptotic"``).
    The p-value is symmetric in ``x`` and ``y``; it is 1.0 when every value is tied and NaN when a sample
    is empty. With fewer than about 8 values per side it is only a rough guide.
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    ranks = average_ranks(np.concatenate([a, b]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    _, ties = np.unique(np.concatenate([a, b]), return_counts=True)
    tie_term = float(np.sum(ties.astype(float) ** 3 - ties)) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if variance <= 0:
        return u1, 1.0
    mu = n1 * n2 / 2.0
    z = (abs(u1 - mu) - 0.5) / math.sqrt(variance)
    p = math.erfc(max(z, 0.0) / math.sqrt(2.0))  # = 2 * (1 - Phi(z))
    return u1, min(1.0, p)


def best_so_far_ranks(iterations: Sequence[tuple[int, float | None, int | None]], budget: int) -> list[float]:
    """The anytime curve of one trial: after each iteration ``0..budget-1``, the rank of the best so far.

    ``iterations`` holds ``(iteration, searched accuracy, reported rank)``; accuracy None means the iteration
    did not evaluate anything (failed or stopped). Best is by searched accuracy, the first one on ties (as
    ``TrialState.best``); its reported rank is what the curve shows. NaN before the first evaluation.
    """
    by_iteration: dict[int, list[tuple[float, int | None]]] = {}
    for i, acc, rank in iterations:
        if acc is not None:
            by_iteration.setdefault(int(i), []).append((float(acc), rank))
    curve: list[float] = []
    best_acc: float | None = None
    best_rank: float = math.nan
    for i in range(budget):
        for acc, rank in by_iteration.get(i, []):
            if best_acc is None or acc > best_acc:
                best_acc = acc
                best_rank = math.nan if rank is None else float(rank)
        curve.append(best_rank)
    return curve


def column_mean_median(matrix: npt.ArrayLike) -> tuple[list[float], list[float]]:
    """Per-column mean and median of a trials x iterations matrix, ignoring NaN (NaN where a column is empty)."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] == 0:
        width = m.shape[1] if m.ndim == 2 else 0
        return [math.nan] * width, [math.nan] * width
    means, medians = [], []
    for col in m.T:
        vals = col[~np.isnan(col)]
        means.append(float(vals.mean()) if vals.size else math.nan)
        medians.append(float(np.median(vals)) if vals.size else math.nan)
    return means, medians


def column_mean_bands(matrix: npt.ArrayLike, *, level: float = 0.95,
                      resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> tuple[list[float], list[float]]:
    """Per-column bootstrap confidence band (low, high) of the mean, ignoring NaN, of a trials x iterations matrix."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        return [], []
    lows, highs = [], []
    for j, col in enumerate(m.T):
        lo, hi = bootstrap_mean_ci(col[~np.isnan(col)], level=level, resamples=resamples, seed=seed + j)
        lows.append(lo)
        highs.append(hi)
    return lows, highs
