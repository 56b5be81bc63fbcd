"""Candidate paths, sibling negatives and decisions, on scripted search trees."""

from __future__ import annotations

import pytest

from core.curation.candidates import CandidatePath, Decision, candidate_paths, path_of, sibling_paths
from core.tree.queries import best_node
from tests.scripted import ScriptedBackend


@pytest.fixture
def search(make_search):
    # Seeded scripted steps, depth 2: 12 nodes, 4 of them terminal at max depth; best node 7 (value 0.5).
    s = make_search(ScriptedBackend(), max_depth=2, max_iterations=8, end_gate=1.0)
    s.run()
    return s


def test_candidates_are_the_best_path_then_finished_paths_by_value(search):
    tree = search.tree
    paths = candidate_paths(tree, "run-1")
    ids = [p.node_id for p in paths]
    assert ids[0] == best_node(tree).id
    assert len(ids) == len(set(ids))
    finished = {n.id for n in tree.nodes.values() if n.terminal and n.terminal_reason != "no_new_steps"}
    assert set(ids) == finished
    assert [p.value for p in paths[1:]] == sorted((p.value for p in paths[1:]), reverse=True)
    assert all(p.run_id == "run-1" and p.problem == tree.problem for p in paths)


def test_no_new_steps_pruned_and_stale_ends_are_left_out(search):
    tree = search.tree
    first, second, third, *_ = candidate_paths(tree, "r")
    tree.nodes[second.node_id].terminal_reason = "no_new_steps"
    tree.nodes[third.node_id].stale = True
    tree.nodes[first.node_id].pruned = True
    ids = {p.node_id for p in candidate_paths(tree, "r")}
    assert not ids & {first.node_id, second.node_id, third.node_id}


def test_best_path_without_any_terminal_is_still_offered(make_search):
    search = make_search(ScriptedBackend(proposals=[["A (score 6)", "B (score 4)"]]), k=2)
    search.step()
    assert [p.steps for p in candidate_paths(search.tree, "r")] == [["A (score 6)"]]


def test_path_carries_code_scores_labels_and_provenance(search):
    tree = search.tree
    best = best_node(tree)
    search.write_code(best.id)
    path = path_of(tree, best.id, "run-1")
    assert path.code.strip() == "def solution():\n    return 1"
    assert path.steps == tree.steps(best.id) and len(path.labels) == len(path.steps)
    assert [x.node_id for x in path.labels] == [n.id for n in tree.path(best.id)[1:]]
    assert path.critic_score == best.critic.value and path.value == best.value
    assert path.provenance == {
        "model": "scripted-v1",
        "backend": "scripted",
        "adapter": None,
        "seed": tree.config.seed,
        "config_hash": tree.config.digest(),
    }
    assert path.visible is None and path.hidden is None  # the code was never run
    with pytest.raises(ValueError):
        path_of(tree, 0, "run-1")


def test_sibling_paths_are_off_path_and_worse_by_the_margin(search):
    tree = search.tree
    best = best_node(tree)
    on_path = {n.id for n in tree.path(best.id)}
    siblings = sibling_paths(tree, best.id, run_id="r", margin=0.1)
    assert siblings, "the seeded tree has weaker branches"
    assert all(s.node_id not in on_path and s.value <= best.value - 0.1 + 1e-9 for s in siblings)
    assert [s.value for s in siblings] == sorted(s.value for s in siblings)
    assert sibling_paths(tree, best.id, margin=1.0) == []


def test_decision_checks_its_verdict_and_keeps_the_original(search):
    path = candidate_paths(search.tree, "r")[0]
    with pytest.raises(ValueError, match="decision must be one of"):
        Decision(path, "maybe")
    d = Decision(
        path, "accept", edited_steps=["Just add them."], edited_code="def add(a, b):\n    return a + b"
    )
    assert d.steps == ["Just add them."] and d.code.startswith("def add")
    assert path.steps != d.steps and path.code == ""
    assert Decision(path, "skip").steps == path.steps
    assert d.created_at.endswith("+00:00")


def test_decisions_round_trip_through_plain_dicts(search):
    best = best_node(search.tree)
    search.write_code(best.id)
    path = path_of(search.tree, best.id, "r")
    d = Decision(
        path, "reject", comment="off by one", annotator="ada", created_at="2026-01-01T00:00:00+00:00"
    )
    again = Decision.from_dict(d.to_dict())
    assert again == d
    assert CandidatePath.from_dict(path.to_dict()) == path
