"""The default embedded model, Qwen2.5-Coder-0.5B-Instruct, for real (slow: CI runs these too).

What holds for any numerics (bf16 on some CPUs, fp32 on others): it loads from the catalogue's
verified parts, and a short search's critic replies parse. That its greedy code passes most of a few
easy problems is ``tests/evaluation/test_evaluate_real.py``'s check, through the CLI. Exact texts and
scores differ between bf16 and fp32, so nothing here pins them.
"""

from __future__ import annotations

import pytest

from core.backends.catalogue import DEFAULT_KEY, default_model
from core.config import SearchConfig
from core.llm import ChatMessage
from core.problems.problem import get_problem
from core.search.mcts import Search

pytestmark = pytest.mark.slow


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


def test_a_two_iteration_search_parses_its_critic_replies(qwen) -> None:
    config = SearchConfig(max_iterations=2, seed=0, rollout=False)
    search = Search.start(get_problem("HumanEval/23"), config, qwen)
    search.run()
    usage = search.tree.usage
    print(f"\n0.5B search: {len(search.tree.nodes)} nodes, critic parse rate {usage.parse_rate}")
    assert usage.critic_replies >= 3 and usage.parse_rate is not None and usage.parse_rate >= 0.9


def test_p_yes_reads_a_probability_for_each_program(qwen) -> None:
    """The verifier study's P(yes) on the real model: a number in [0, 1] per program, whatever the numerics."""
    from core.config import REPAIR, preset
    from core.search.reasoner import Reasoner
    from core.tree.records import Usage

    problem = get_problem("HumanEval/23")  # strlen
    reasoner = Reasoner(qwen, preset(REPAIR), problem, Usage())
    right = "def strlen(string: str) -> int:\n    return len(string)\n"
    wrong = "def strlen(string: str) -> int:\n    return 0\n"
    got = reasoner.p_yes_many([right, wrong])
    print(f"\nP(yes): right {got[0]}, wrong {got[1]}")
    assert all(p is not None and 0.0 <= p <= 1.0 for p in got)
