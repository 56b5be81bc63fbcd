"""95% intervals for pass rates: Wilson's score interval for one method, a paired bootstrap for a difference.

Wilson's interval stays inside [0, 1] and keeps its coverage at small n and at rates near 0 or 1,
where the normal approximation does not. The bootstrap resamples problems (both methods' results on a
problem move together), so the interval of a difference reflects the pairing, as McNemar's test does.

Example::

    wilson(45, 82)                                   # (0.44, 0.65)
    paired_bootstrap([True, True, False], [True, False, False], seed=0)  # interval of A - B
    bootstrap_mean([1, 1, 0, 1], seed=0)              # interval of one pass rate over problems
"""

from __future__ import annotations

from collections.abc import Sequence
from math import sqrt

import numpy as np

Z95 = 1.959964


def wilson(passed: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a pass rate ``passed / n``; (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= passed <= n:
        raise ValueError(f"passed must be between 0 and {n}, got {passed}")
    p = passed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, draws: int = 10_000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of mean(a) - mean(b) over problems resampled with replacement (pairs kept)."""
    if len(a) != len(b):
        raise ValueError(f"paired results need the same problems: {len(a)} against {len(b)}")
    n = len(a)
    if n == 0:
        return 0.0, 0.0
    diffs = np.array([float(x) - float(y) for x, y in zip(a, b, strict=True)])
    rng = np.random.default_rng(seed)
    means = np.sort(diffs[rng.integers(0, n, size=(draws, n))].mean(axis=1))  # vectorised: ms, not s
    lo = means[int((1 - level) / 2 * draws)]
    hi = means[min(draws - 1, int((1 + level) / 2 * draws))]
    return float(lo), float(hi)


def bootstrap_mean(
    values: Sequence[float], *, draws: int = 10_000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` (one per problem) over problems resampled."""
    return paired_bootstrap(values, [0.0] * len(values), draws=draws, seed=seed, level=level)
