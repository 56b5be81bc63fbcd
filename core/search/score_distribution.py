"""The critic's score read from the model's distribution over the score tokens, not only its sampled text.

A 135M critic samples "10" for almost any path, which hides what it believes: the probability it
puts on 2 or 7 is still there in its logits. With per-token log-probabilities (``top_logprobs``),
the distribution over 0..10 is read at the first generated position whose token is a number:

- a token that is a whole score ("7", " 7", "10") takes its probability;
- a "1" that may begin "10" is split with the next position's probability of "0", which is
  observed when the sampled token was "1" (greedy decoding makes it the model's argmax); when it
  was not, the split is unknown and the whole "1" mass is counted as 10 (flagged ``approximate``);
- the masses are renormalised over 0..10 (the rest went to tokens that are no score).

The expected score sum(p[s] * s) is the critic's value (divided by 10); the sampled reply is kept.

Example: after "Score:" the model writes " " then "8"; at the digit's position the top tokens are
"8" (p=0.5, sampled), "1" (p=0.3) and "5" (p=0.1). That gives p = {8: 0.556, 10: 0.333, 5: 0.111},
expected 8.33, approximate=True (the "1" was not followed, so it is counted as 10).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.llm import TokenLogprob

SCORES = 11  # 0..10
LOOKAHEAD = 4  # the score's first digit is among the first few generated tokens (a space may come first)


@dataclass(frozen=True)
class ScoreDistribution:
    probs: tuple[float, ...]  # p(score = i) for i in 0..10, summing to 1
    expected: float  # sum(i * p[i]), on the critic's 0..10 scale
    mass: float  # how much of the position's probability went to score tokens (before renormalising)
    approximate: bool  # a "1" could not be told from "10" (see the module docstring)


def _as_score(token: str) -> int | None:
    text = token.strip()
    if not text.isdigit() or len(text) > 2:
        return None
    value = int(text)
    return value if 0 <= value <= 10 else None


def score_distribution(logprobs: Sequence[TokenLogprob] | None) -> ScoreDistribution | None:
    """The distribution over 0..10 at the first numeric position, or None when there is none."""
    if not logprobs:
        return None
    for pos, entry in enumerate(logprobs[:LOOKAHEAD]):
        if _as_score(entry.token) is None:
            continue
        probs = [0.0] * SCORES
        alternatives = entry.top or ((entry.token, entry.logprob),)
        one = 0.0
        for token, logprob in alternatives:
            score = _as_score(token)
            if score is None:
                continue
            p = math.exp(logprob)
            if score == 1 and token.strip() == "1":
                one += p  # "1" or the first digit of "10"
            else:
                probs[score] += p
        approximate = False
        if one:
            nxt = logprobs[pos + 1] if pos + 1 < len(logprobs) else None
            if entry.token.strip() == "1" and nxt is not None:
                zero = sum(math.exp(lp) for tok, lp in (nxt.top or ((nxt.token, nxt.logprob),)) if tok == "0")
                probs[10] += one * zero
                probs[1] += one * (1 - zero)
            elif entry.token.strip() == "1":  # the reply ended after "1": it meant 1
                probs[1] += one
            else:
                probs[10] += one
                approximate = True
        mass = sum(probs)
        if mass <= 0:
            return None
        probs = [p / mass for p in probs]
        expected = sum(i * p for i, p in enumerate(probs))
        return ScoreDistribution(tuple(probs), expected, min(mass, 1.0), approximate)
    return None
