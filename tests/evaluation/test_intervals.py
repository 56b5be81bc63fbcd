"""Intervals of pass rates: Wilson's score interval and the paired bootstrap of a difference."""

from __future__ import annotations

import pytest

from core.evaluation.intervals import paired_bootstrap, wilson


def test_wilson_matches_the_textbook_values():
    # Reference values (Newcombe 1998, table I): 81/263 -> 0.2553-0.3662; 0/10 -> 0-0.2775
    lo, hi = wilson(81, 263)
    assert lo == pytest.approx(0.2553, abs=5e-4) and hi == pytest.approx(0.3662, abs=5e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=5e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(11, 10)


def test_the_paired_bootstrap_holds_the_difference_and_narrows_when_pairs_agree():
    a = [True] * 30 + [False] * 10
    b = [True] * 20 + [False] * 20  # a solves 10 more, never fewer: the pairs are one-sided
    lo, hi = paired_bootstrap(a, b, seed=1)
    assert 0 < lo < 0.25 < hi < 0.45
    assert paired_bootstrap(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError):
        paired_bootstrap(a, b[:-1])
