"""Replay: ``tree_at`` rebuilds the tree as it stood after each iteration, steering included."""

from __future__ import annotations

import pytest

from core.tree.replay import iterations, tree_at
from core.tree.snapshot import snapshot
from tests.scripted import ScriptedBackend


def steer_and_record(make_search, width: int = 1):
    """Run a steered search of 8 waves; return it with the live snapshot taken after each wave (and its
    steering), keyed by the iteration the tree stood at."""
    backend = ScriptedBackend(reflections=["Analysis: go on.", "Analysis: go on.", "<end>"])
    search = make_search(
        backend, k=3, reflection=True, rollout=True, end_gate=1.0, max_iterations=50, width=width
    )
    live = {}
    search.add_step(0, "Think about negative numbers first. (score 4)")  # steering before iteration 1
    live[0] = snapshot(search.tree)
    for wave in range(1, 9):
        search.step()
        tree = search.tree
        if wave == 2:
            search.prune(tree.root.children[-1])
        if wave == 3:
            parent = next(n for n in tree.nodes.values() if n.depth == 1 and n.children and not n.pruned)
            search.edit(parent.id, "Add the two numbers, then check the type. (score 3)")
        if wave == 5:
            search.unprune(next(n.id for n in tree.nodes.values() if n.pruned))
            search.add_step(tree.root.children[0], "Return a + b. (score 9)")
        if wave == 6:
            open_kids = [i for i in tree.root.children if tree.status(i) == "open"]
            search.force(min(open_kids, key=lambda i: tree.nodes[i].value))
            search.write_code()
        live[tree.iteration] = snapshot(search.tree)
    return search, live


@pytest.mark.parametrize("width", [1, 2, 4, 8])
def test_replay_equals_live_tree_after_every_wave(make_search, width):
    search, live = steer_and_record(make_search, width)
    tree = search.tree
    assert iterations(tree) == tree.iteration
    assert len(live) == 9  # every wave counted at least one iteration
    if width == 1:
        assert iterations(tree) == 8
    else:
        assert iterations(tree) > 8  # later waves select several nodes
    for it, snap in live.items():
        assert snapshot(tree_at(tree, it)) == snap, f"iteration {it}"
    for it in range(iterations(tree) + 1):  # inside a wave too: a tree that holds together
        tree_at(tree, it).validate()


def test_replay_at_the_last_iteration_is_the_live_tree(make_search):
    search, _ = steer_and_record(make_search)
    before = search.tree.to_json()
    again = tree_at(search.tree, iterations(search.tree))
    assert again.to_json() == before
    assert again is not search.tree and search.tree.to_json() == before  # the original is untouched


def test_replay_at_zero_is_the_root(make_search):
    search = make_search(end_gate=1.0)
    search.run(3)
    zero = tree_at(search.tree, 0)
    assert list(zero.nodes) == [0] and zero.root.children == []
    assert (zero.root.value, zero.root.visits, zero.root.history) == (0.0, 0, [])
    assert zero.iteration == 0 and zero.events == [] and zero.stopped == ""
    assert len(search.tree.nodes) > 1  # the original still has all of them


def test_prune_shows_only_from_its_iteration_on(make_search):
    search = make_search(end_gate=1.0)
    search.run(2)
    victim = search.tree.root.children[0]
    search.prune(victim)
    search.run(2)
    assert tree_at(search.tree, 1).status(victim) != "pruned"
    assert tree_at(search.tree, 2).status(victim) == "pruned"  # steering after iteration 2 is stamped 2
    assert tree_at(search.tree, 4).status(victim) == "pruned"


def test_edit_shows_the_old_text_before_and_the_new_text_after(make_search):
    backend = ScriptedBackend(proposals=[["A (score 2)", "B (score 6)"], ["A1 (score 5)", "A2 (score 7)"]])
    search = make_search(backend, k=2, end_gate=1.0)
    search.run(2)
    a_id = search.tree.root.children[0]
    kids = list(search.tree.nodes[a_id].children)
    search.edit(a_id, "A, sorted (score 3)")
    search.run(1)
    before, after = tree_at(search.tree, 1), tree_at(search.tree, 2)
    assert before.nodes[a_id].step == "A (score 2)" and before.nodes[a_id].original_step is None
    assert before.nodes[a_id].critic.score == 2 and before.nodes[a_id].value == pytest.approx(0.2)
    assert "not kept" in before.nodes[a_id].critic.note  # the replaced critic reply is gone
    assert (
        after.nodes[a_id].step == "A, sorted (score 3)" and after.nodes[a_id].original_step == "A (score 2)"
    )
    assert after.nodes[a_id].value == pytest.approx(0.3)
    assert all(after.status(k) == "stale" for k in kids)
    assert all(tree_at(search.tree, 2).nodes[k].stale for k in kids)
    assert not any(before.nodes[k].stale for k in kids if k in before.nodes)


def test_node_counts_and_visits_grow_with_iteration(make_search):
    search, _ = steer_and_record(make_search)
    trees = [tree_at(search.tree, it) for it in range(iterations(search.tree) + 1)]
    counts = [len(t.nodes) for t in trees]
    assert counts == sorted(counts) and counts[-1] == len(search.tree.nodes)
    assert [t.root.visits for t in trees] == sorted(t.root.visits for t in trees)
    for t in trees:
        assert all(c in t.nodes for n in t.nodes.values() for c in n.children)
        assert all(e.iteration <= t.iteration for e in t.events)


def test_out_of_range_iteration_is_a_clear_error(make_search):
    search = make_search(end_gate=1.0)
    search.run(3)
    with pytest.raises(ValueError, match=r"^iteration 4 is out of range: this tree has iterations 0\.\.3$"):
        tree_at(search.tree, 4)
    with pytest.raises(ValueError, match="out of range"):
        tree_at(search.tree, -1)
    with pytest.raises(ValueError, match="must be an integer"):
        tree_at(search.tree, "2")  # type: ignore[arg-type]
