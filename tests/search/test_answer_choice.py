"""Choosing the answer by running it: when several programs pass the visible tests, the outputs on new
inputs choose (the largest agreeing group), not the critic's score."""

from __future__ import annotations

import pytest

from core.config import SearchConfig
from core.problems.problem import Problem
from core.search.answer_choice import Outcome, choose, parse_inputs
from core.search.mcts import Search
from core.tree.events import EventKind
from tests.scripted import ScriptedBackend

PROBLEM = Problem(
    id="custom/inc",
    prompt='def inc(x: int) -> int:\n    """Add one to x."""\n',
    entry_point="inc",
    visible_tests=("assert inc(1) == 2",),
    hidden_test=None,
    canonical_solution=None,
    source="custom",
)
STEPS = ["Add one to x (score 6)", "Return one plus x (score 5)", "Add one when x is small (score 9)"]
CODES = {
    "Add one to x": "```python\ndef inc(x: int) -> int:\n    return x + 1",
    "Return one plus x": "```python\ndef inc(x: int) -> int:\n    return 1 + x",
    "Add one when x is small": "```python\ndef inc(x: int) -> int:\n    return x + 1 if x < 5 else 0",
}


def code_for(step: str) -> str:
    return next(code for start, code in CODES.items() if start in step)


def grown(answer_by_running: bool = True) -> tuple[Search, dict[str, int]]:
    backend = ScriptedBackend(proposals=[STEPS], code_for=code_for, inputs="inc(1)\ninc(10)\ninc(-3)\n")
    cfg = SearchConfig(
        k=3,
        width=1,
        rollout=False,
        reflection=False,
        exec_weight=0.5,
        greedy_candidate=False,
        end_gate=1.0,
        answer_by_running=answer_by_running,
    )
    search = Search.start(PROBLEM, cfg, backend)
    search.step()
    ids = {search.tree.nodes[c].step.split(" (")[0]: c for c in search.tree.root.children}
    return search, ids


def test_the_answer_is_chosen_by_executed_outputs_not_by_the_critic():
    search, ids = grown()
    small = ids["Add one when x is small"]
    assert search.best_node().id == small  # before running them: the critic's favourite (score 9)
    code = search.answer_code()
    assert search.best_node().id == ids["Add one to x"]  # two of three agree on inc(10) == 11
    assert "x + 1" in code.code and "else 0" not in code.code
    event = next(e for e in search.tree.events if e.kind is EventKind.ANSWER)
    assert event.data["inputs"] == ["inc(1)", "inc(10)", "inc(-3)"]
    assert event.data["outputs"][str(small)] == ["2", "0", "-2"]
    assert sorted(event.data["groups"][0]) == sorted([ids["Add one to x"], ids["Return one plus x"]])
    assert "2 of 3 candidates agree" in event.data["reason"]
    assert search.choose_answer().chosen == ids["Add one to x"]  # the same candidates: not asked again
    assert sum(1 for e in search.tree.events if e.kind is EventKind.ANSWER) == 1


def test_without_running_the_best_value_stays_the_answer():
    search, ids = grown(answer_by_running=False)
    search.answer_code()
    assert search.best_node().id == ids["Add one when x is small"]
    assert not any(e.kind is EventKind.ANSWER for e in search.tree.events)


def test_a_new_passing_program_makes_the_choice_out_of_date():
    search, ids = grown()
    search.answer_code()
    search.tree.nodes[ids["Return one plus x"]].stale = True  # edited away, say
    assert search.best_node().id != ids["Return one plus x"]
    from core.tree.queries import chosen_answer

    assert chosen_answer(search.tree) is None


@pytest.mark.parametrize(
    ("reply", "calls"),
    [
        ("inc(1)\ninc(-5)", ["inc(1)", "inc(-5)"]),
        ("1. inc(2)\n2. `inc(3)`\n>>> inc(4)", ["inc(2)", "inc(3)", "inc(4)"]),
        ("inc(x)\ninc([i for i in range(3)])\nos.system('rm -rf /')\nprint(1)", []),
        ("inc(1)\ninc(1)\nHere are some inputs:\ninc(**{'x': 1})", ["inc(1)"]),
        # how small models write them: printed with the output in a comment, asserted on, assigned
        ("print(inc([]))  # Output: []\nassert inc(2) == 3\ny = inc(-1)", ["inc([])", "inc(2)", "inc(-1)"]),
        ("print(inc(1), inc(2))\nprint(len(inc(1)))\nassert inc(x) == 1\nx = y = inc(7)", ["inc(7)"]),
    ],
)
def test_only_literal_calls_of_the_entry_point_are_inputs(reply, calls):
    assert parse_inputs(reply, "inc") == calls


def test_ties_go_to_the_group_with_the_best_value_and_unrun_inputs_are_left_out():
    tie = choose([Outcome(1, 0.2, ("1",)), Outcome(2, 0.9, ("2",))])
    assert tie.chosen == 2
    unknown = choose([Outcome(1, 0.9, ("1", None)), Outcome(2, 0.2, ("1", "5")), Outcome(3, 0.5, ("2", "5"))])
    assert unknown.chosen == 1  # inputs 2 did not run on #1: only input 1 compares; #1 and #2 agree
    with pytest.raises(ValueError):
        choose([])


def test_the_inspector_shows_the_inputs_the_outputs_and_why():
    from ui.inspector import inspect_node

    search, ids = grown()
    search.answer_code()
    chosen = inspect_node(search.tree, ids["Add one to x"])
    assert "#### Answer chosen by running the candidates" in chosen and "This node is the answer" in chosen
    assert "<code>inc(10)</code>" in chosen and "2 of 3 candidates agree" in chosen
    other = inspect_node(search.tree, ids["Add one when x is small"])
    assert f"The answer is #{ids['Add one to x']}" in other and "| 0 |" in other


def test_a_candidate_that_raises_where_others_return_is_left_out_even_when_it_is_the_majority():
    # HumanEval/9's repair tree: two programs read numbers[0] unguarded and raise on [], one returns []
    outcomes = [
        Outcome(7, 0.94, ("[]", "[1]")),
        Outcome(8, 0.95, ("raised IndexError", "[1]")),
        Outcome(9, 0.95, ("raised IndexError", "[1]")),
    ]
    choice = choose(outcomes)
    assert choice.chosen == 7
    assert "#8, #9 raised" in choice.reason and choice.groups == [[7]]
    everyone_raises = choose(
        [Outcome(1, 0.2, ("raised ValueError",)), Outcome(2, 0.9, ("raised ValueError",))]
    )
    assert everyone_raises.chosen == 2  # no difference between them: the value decides
