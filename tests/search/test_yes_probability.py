"""P(yes) is read from the first reply token's probabilities, whatever the case or spacing of the words."""

from __future__ import annotations

import math

import pytest

from core.llm import TokenLogprob
from core.search.yes_probability import p_yes


def tok(token: str, *top: tuple[str, float]) -> TokenLogprob:
    return TokenLogprob(token, top[0][1] if top else 0.0, top=tuple(top))


def test_p_yes_is_the_yes_mass_over_yes_and_no():
    lp = [tok(" Yes", (" Yes", math.log(0.6)), (" no", math.log(0.2)), (" maybe", math.log(0.2)))]
    assert p_yes(lp) == pytest.approx(0.75)
    both = [tok("yes", ("yes", math.log(0.3)), (" YES", math.log(0.1)), ("No", math.log(0.4)))]
    assert p_yes(both) == pytest.approx(0.5)


def test_no_answer_without_logprobs_or_either_word():
    assert p_yes(None) is None and p_yes([]) is None
    assert p_yes([tok(" The", (" The", -0.1), (" It", -2.0))]) is None
    assert p_yes([tok(" No")]) == 0.0  # only the sampled token known: it says no
