"""Execution feedback: a node whose code failed a visible test hands the failure (the call, what was
expected, what came back) to the reflection and the proposals below it, so the tree repairs."""

from __future__ import annotations

from core.config import SearchConfig
from core.execution.sandbox import run_tests
from core.problems.problem import Problem
from core.search.grounding import summarize
from core.search.mcts import Search
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
OFF_BY_ONE = "```python\ndef inc(x: int) -> int:\n    return x + 2"
RIGHT = "```python\ndef inc(x: int) -> int:\n    return x + 1"


def search(code: str, **config) -> tuple[Search, ScriptedBackend]:
    backend = ScriptedBackend(code=code)
    cfg = {"k": 1, "width": 1, "rollout": False, "reflection": True, "exec_weight": 0.5, "end_gate": 1.0}
    cfg["greedy_candidate"] = False
    return Search.start(PROBLEM, SearchConfig(**{**cfg, **config}), backend), backend


def prompts(backend: ScriptedBackend, tag: str) -> list[str]:
    return [r.messages[-1].content for call in backend.calls_with(tag) for r in call]


def test_a_failed_visible_test_says_what_the_call_returned():
    verdict = summarize(run_tests(OFF_BY_ONE.split("\n", 1)[1], PROBLEM.visible_tests, entry_point="inc"))
    assert verdict.first_failure == "assert inc(1) == 2 — inc(1) returned 3"


def test_the_failure_reaches_the_reflection_and_the_proposals_below_the_node():
    s, backend = search(OFF_BY_ONE)
    s.run(2)  # iteration 1 grows a child and runs its code; iteration 2 reflects on it and expands it
    child = s.tree.nodes[s.tree.root.children[0]]
    assert s.feedback(child) == "assert inc(1) == 2 — inc(1) returned 3"
    assert any("inc(1) returned 3" in p for p in prompts(backend, "reflect"))
    assert any("inc(1) returned 3" in p for p in prompts(backend, "propose"))
    assert child.reflection is not None and "inc(1) returned 3" in child.reflection.prompt


def test_no_feedback_when_the_code_passes_or_feedback_is_off_or_ungrounded():
    for code, config in (
        (RIGHT, {}),
        (OFF_BY_ONE, {"exec_feedback": False}),
        (OFF_BY_ONE, {"exec_weight": 0.0}),
    ):
        s, backend = search(code, **config)
        s.run(2)
        assert not any("returned" in p for p in prompts(backend, "reflect") + prompts(backend, "propose"))


def test_the_inspector_shows_the_failed_call_and_that_it_was_fed_back():
    from ui.inspector import inspect_node

    s, _backend = search(OFF_BY_ONE)
    s.run(1)
    child = s.tree.root.children[0]
    shown = inspect_node(s.tree, child)
    assert "#### Execution feedback" in shown and "inc(1) returned 3" in shown
    s_off, _ = search(OFF_BY_ONE, exec_feedback=False)
    s_off.run(1)
    assert "#### Execution feedback" not in inspect_node(s_off.tree, s_off.tree.root.children[0])


def test_the_direct_programs_failure_reaches_the_first_proposals():
    s, backend = search(OFF_BY_ONE, greedy_candidate=True)
    s.run(1)  # the root: the direct program runs, fails, and its failure goes to the root's proposals
    assert s.feedback(s.tree.root) == "assert inc(1) == 2 — inc(1) returned 3"
    first = prompts(backend, "propose")[0]
    assert "with no plan" in first and "inc(1) returned 3" in first


def test_a_direct_program_that_passes_the_examples_ends_the_search_when_accepted():
    s, backend = search(RIGHT, greedy_candidate=True, accept_direct=True)
    s.run()
    assert s.tree.stopped == "direct_passed" and len(s.tree.nodes) == 1
    assert not backend.calls_with("propose")  # no tree grown where plain decoding already passes
    assert "return x + 1" in s.answer_code().code

    failing, backend = search(OFF_BY_ONE, greedy_candidate=True, accept_direct=True)
    failing.run(1)
    assert failing.tree.stopped != "direct_passed" and backend.calls_with("propose")

    kept, _ = search(RIGHT, greedy_candidate=True)  # accept_direct off (the default): the tree grows
    kept.run(1)
    assert kept.tree.stopped != "direct_passed" and len(kept.tree.nodes) > 1


def test_a_failing_node_whose_reflection_says_end_is_repaired_not_ended():
    s, backend = search(OFF_BY_ONE, end_gate_min_depth=1, reflection=True)
    backend.reflections = ["<end>"] * 4
    s.run(2)  # iteration 2 reflects "<end>" on the failing child: with feedback it is expanded, not ended
    child = s.tree.nodes[s.tree.root.children[0]]
    assert not child.terminal and child.children
    from ui.inspector import open_after_end

    assert "failed a visible test" in open_after_end(s.tree, child)  # the inspector says why it is open
    off, backend_off = search(OFF_BY_ONE, end_gate_min_depth=1, reflection=True, exec_feedback=False)
    backend_off.reflections = ["<end>"] * 4
    off.run(2)
    ended = off.tree.nodes[off.tree.root.children[0]]
    assert ended.terminal and ended.terminal_reason == "refuted"
