"""P(yes) from a yes/no reply's first-token log-probabilities: a verifier signal with no sampling noise.

The model is asked "is this program correct?" and the answer is read from its distribution over the
first reply token, not from the sampled word: the mass on "yes" over the mass on "yes" and "no"
(any case, any leading space). None when neither word is among the likeliest tokens.

Example::

    p_yes([TokenLogprob(" Yes", -0.2, top=((" Yes", -0.2), (" No", -1.8)))])   # 0.83
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from core.llm import TokenLogprob

WORDS = {"yes": True, "no": False}


def p_yes(logprobs: Sequence[TokenLogprob] | None) -> float | None:
    """P(yes) / (P(yes) + P(no)) at the first reply token; None without log-probabilities or either word."""
    if not logprobs:
        return None
    first = logprobs[0]
    mass = {True: 0.0, False: 0.0}
    for token, logprob in first.top or ((first.token, first.logprob),):
        word = WORDS.get(token.strip().lower())
        if word is not None:
            mass[word] += math.exp(logprob)
    total = mass[True] + mass[False]
    return mass[True] / total if total > 0 else None
