"""Waves: a search selects several nodes at once and sends each role's requests of a wave in one call.

Width 1 is the sequential search: ``data/sequential_trees.json`` holds trees the engine grew before
waves existed (same problems, configs and seeds), and width 1 must grow them again exactly. At every
width the tree's invariants hold after each wave, with the user steering between waves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.config import SearchConfig
from core.problems.problem import get_problem
from core.search.backprop import children_mean
from core.search.mcts import Search
from core.search.selection import select_wave
from core.tree.events import EventKind
from core.tree.replay import tree_at
from tests.scripted import ScriptedBackend

SEQUENTIAL = json.loads((Path(__file__).parent / "data" / "sequential_trees.json").read_text())
TIMINGS = ("latency_s", "llm_seconds", "duration_s", "config")


def without_timings(x):
    if isinstance(x, dict):
        return {k: without_timings(v) for k, v in x.items() if k not in TIMINGS}
    if isinstance(x, list):
        return [without_timings(v) for v in x]
    return x


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_width_one_grows_the_sequential_search_tree(name):
    case = SEQUENTIAL[name]
    # what the engine learned after these trees were grown (execution feedback, the answer chosen by
    # running) is off: the trees are the sequential engine's, and width 1 must grow them exactly
    newer = {"exec_feedback": False, "answer_by_running": False}
    search = Search.start(
        get_problem(case["problem"]), SearchConfig(**case["config"], width=1, **newer), ScriptedBackend()
    )
    search.run()
    assert without_timings(search.tree.to_dict()) == case["tree"]


def selected_per_wave(search: Search) -> list[int]:
    before = len(search.tree.events)
    search.step()
    return [e.node for e in search.tree.events[before:] if e.kind is EventKind.SELECTED]


def test_a_wave_selects_distinct_open_nodes_kept_apart_by_virtual_loss(make_search):
    search = make_search(ScriptedBackend(), k=3, width=4, end_gate=1.0, max_iterations=50)
    assert selected_per_wave(search) == [0]  # a fresh tree has only its root to expand
    second = selected_per_wave(search)
    assert sorted(second) == sorted(search.tree.root.children)  # all three children, none twice
    third = selected_per_wave(search)
    assert len(third) == 4 and len(set(third)) == 4
    assert search.tree.iteration == 1 + 3 + 4


def test_virtual_loss_sends_the_next_pick_to_another_branch(make_search):
    search = make_search(ScriptedBackend(proposals=[["A (score 9)", "B (score 6)"]]), k=2, c=0.05, width=1)
    search.step()
    tree = search.tree
    a, b = (tree.nodes[i] for i in tree.root.children)
    a.visits, b.visits, tree.root.visits = 1, 1, 2
    a.value, b.value = 0.9, 0.6
    for text in ("A1", "A2"):
        tree.add_child(a.id, text, origin="policy", iteration=1)
    a.expanded = True
    a1 = a.children[0]
    # first pick: A (0.9 + 0.059) beats B (0.6 + 0.059), then A's unvisited child A1
    # second pick: A carries a virtual loss, 0.9 * 1/2 + 0.052 = 0.502, below B's 0.6 + 0.074
    assert [p.node for p in select_wave(tree, 2, 2)] == [a1, b.id]
    assert [p.node for p in select_wave(tree, 2, 1)] == [a1]  # width 1: plain selection


def test_each_role_of_a_wave_is_one_batched_call(make_search):
    backend = ScriptedBackend()
    search = make_search(
        backend, k=3, width=4, reflection=True, rollout=True, end_gate=1.0, max_iterations=50
    )
    search.step()
    backend.calls.clear()
    wave = selected_per_wave(search)
    assert len(wave) == 3
    tags = [call[0].tag for call in backend.calls]
    # reflect, propose, critic, rollout propose, rollout critic: one call each for the whole wave
    assert tags == ["reflect", "propose", "critic", "propose", "critic"]
    reflect, propose, critic, ahead, ahead_critic = backend.calls
    assert len(reflect) == len(propose) == len(ahead) == 3
    assert [r.n for r in propose] == [3, 3, 3] and [r.n for r in ahead] == [2, 2, 2]
    assert len(critic) == 9 and len(ahead_critic) == 6
    assert len({r.seed for r in propose}) == 3  # an engine that seeds each request apart samples apart


def test_run_and_the_budget_never_go_past_their_count(make_search):
    search = make_search(ScriptedBackend(), width=8, end_gate=1.0, max_iterations=6)
    search.run(2)
    assert search.tree.iteration == 2
    search.run()
    assert search.tree.iteration == 6 and search.tree.stopped == "max_iterations"


def assert_invariants(search: Search) -> None:
    tree = search.tree
    tree.validate()
    expanded: set[int] = set()
    for e in tree.events:  # expanded again only after the user forced or edited it
        if e.kind in (EventKind.FORCED, EventKind.EDITED):
            expanded.discard(e.node)
        elif e.kind is EventKind.EXPANDED:
            assert e.node not in expanded, f"node {e.node} was expanded twice (event {e.seq})"
            expanded.add(e.node)
    selections = [e.iteration for e in tree.events if e.kind is EventKind.SELECTED]
    assert len(selections) == len(set(selections)) and max(selections) <= tree.iteration
    for node in tree.nodes.values():
        live = [tree.nodes[c] for c in node.children if not (tree.nodes[c].pruned or tree.nodes[c].stale)]
        assert node.visits >= sum(c.visits for c in live), (
            f"node {node.id} has fewer visits than its children"
        )
        mean = children_mean(tree, node)
        if mean is not None:
            assert node.value == pytest.approx(mean), f"node {node.id} is not the mean of its children"
    # with no end gate every selection is backed up once: one visit at the root each
    assert tree.root.visits == len(selections)


@pytest.mark.parametrize("width", [2, 4, 8])
def test_invariants_hold_at_every_width_with_steering_between_waves(make_search, width):
    search = make_search(
        ScriptedBackend(reflections=["Analysis: go on."] * 5 + ["<end>"] * 3),
        k=3,
        width=width,
        reflection=True,
        rollout=True,
        end_gate=1.0,
        max_iterations=200,
    )
    tree = search.tree
    for wave in range(1, 9):
        chosen = selected_per_wave(search)
        assert 1 <= len(chosen) <= width and len(set(chosen)) == len(chosen)
        assert_invariants(search)
        if wave == 2:
            victim = tree.root.children[0]
            search.prune(victim)
            blocked = {n.id for n in tree.subtree(victim)}
        elif wave in (3, 4):
            assert not blocked & set(chosen), "a wave selected inside a pruned subtree"
        if wave == 4:
            search.unprune(victim)
            search.edit(tree.root.children[1], "Add the two numbers first. (score 5)")
            search.add_step(tree.root.children[2], "Check the empty list. (score 7)")
        if wave == 6:
            open_kids = [i for i in tree.root.children if tree.status(i) == "open"]
            target = min(open_kids, key=lambda i: tree.nodes[i].value)
            search.force(target)
            forced_next = selected_per_wave(search)
            assert forced_next[0] == target  # the user's choice goes first, the rest of the wave fills up
            assert_invariants(search)
        assert_invariants(search)
    assert search.tree.iteration > 8
    for it in range(search.tree.iteration + 1):
        tree_at(search.tree, it).validate()


def test_the_cli_takes_a_width_and_stops_at_its_iteration_count(tmp_path, monkeypatch):
    import io

    import core.backends
    from cli.search import SearchArgs, run_search

    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path))
    monkeypatch.setattr(core.backends, "load_backend", lambda kind, model: ScriptedBackend())
    err = io.StringIO()
    search = run_search(
        SearchArgs(problem="HumanEval/0", iterations=5, width=3, seed=0, code=False), io.StringIO(), err
    )
    assert search.tree.config.width == 3 and search.tree.iteration == 5
    assert "width 3" in err.getvalue()
    assert re.search(
        r"iter   4/5 .* selected #\d+,#\d+,#\d+ ", err.getvalue()
    )  # the root's 3 children at once
