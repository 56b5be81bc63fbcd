"""The default embedded model, Qwen2.5-Coder-0.5B-Instruct, for real (slow: CI runs these too).

What holds for any numerics (bf16 on some CPUs, fp32 on others): it loads from the catalogue's
verified parts, its greedy code passes most of a few easy problems, and a short search's critic
replies parse. Exact texts and scores differ between bf16 and fp32, so nothing here pins them.
"""

from __future__ import annotations

import pytest

from core.backends.catalogue import DEFAULT_KEY, default_model
from core.config import SearchConfig
from core.evaluation.run import evaluate
from core.evaluation.spec import EvalSpec
from core.llm import ChatMessage
from core.problems.problem import get_problem
from core.search.mcts import Search

pytestmark = pytest.mark.slow

EASY = ("HumanEval/2", "HumanEval/23", "HumanEval/45")  # truncate_number, strlen, triangle_area


@pytest.fixture(scope="module")
def qwen():
    from core.backends import load_backend

    return load_backend("transformers", "embedded")


def test_the_default_loads_from_the_catalogue(qwen) -> None:
    entry = default_model()
    assert entry.key == DEFAULT_KEY and qwen.model_id == "embedded:Qwen2.5-Coder-0.5B-Instruct"
    assert qwen.model.config.model_type == "qwen2" and qwen.context_length == entry.context_length
    rendered = qwen.render((ChatMessage("user", "hi"),))
    assert rendered.rstrip().endswith("<|im_start|>assistant")  # Qwen2's chat template, from the GGUF


def test_greedy_code_passes_most_easy_problems(qwen) -> None:
    result = evaluate(EvalSpec(EASY, model=DEFAULT_KEY), qwen)
    passed = [r.problem_id for r in result.results if r.passed]
    print(f"\n0.5B greedy on {EASY}: passed {passed}")
    assert len(passed) >= 2, [(r.problem_id, r.verdicts[0].first_failure) for r in result.results]


def test_a_two_iteration_search_parses_its_critic_replies(qwen) -> None:
    config = SearchConfig(max_iterations=2, seed=0, rollout=False)
    search = Search.start(get_problem("HumanEval/23"), config, qwen)
    search.run()
    usage = search.tree.usage
    print(f"\n0.5B search: {len(search.tree.nodes)} nodes, critic parse rate {usage.parse_rate}")
    assert usage.critic_replies >= 3 and usage.parse_rate is not None and usage.parse_rate >= 0.9
