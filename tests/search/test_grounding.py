"""Execution-grounded reward: terminal nodes get code, visible and hidden verdicts, and a blended reward."""

from __future__ import annotations

import pytest

from core.config import SearchConfig
from core.problems.problem import get_problem
from core.search.grounding import problem_imports
from core.search.mcts import Search
from core.tree.events import EventKind
from tests.scripted import ScriptedBackend

GOOD = """```python
def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for i, a in enumerate(numbers):
        for b in numbers[i + 1:]:
            if abs(a - b) < threshold:
                return True
    return False"""
WRONG = "```python\ndef has_close_elements(numbers, threshold):\n    return None"


def terminal_search(code: str, **config) -> Search:
    """HumanEval/0; the first child (critic 6) is declared complete by the reflection (without execution
    feedback, which would expand a failing child to repair it instead)."""
    backend = ScriptedBackend(proposals=[["Compare every pair (score 6)"]], reflections=["<end>"], code=code)
    cfg = SearchConfig(
        **{
            "k": 1,
            "rollout": False,
            "exec_weight": 0.5,
            "end_gate_min_depth": 1,
            "exec_feedback": False,
            **config,
        }
    )
    search = Search.start(get_problem("HumanEval/0"), cfg, backend)
    search.run(2)
    return search


def test_a_correct_path_earns_the_visible_pass_rate():
    search = terminal_search(GOOD)
    node = search.tree.nodes[search.tree.root.children[0]]
    ex = node.execution
    assert node.terminal and node.terminal_reason == "reflection"
    assert ex.visible.passed and ex.visible.pass_rate == 1.0 and ex.visible.tests == 2
    assert ex.hidden.passed and not ex.leaky
    assert ex.critic_value == pytest.approx(0.6) and ex.reward == pytest.approx(0.5 * 0.6 + 0.5 * 1.0)
    assert node.value == pytest.approx(ex.reward)
    kinds = [e.kind for e in search.tree.events]
    assert EventKind.CODE in kinds and EventKind.EXECUTED in kinds


def test_a_wrong_path_is_pulled_down_and_the_failing_assert_is_shown():
    search = terminal_search(WRONG)
    node = search.tree.nodes[search.tree.root.children[0]]
    ex = node.execution
    assert ex.visible.pass_rate == 0.0 and not ex.hidden.passed
    assert "assert" in ex.visible.first_failure
    assert node.value == pytest.approx(0.5 * 0.6)


def test_weight_zero_reproduces_the_paper_and_runs_no_code():
    search = terminal_search(WRONG, exec_weight=0.0)
    node = search.tree.nodes[search.tree.root.children[0]]
    assert node.execution is None and node.code is None and node.value == pytest.approx(0.6)


def test_leaky_opt_in_uses_the_hidden_tests_and_says_so():
    search = terminal_search(GOOD, exec_hidden_in_reward=True)
    ex = search.tree.nodes[search.tree.root.children[0]].execution
    assert ex.leaky and ex.reward == pytest.approx(0.5 * 0.6 + 0.5 * 1.0)


def test_any_node_can_be_executed_without_changing_its_value():
    backend = ScriptedBackend(proposals=[["Compare every pair (score 6)"]], code=GOOD)
    search = Search.start(
        get_problem("HumanEval/0"), SearchConfig(k=1, rollout=False, reflection=False), backend
    )
    search.step()
    child = search.tree.root.children[0]
    before = search.tree.nodes[child].value
    record = search.execute(child)
    assert record.hidden.passed and search.tree.nodes[child].value == before
    with pytest.raises(ValueError, match="root"):
        search.execute(0)


def test_the_end_gate_does_not_stop_on_a_path_the_tests_reject():
    backend = ScriptedBackend(proposals=[["A (score 9)"], ["A1 (score 9)"], ["A2 (score 2)"]], code=WRONG)
    cfg = SearchConfig(
        k=1, rollout=False, reflection=False, exec_weight=0.5, end_gate=0.88, end_gate_min_depth=1
    )
    search = Search.start(get_problem("HumanEval/0"), cfg, backend)
    search.run(3)
    a = search.tree.nodes[search.tree.root.children[0]]
    assert a.execution is not None and a.value < 0.88  # grounded at the gate, then expanded
    assert search.tree.stopped != "end_gate" and a.children


def test_problem_imports_are_prepended_for_the_tests():
    assert problem_imports(get_problem("HumanEval/0")) == "from typing import List"
