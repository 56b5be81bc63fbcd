"""McNemar's exact test on paired pass@1 results, checked against hand-computed binomial tails."""

from __future__ import annotations

import pytest

from core.evaluation.paired import mcnemar_exact


def test_only_discordant_problems_count_and_the_tail_is_two_sided():
    r = mcnemar_exact([True, True, False, True, False], [False, True, False, False, False])
    assert (r.a_only, r.b_only, r.both, r.neither) == (2, 0, 1, 2)
    assert r.p_value == pytest.approx(2 * 0.25)  # 2 * P(X <= 0), X ~ Bin(2, 1/2)


def test_six_wins_and_no_loss_is_significant_and_the_test_is_symmetric():
    a, b = [True] * 6 + [False] * 4, [False] * 10
    assert mcnemar_exact(a, b).p_value == pytest.approx(2 / 64)
    assert mcnemar_exact(b, a).p_value == pytest.approx(2 / 64)


def test_a_balanced_split_gives_p_one_and_no_discordance_too():
    assert mcnemar_exact([True, False], [False, True]).p_value == 1.0
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0


def test_three_to_one():
    # 2 * P(X <= 1), X ~ Bin(4, 1/2) = 2 * 5/16
    r = mcnemar_exact([True, True, True, False], [False, False, False, True])
    assert r.p_value == pytest.approx(10 / 16)


def test_unpaired_lengths_are_refused():
    with pytest.raises(ValueError, match="same problems"):
        mcnemar_exact([True], [True, False])
