"""Reply shapes seen from real small models, and the verdicts we want for them."""

from __future__ import annotations

import pytest

from core.search.parsing import (
    ParsedScore,
    ReflectionVerdict,
    normalize_step,
    parse_critic_score,
    parse_reflection,
    step_key,
)

# (reply, expected score or None, expected method)
SCORE_CASES = [
    ("Score: 7", 7.0, "labelled"),
    ("7", 7.0, "bare_number"),
    ("score：8/10", 8.0, "labelled"),
    ("**Score**: 6", 6.0, "labelled"),
    ("**Score: 6**", 6.0, "labelled"),
    ("Score = 7.5", 7.5, "labelled"),
    ("I would rate this 8/10.", 8.0, "fraction"),
    ("Rating: 9 out of 10", 9.0, "labelled"),
    ("The score is 4.", 4.0, "labelled"),
    ("Score: [7]", 7.0, "labelled"),
    ("Score: 7\n\nExplanation: the first two steps are right but the loop is missing.", 7.0, "labelled"),
    (
        "The path identifies the base case correctly.\nHowever, step 2 mixes up indices,\n"
        "so the recursion never ends.\nScore: 3",
        3.0,
        "labelled",
    ),
    ("Final score: 10/10", 10.0, "labelled"),
    ("Score: 12", None, "unparsed"),
    ("Score: -1", None, "unparsed"),
    ("score: seven", 7.0, "word"),
    ("N/A", None, "unparsed"),
    ("", None, "unparsed"),
    ("   \n  ", None, "unparsed"),
    ("The problem is not solved yet.", None, "unparsed"),
    ("Score: 3. On reflection the loop is right.\nScore: 8", 8.0, "labelled"),
    ("Step 2: compute the total.\nStep 3: return it.", None, "unparsed"),
    ("```python\nx = 2\nreturn x + 5\n```", None, "unparsed"),
    ("Score: 7/10", 7.0, "labelled"),
    ("7/10", 7.0, "fraction"),
    ("(8/10)", 8.0, "fraction"),
    ("Score: 0 (code appears)", 0.0, "labelled"),
    ("**8**", 8.0, "bare_number"),
    ("Score (0-10): 5", 5.0, "labelled"),
    ("I'd give it a rating of 6 because step 3 is missing.", 6.0, "labelled"),
    ("Value: 4", 4.0, "labelled"),
    ("The return value is 4 when n is 2.", None, "unparsed"),
    ("There are 3 steps and 2 of them are right.", None, "unparsed"),
    ("Score: **9**", 9.0, "labelled"),
    ("score for this path: 2", 2.0, "labelled"),
    ("Score: 4/5", 8.0, "labelled"),
    ("12/10", None, "unparsed"),
    ("Score: high", None, "unparsed"),
]


@pytest.mark.parametrize(("reply", "score", "method"), SCORE_CASES)
def test_parse_critic_score(reply: str, score: float | None, method: str) -> None:
    parsed = parse_critic_score(reply)
    assert parsed.score == score
    assert parsed.method == method
    assert parsed.parsed is (score is not None)
    if score is None:
        assert parsed.note, "an unparsed reply must say why"


def test_out_of_range_is_noted_not_clamped() -> None:
    parsed = parse_critic_score("Score: 12")
    assert parsed.score is None and "outside 0..10" in parsed.note


def test_revised_score_takes_last_and_notes_it() -> None:
    parsed = parse_critic_score("Score: 3 ... wait, re-reading it. Score: 8")
    assert parsed.score == 8.0
    assert "took the last" in parsed.note and "3" in parsed.note


def test_repeated_equal_scores_have_no_note() -> None:
    assert parse_critic_score("Score: 5\nScore: 5").note == ""


def test_labelled_beats_fraction_and_bare() -> None:
    assert parse_critic_score("It is about 9/10 done. Score: 6").score == 6.0


def test_normalized() -> None:
    assert parse_critic_score("Score: 7").normalized == pytest.approx(0.7)
    assert ParsedScore(None, False, "unparsed", "x").normalized is None


# (reply, is_end, analysis, parsed)
REFLECTION_CASES = [
    ("<end>", True, "", True),
    ("  <END>  ", True, "", True),
    ("**<end>**", True, "", True),
    ("`<end>`.", True, "", True),
    ('"<end>"', True, "", True),
    ("<end>\nThe path computes the sum and returns it.", True, "", True),
    ("Solved.", True, "", True),
    ("Verdict: solved", True, "", True),
    ("The problem is solved.", True, "", True),
    ("Verdict: <end>", True, "", True),
    ("Not solved.", False, "Not solved.", True),
    ("The problem isn't solved yet.", False, "The problem isn't solved yet.", True),
    ("Unsolved", False, "Unsolved", True),
    ("Not yet solved.", False, "Not yet solved.", True),
    ("The problem hasn't been solved.", False, "The problem hasn't been solved.", True),
    (
        "The path sorts the list but never removes duplicates; once it does, we can output <end>.",
        False,
        "The path sorts the list but never removes duplicates; once it does, we can output <end>.",
        True,
    ),
    ("Analysis: The loop bound is\n  off by one.", False, "The loop bound is off by one.", True),
    ("**Analysis:** Handle the empty list.", False, "Handle the empty list.", True),
    ("", False, "", False),
    ("Analysis:", False, "", False),
]


@pytest.mark.parametrize(("reply", "is_end", "analysis", "parsed"), REFLECTION_CASES)
def test_parse_reflection(reply: str, is_end: bool, analysis: str, parsed: bool) -> None:
    verdict = parse_reflection(reply)
    assert isinstance(verdict, ReflectionVerdict)
    assert (verdict.is_end, verdict.analysis, verdict.parsed) == (is_end, analysis, parsed)


def test_reflection_notes() -> None:
    assert parse_reflection("").note == "empty reply"
    assert "<end>" in parse_reflection("Fix step 2, then output <end>.").note
    assert "negated" in parse_reflection("Not solved: the loop is missing.").note


def test_reflection_analysis_is_capped() -> None:
    verdict = parse_reflection("word " * 200)
    assert len(verdict.analysis) <= 400
    assert verdict.analysis.endswith("word")
    assert "truncated" in verdict.note


# (reply, expected step or None)
STEP_CASES = [
    ("Sort the list in ascending order.", "Sort the list in ascending order."),
    ("Step 3: Compare each pair of adjacent numbers.", "Compare each pair of adjacent numbers."),
    ("Next step: Check whether the list is empty.", "Check whether the list is empty."),
    ("**Step 2**: Track the running maximum.", "Track the running maximum."),
    ("**Step 2:** Track the running maximum.", "Track the running maximum."),
    ("- Count the vowels in the string.", "Count the vowels in the string."),
    ("* Count the vowels in the string.", "Count the vowels in the string."),
    ("1. Split the string on spaces.", "Split the string on spaces."),
    ("1) Split the string on spaces.", "Split the string on spaces."),
    (
        '"Reverse the string and compare it with the original."',
        "Reverse the string and compare it with the original.",
    ),
    ("**Merge the two halves.**", "Merge the two halves."),
    ("Next step:\n\nUse a for loop over the list.", "Use a for loop over the list."),
    ("Sure! Here is the next step:\nStep 4: Return the count.", "Return the count."),
    ("  Iterate   over\tthe digits.  \nThen sum them.", "Iterate over the digits."),
    ("Use a for loop over the list", "Use a for loop over the list"),
    ("Step through the list and keep a counter.", "Step through the list and keep a counter."),
    ("Return the sum of the even numbers.", "Return the sum of the even numbers."),
    ("Check if n is prime", "Check if n is prime"),
    ("for i in range(n):", None),
    ("def add(a, b):\n    return a + b", None),
    ("return sum(nums)", None),
    ("import math", None),
    ("```python\nx = sorted(nums)\n```", None),
    ("result = sorted(nums)", None),
    ("if not nums: return 0", None),
    ("Ok", None),
    ("", None),
    ("Step 2:", None),
    ("   \n\n", None),
]


@pytest.mark.parametrize(("reply", "expected"), STEP_CASES)
def test_normalize_step(reply: str, expected: str | None) -> None:
    assert normalize_step(reply) == expected


def test_normalize_step_caps_at_word_boundary() -> None:
    step = normalize_step("Consider " + "every element " * 40)
    assert step is not None and len(step) <= 300
    assert step.split()[-1] in {"every", "element"}


def test_step_key_collapses_case_punctuation_and_spaces() -> None:
    assert step_key("Sort the list.") == step_key("  sort   THE list ")
    assert step_key("Sort the list") != step_key("Sort the lists")
    assert step_key("Use a hash_map!") == "use a hash map"
