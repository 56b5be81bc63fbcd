"""The verifier study's arithmetic: agreement between programs, AUROC, and an out-of-fold combination."""

from __future__ import annotations

import random

import pytest

from tests.test_bench_declared import load_bench


@pytest.fixture(scope="module")
def study():
    return load_bench("verifier_study")


def test_agreement_is_the_share_of_other_programs_with_the_same_outputs(study):
    outs = [("4", "0"), ("4", "0"), ("5", "0"), ("4", None)]  # the last did not run input 2: left out
    assert study.agreement(outs) == [2 / 3, 2 / 3, 0.0, 2 / 3]
    assert study.agreement([("1",)]) == [None]  # one program agrees with nobody


def test_auroc_counts_ties_as_half_and_needs_both_classes(study):
    assert study.auroc([0.9, 0.8, 0.3, 0.2], [True, False, False, True]) == 0.5
    assert study.auroc([1.0, 0.0], [True, False]) == 1.0
    assert study.auroc([0.5, 0.5], [True, False]) == 0.5
    assert study.auroc([0.1, 0.2], [True, True]) is None


def test_the_combination_learns_which_signal_knows_out_of_fold(study):
    rng = random.Random(0)
    rows = []
    for p in range(40):
        for n in range(4):
            label = rng.random() < 0.5
            rows.append(
                study.NodeSignals(
                    f"P/{p}", "r", n, label,
                    critic_text=rng.random(), critic_expected=rng.random(), p_yes=rng.random(),
                    visible=(0.7 if label else 0.3) + rng.uniform(-0.3, 0.3), agreement=rng.random(),
                )
            )  # fmt: skip
    cv, weights = study.combined_auroc(rows, study.SIGNALS)
    assert cv > 0.85  # only "visible" carries the label, and the held-out folds still see it
    visible = study.SIGNALS.index("visible") + 1
    assert abs(weights[visible]) == max(abs(w) for w in weights[1:])
