"""The critic's score read from per-token log-probabilities (hand-computed distributions)."""

from __future__ import annotations

import math

import pytest

from core.config import SearchConfig
from core.llm import Completion, GenerationResult, TokenLogprob
from core.problems.problem import get_problem
from core.search.mcts import Search
from core.search.score_distribution import score_distribution
from tests.scripted import ScriptedBackend

L = math.log


def pos(token: str, p: float, *top: tuple[str, float]) -> TokenLogprob:
    return TokenLogprob(token, L(p), tuple((t, L(q)) for t, q in top) or ((token, L(p)),))


def test_a_sampled_ten_splits_the_one_with_the_next_positions_zero():
    dist = score_distribution(
        [pos(" ", 0.9), pos("1", 0.6, ("1", 0.6), ("8", 0.3)), pos("0", 0.9, ("0", 0.9), (".", 0.05))]
    )
    assert dist.probs[10] == pytest.approx(0.6 * 0.9 / 0.9) and dist.probs[8] == pytest.approx(0.3 / 0.9)
    assert dist.probs[1] == pytest.approx(0.6 * 0.1 / 0.9) and not dist.approximate
    assert dist.expected == pytest.approx(10 * 0.6 + 8 * 0.3 / 0.9 + 0.6 * 0.1 / 0.9)
    assert dist.mass == pytest.approx(0.9)


def test_an_unfollowed_one_counts_as_ten_and_is_flagged():
    dist = score_distribution([pos("8", 0.5, ("8", 0.5), ("1", 0.3), ("5", 0.1))])
    assert dist.approximate
    assert dist.probs[8] == pytest.approx(0.5 / 0.9) and dist.probs[10] == pytest.approx(0.3 / 0.9)
    assert dist.expected == pytest.approx((8 * 0.5 + 10 * 0.3 + 5 * 0.1) / 0.9)


def test_a_reply_that_ends_after_a_one_meant_one():
    dist = score_distribution([pos("1", 0.7, ("1", 0.7), ("2", 0.2))])
    assert dist.probs[1] == pytest.approx(0.7 / 0.9) and dist.probs[10] == 0.0


def test_whole_number_tokens_and_spaces_are_read_and_non_scores_ignored():
    dist = score_distribution([pos(" 7", 0.4, (" 7", 0.4), ("10", 0.3), ("great", 0.2), ("11", 0.1))])
    assert dist.probs[7] == pytest.approx(0.4 / 0.7) and dist.probs[10] == pytest.approx(0.3 / 0.7)
    assert sum(dist.probs) == pytest.approx(1.0)


def test_no_logprobs_or_no_number_gives_none():
    assert score_distribution(None) is None
    assert score_distribution([]) is None
    assert score_distribution([pos("The", 0.5), pos(" path", 0.5)]) is None


class LogprobCritic(ScriptedBackend):
    """Replies "Score: 10" with a distribution that puts 0.3 on 8 and 0.06 on 1."""

    def _answer(self, req):
        res = super()._answer(req)
        if req.tag != "critic" or not req.top_logprobs:
            return res
        lp = (pos(" ", 0.9), pos("1", 0.6, ("1", 0.6), ("8", 0.3)), pos("0", 0.9, ("0", 0.9), (".", 0.05)))
        return GenerationResult((Completion(" 10", "stop", 3, lp),), res.prompt_text, res.prompt_tokens, 0.0)


def test_the_critic_takes_the_expected_score_and_keeps_the_sampled_one():
    search = Search.start(
        get_problem("HumanEval/0"),
        SearchConfig(k=1, rollout=False, reflection=False, critic_value="distribution"),
        LogprobCritic(),
    )
    search.step()
    critic = search.tree.nodes[search.tree.root.children[0]].critic
    expected = 10 * 0.6 + 8 * 0.3 / 0.9 + 0.6 * 0.1 / 0.9
    assert critic.source == "distribution" and critic.score == 10 and critic.parsed
    assert critic.expected == pytest.approx(expected) and critic.value == pytest.approx(expected / 10)
    assert len(critic.distribution) == 11 and search.tree.usage.critic_distributions == 1


def test_without_logprobs_the_text_score_is_used_and_the_record_says_why():
    search = Search.start(
        get_problem("HumanEval/0"),
        SearchConfig(k=1, rollout=False, reflection=False, critic_value="distribution"),
        ScriptedBackend(proposals=[["Check (score 7)"]]),
    )
    search.step()
    critic = search.tree.nodes[search.tree.root.children[0]].critic
    assert critic.source == "text" and critic.value == pytest.approx(0.7) and critic.distribution is None
    assert "no log-probabilities" in critic.note and search.tree.usage.critic_distributions == 0


def test_the_paper_critic_asks_for_no_logprobs():
    backend = LogprobCritic()
    Search.start(
        get_problem("HumanEval/0"), SearchConfig(k=1, rollout=False, reflection=False), backend
    ).step()
    assert all(r.top_logprobs == 0 for call in backend.calls for r in call)
