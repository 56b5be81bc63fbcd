"""The neutral snapshot and its growing layout, and the plotly figure drawn from it."""

from __future__ import annotations

from core.tree.layout import GAP, growing_layout
from core.tree.snapshot import snapshot
from tests.scripted import ScriptedBackend
from ui.tree_plot import tree_figure


def _gaps_hold(pos) -> bool:
    by_depth: dict[int, list[float]] = {}
    for x, d in pos.values():
        by_depth.setdefault(d, []).append(x)
    return all(
        b - a >= GAP - 1e-9
        for xs in by_depth.values()
        for a, b in zip(sorted(xs), sorted(xs)[1:], strict=False)
    )


def test_a_growing_tree_keeps_every_placed_node_where_it_was(make_search):
    search = make_search(ScriptedBackend(), end_gate=1.0)
    before = growing_layout(search.tree)
    for _ in range(12):
        search.step()
        after = growing_layout(search.tree)
        assert {i: after[i] for i in before} == before  # nothing placed moves
        assert all(after[i][1] == search.tree.nodes[i].depth for i in after)
        assert _gaps_hold(after), "two nodes at one depth overlap"
        before = after
    assert len(before) > 10


def test_siblings_sit_in_order_centred_under_their_parent_when_there_is_room(make_search):
    search = make_search(ScriptedBackend(), end_gate=1.0, k=3)
    search.step()
    pos = growing_layout(search.tree)
    xs = [pos[c][0] for c in search.tree.root.children]
    assert xs == [-1.0, 0.0, 1.0]


def test_a_human_added_step_takes_a_free_place_without_moving_the_others(make_search):
    search = make_search(ScriptedBackend(), end_gate=1.0, k=3)
    search.run(3)
    before = growing_layout(search.tree)
    search.add_step(0, "Try the brute force first.")
    after = growing_layout(search.tree)
    assert {i: after[i] for i in before} == before and _gaps_hold(after)


def test_snapshot_marks_status_best_and_last_paths(make_search):
    search = make_search(ScriptedBackend(), end_gate=1.0)
    search.run(3)
    pruned = search.tree.root.children[-1]
    search.prune(pruned)
    snap = snapshot(search.tree)
    status = {n["id"]: n["status"] for n in snap.nodes}
    assert all(status[n.id] == "pruned" for n in search.tree.subtree(pruned))
    assert snap.best_path[0] == 0 and snap.best_path[-1] == search.best_node().id
    assert snap.last_selected_path and snap.last_selected_path[0] == 0
    assert len(snap.edges) == len(search.tree.nodes) - 1
    fig = tree_figure(snap)
    names = [t.name for t in fig.data]
    assert "nodes" in names and "pruned" in names and "best path" in names
