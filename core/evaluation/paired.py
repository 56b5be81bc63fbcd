"""Paired comparison of two methods on the same problems: McNemar's exact test on pass@1.

Only the discordant problems carry information: ``b`` solved by A and not by B, ``c`` the other
way round. Under "no difference" each discordant problem is a fair coin, so the two-sided exact
p-value is 2 * P(Binomial(b + c, 1/2) <= min(b, c)), capped at 1.

Example::

    mcnemar_exact([True, True, False, True], [False, True, False, False])   # b=2, c=0 -> p = 0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb


@dataclass(frozen=True)
class Paired:
    a_only: int  # b: A passes, B fails
    b_only: int  # c: B passes, A fails
    both: int
    neither: int
    p_value: float  # McNemar exact, two-sided


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> Paired:
    if len(a) != len(b):
        raise ValueError(f"paired results need the same problems: {len(a)} against {len(b)}")
    a_only = sum(x and not y for x, y in zip(a, b, strict=True))
    b_only = sum(y and not x for x, y in zip(a, b, strict=True))
    both = sum(x and y for x, y in zip(a, b, strict=True))
    n = a_only + b_only
    tail = sum(comb(n, i) for i in range(min(a_only, b_only) + 1)) / 2**n if n else 1.0
    return Paired(a_only, b_only, both, len(a) - a_only - b_only - both, min(1.0, 2 * tail))
