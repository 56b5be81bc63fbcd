"""The search tells the truth: each defect found in the grounded search has a test here.

Every test fails on the engine before this file (53599e6) and passes now; the comment on each
says what used to happen.
"""

from __future__ import annotations

import json
import math
import random

import pytest

from core.config import SearchConfig, preset
from core.llm import BackendUnavailable
from core.problems.problem import get_problem
from core.search.mcts import Search, SearchPaused
from core.search.selection import select
from core.tree.queries import best_node
from core.tree.replay import tree_at
from core.tree.snapshot import snapshot
from tests.scripted import ScriptedBackend
from tests.search.test_grounding import GOOD, WRONG

# passes both docstring examples of HumanEval/0 and fails its hidden tests
EXAMPLES_ONLY = """```python
def has_close_elements(numbers, threshold):
    return numbers == [1.0, 2.8, 3.0, 4.0, 5.0, 2.0]"""


def grounded(backend: ScriptedBackend, **config) -> Search:
    cfg = {"k": 1, "rollout": False, "reflection": False, "exec_weight": 0.5, "greedy_candidate": False}
    return Search.start(get_problem("HumanEval/0"), SearchConfig(**{**cfg, **config}), backend)


# 1. A failed test verdict is kept and reaches the ancestors -------------------------------------------


def test_a_new_childs_failing_tests_are_in_its_value_before_backprop():
    # before: code ran only at the end gate, so the root took the critic's 0.9
    search = grounded(ScriptedBackend(proposals=[["Compare every pair (score 9)"]], code=WRONG))
    search.step()
    child = search.tree.nodes[search.tree.root.children[0]]
    assert child.execution is not None and child.execution.visible.pass_rate == 0.0
    assert child.value == pytest.approx(0.5 * 0.9) and search.tree.root.value == pytest.approx(0.45)


def test_a_node_at_the_gate_whose_tests_fail_is_refuted_not_expanded():
    # before: a small weight left it above the gate, and the search stopped on it as the answer
    backend = ScriptedBackend(proposals=[["A (score 10)"], ["B (score 2)"]], code=WRONG)
    search = grounded(backend, exec_weight=0.1, end_gate_min_depth=1, max_iterations=4)
    search.run()
    a = search.tree.nodes[search.tree.root.children[0]]
    assert a.value == pytest.approx(0.9) and a.execution.reward == pytest.approx(0.9)
    assert a.terminal and a.terminal_reason == "refuted" and not a.children
    assert search.tree.stopped != "end_gate" and best_node(search.tree).id != a.id


# 2. Checking a node by hand changes nothing the search does ---------------------------------------------


def test_code_and_tests_by_hand_never_changes_the_search():
    # before: the unapplied record made the search skip grounding that node at the gate
    def run(check_by_hand: bool) -> list[tuple]:
        backend = ScriptedBackend(proposals=[["A (score 9)"], ["A1 (score 9)"]], code=WRONG)
        search = grounded(backend, end_gate_min_depth=1, max_iterations=3)
        search.step()
        if check_by_hand:
            record = search.execute(search.tree.root.children[0])
            assert not record.applied
        search.run()
        return [(n.id, n.value, n.terminal_reason, n.visits) for n in search.tree.nodes.values()]

    assert run(True) == run(False)


# 3. An edit clears what described the old text ------------------------------------------------------------


def test_an_edit_clears_the_old_code_verdicts_and_rollout():
    # before: the old code, test verdicts and rollout stayed on the edited node
    backend = ScriptedBackend(code=WRONG)
    search = grounded(backend, k=2, rollout=True)
    search.step()
    node = next(n for n in search.tree.nodes.values() if n.rollout is not None)
    search.execute(node.id)
    old_code = node.code
    search.edit(node.id, "Sort the numbers, then compare neighbours (score 7)")
    assert node.rollout is None and node.check is None
    assert node.code is not old_code and "Sort the numbers, then compare neighbours" in node.code.prompt
    assert node.execution is not None and node.value == pytest.approx(node.execution.reward)
    plain = Search.start(get_problem("HumanEval/0"), SearchConfig(k=2, reflection=False), ScriptedBackend())
    plain.step()
    target = next(n for n in plain.tree.nodes.values() if n.rollout is not None)
    plain.write_code(target.id)
    plain.execute(target.id)
    plain.edit(target.id, "Another plan (score 4)")
    assert (
        target.code is None and target.execution is None and target.check is None and target.rollout is None
    )


# 4. The echo filter drops only repeated instructions ---------------------------------------------------------


def test_a_step_that_follows_the_hint_is_kept_and_an_echoed_instruction_is_dropped_with_a_reason():
    # before: any step inside the whole prompt (hint and docstring included) was dropped as "echo"
    backend = ScriptedBackend(
        proposals=[
            ["Check each pair (score 5)"],
            ["Sort the numbers first (score 6)", "Do not write any code."],
        ],
        reflections=["Sort the numbers first"],
    )
    search = Search.start(get_problem("HumanEval/0"), SearchConfig(k=2, rollout=False, end_gate=1.0), backend)
    search.run(2)
    a = search.tree.nodes[search.tree.root.children[0]]
    assert [search.tree.nodes[c].step for c in a.children] == ["Sort the numbers first (score 6)"]
    [echo] = a.expansion.dropped
    assert echo.reason == "echo" and "instructions" in echo.note


# 5. The final answer respects the config -------------------------------------------------------------------


def test_the_answer_is_chosen_by_value_not_by_being_terminal(make_search):
    # before: any terminal node beat every live node, whatever its value
    backend = ScriptedBackend(proposals=[["A (score 2)", "B (score 9)"]], reflections=["<end>"])
    search = make_search(backend, k=2, reflection=True, end_gate=1.0, end_gate_min_depth=1)
    search.run(2)  # A, unvisited, is selected second and ends
    a, b = (search.tree.nodes[i] for i in search.tree.root.children)
    assert a.terminal and not b.terminal and b.value > a.value
    assert best_node(search.tree).id == b.id


def test_a_shallow_end_is_no_answer(make_search):
    # before: a depth-1 "<end>" became a terminal answer despite end_gate_min_depth = 2
    backend = ScriptedBackend(proposals=[["A (score 9)"]], reflections=["<end>"])
    search = make_search(backend, k=1, reflection=True, end_gate=1.0, end_gate_min_depth=2)
    search.run(2)
    a = search.tree.nodes[search.tree.root.children[0]]
    assert not a.terminal and a.children


def test_a_grounded_answer_passes_the_examples_when_any_node_does():
    # before: the answer was the best-valued node, even when its code failed and another's passed
    class Codes(ScriptedBackend):
        def _answer(self, req):
            if req.tag == "code":
                self.code = GOOD if "Good plan" in req.messages[-1].content else WRONG
            return super()._answer(req)

    backend = Codes(proposals=[["Vague plan (score 10)", "Good plan (score 1)"]])
    search = grounded(backend, k=2, end_gate=1.0, exec_weight=0.3)
    search.step()
    vague, good = (search.tree.nodes[i] for i in search.tree.root.children)
    assert vague.value > good.value  # 0.7 * 1.0 + 0.3 * 0 > 0.7 * 0.1 + 0.3 * 1
    assert best_node(search.tree).id == good.id


def test_the_direct_program_is_the_answer_when_no_path_passes():
    # before: a grounded search had no greedy candidate, so it could end below greedy decoding
    codes = iter([GOOD, WRONG, WRONG, WRONG])

    class FirstGood(ScriptedBackend):
        def _answer(self, req):
            if req.tag == "code":
                self.code = next(codes)
            return super()._answer(req)

    search = grounded(FirstGood(proposals=[["A (score 8)"]]), greedy_candidate=True, end_gate=1.0)
    search.step()
    root = search.tree.root
    assert root.code is not None and root.execution.visible.passed and not root.execution.applied
    assert best_node(search.tree).id == root.id


# 6. One bad batch does not end a branch ---------------------------------------------------------------------


def test_an_expansion_whose_samples_are_all_dropped_asks_again():
    # before: the root became "no_new_steps" and the search ended with the root as the answer
    backend = ScriptedBackend(proposals=[["```python\nx = 1\n```"], ["Check every pair (score 5)"]])
    search = Search.start(
        get_problem("HumanEval/0"), SearchConfig(k=1, rollout=False, reflection=False), backend
    )
    search.step()
    root = search.tree.root
    assert len(root.children) == 1 and root.expansion.attempts == 2 and not root.terminal
    assert [d.reason for d in root.expansion.dropped] == ["unusable"] and search.tree.iteration == 1


def test_an_iteration_that_added_nothing_is_not_counted():
    backend = ScriptedBackend(proposals=[["Check every pair (score 5)"], *[["```python\nx = 1\n```"]] * 3])
    cfg = SearchConfig(k=1, rollout=False, reflection=False, propose_retries=2, end_gate=1.0)
    search = Search.start(get_problem("HumanEval/0"), cfg, backend)
    search.step()
    assert search.tree.iteration == 1
    search.step()  # its three proposal calls give nothing: the node is a dead end, and no iteration ran
    a = search.tree.nodes[search.tree.root.children[0]]
    assert a.terminal_reason == "no_new_steps" and a.expansion.attempts == 3
    assert search.tree.iteration == 1 and not search.finished


# 7. Undo on pause restores usage ------------------------------------------------------------------------------


class FailOnce(ScriptedBackend):
    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.fail_on, self.count = fail_on, 0

    def generate(self, requests):
        self.count += 1
        if self.count == self.fail_on:
            raise BackendUnavailable("model server unreachable")
        return super().generate(requests)


def test_a_paused_and_resumed_search_equals_an_uninterrupted_one():
    # before: the failed iteration's calls stayed in tree.usage, so seeds and the parse rate drifted
    cfg = SearchConfig(k=2, reflection=True, rollout=True, end_gate=1.0, max_iterations=4)
    whole = Search.start(get_problem("HumanEval/0"), cfg, FailOnce(0))
    whole.run()
    paused = Search.start(get_problem("HumanEval/0"), cfg, FailOnce(7))  # the critic, after two calls
    paused.run(1)
    usage = json.dumps(paused.tree.to_dict()["usage"])
    with pytest.raises(SearchPaused):
        paused.step()
    assert json.dumps(paused.tree.to_dict()["usage"]) == usage
    paused.run()
    assert paused.tree.to_dict()["nodes"] == whole.tree.to_dict()["nodes"]
    assert paused.tree.to_dict()["usage"] == whole.tree.to_dict()["usage"]


# 8. Replay shows the grounded values --------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 4])
def test_replay_of_a_grounded_search_equals_the_live_tree_after_every_wave(width):
    # before: tree_at ignored EXECUTED events, so it showed critic values where the live tree had rewards
    class Alternating(ScriptedBackend):
        def _answer(self, req):
            if req.tag == "code":
                self.code = GOOD if len(self.calls) % 3 else WRONG
            return super()._answer(req)

    search = grounded(
        Alternating(),
        k=2,
        rollout=True,
        end_gate=1.0,
        greedy_candidate=True,
        max_iterations=5 * width,
        width=width,
    )
    live = {0: snapshot(search.tree)}
    for wave in range(1, 6):
        search.step()
        if wave == 3:
            search.execute(search.tree.root.children[0])  # a check by hand is replayed too
        live[search.tree.iteration] = snapshot(search.tree)
    assert len(live) == 6
    values = {n.execution.reward for n in search.tree.nodes.values() if n.execution and n.execution.applied}
    assert len(values) > 1  # the rewards differ, so a replay that drops them would show
    for it, snap in live.items():
        assert snapshot(tree_at(search.tree, it)) == snap, f"iteration {it}"


# 9. "paper defaults" selects as the reference does ------------------------------------------------------------


def reference_ucb(value10: float, visits: int, parent_visits: int) -> float:
    """The reference's UCB on the critic's 0-10 scale: c = 0.5, an unvisited child gets its value + 8."""
    if visits == 0:
        return value10 + 8
    return value10 + 0.5 * math.sqrt(2 * math.log(max(parent_visits, 1)) / visits)


@pytest.mark.parametrize("seed", range(40))
def test_paper_defaults_pick_the_child_the_reference_picks(seed, make_search):
    # before: c = 0.5 and a bonus of 10 on [0, 1] values explored ten times harder than the reference
    rng = random.Random(seed)
    search = Search.start(
        get_problem("HumanEval/0"), preset("paper defaults").replace(k=4), ScriptedBackend()
    )
    search.step()
    tree = search.tree
    kids = [tree.nodes[i] for i in tree.root.children]
    tree.root.visits = rng.randint(2, 30)
    for kid in kids:
        kid.visits = rng.choice([0, 0, 1, 2, 3, 5, 8])
        kid.value = rng.randint(0, 10) / 10
    want = max(kids, key=lambda n: (reference_ucb(10 * n.value, n.visits, tree.root.visits), -n.id))
    assert select(tree, 2).path == [0, want.id]


# 10. Hidden tests stay out of the reward unless the run is leaky ----------------------------------------------


@pytest.mark.parametrize("leaky", [False, True])
def test_the_reward_grounds_on_visible_tests_unless_leaky(leaky):
    # before: swapping "hidden if leaky else visible" passed every test
    search = grounded(
        ScriptedBackend(proposals=[["Plan (score 6)"]], code=EXAMPLES_ONLY), exec_hidden_in_reward=leaky
    )
    search.step()
    ex = search.tree.nodes[search.tree.root.children[0]].execution
    assert ex.visible.passed and not ex.hidden.passed and ex.leaky is leaky
    assert ex.reward == pytest.approx(0.5 * 0.6 + 0.5 * (0.0 if leaky else 1.0))


# Worked examples ----------------------------------------------------------------------------------------------


def test_worked_examples_are_an_earlier_chat_turn_on_a_problem_outside_humaneval():
    from core.problems.problem import load_humaneval
    from core.worked_examples import EXAMPLES, PROBLEM

    backend = ScriptedBackend(reflections=["go on"])
    cfg = SearchConfig(k=1, rollout=False, worked_examples=True, end_gate=1.0)
    Search.start(get_problem("HumanEval/0"), cfg, backend).run(2)
    roles = {call[0].tag: [m.role for m in call[0].messages] for call in backend.calls}
    assert roles["propose"] == roles["critic"] == roles["reflect"] == ["system", "user", "assistant", "user"]
    for call in backend.calls:
        example, reply = call[0].messages[1].content, call[0].messages[2].content
        assert PROBLEM in example and reply == EXAMPLES[call[0].tag][1]
    assert not any("second_largest" in p.prompt for p in load_humaneval())
    plain = ScriptedBackend()
    Search.start(get_problem("HumanEval/0"), cfg.replace(worked_examples=False), plain).step()
    assert all([m.role for m in c[0].messages] == ["system", "user"] for c in plain.calls)


def test_a_step_that_copies_the_worked_example_is_an_echo():
    from core.worked_examples import EXAMPLES

    copied = EXAMPLES["propose"][1].split(". ", 1)[1]
    backend = ScriptedBackend(proposals=[[copied, "Check each pair (score 5)"]])
    cfg = SearchConfig(k=2, rollout=False, reflection=False, worked_examples=True, end_gate=1.0)
    search = Search.start(get_problem("HumanEval/0"), cfg, backend)
    search.step()
    assert [search.tree.nodes[c].step for c in search.tree.root.children] == ["Check each pair (score 5)"]
    assert [d.reason for d in search.tree.root.expansion.dropped] == ["echo"]
