"""The unbiased pass@k estimator of the Codex paper (Chen et al. 2021, arXiv 2107.03374).

With n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance that
at least one of k samples drawn without replacement from the n passes. Taking the
first k samples instead would waste the other n-k and give a noisier number.

Example::

    pass_at_k(10, 3, 1)      # 0.3 (= c / n for k = 1)
    pass_at_k(10, 3, 5)      # 0.9166... = 1 - C(7,5)/C(10,5) = 1 - 21/252
    mean_pass_at_k([(1, 1), (1, 0)], 1)   # 0.5: the mean over problems
"""

from __future__ import annotations

from collections.abc import Iterable
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k for one problem with ``n`` samples of which ``c`` passed."""
    if n < 1 or k < 1:
        raise ValueError(f"n and k must be at least 1, got n={n}, k={k}")
    if not 0 <= c <= n:
        raise ValueError(f"c must be between 0 and n={n}, got {c}")
    if k > n:
        raise ValueError(f"k={k} needs at least k samples per problem, got n={n}")
    if n - c < k:  # every draw of k holds a passing sample
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float | None:
    """The mean of pass@k over problems given as (n, c) pairs; None when there are none."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    return sum(values) / len(values) if values else None
