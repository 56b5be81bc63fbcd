"""The neutral snapshot and its tidy layout, and the plotly figure drawn from it."""

from __future__ import annotations

from core.tree.snapshot import snapshot, tidy_layout
from tests.scripted import ScriptedBackend
from ui.tree_plot import tree_figure


def test_tidy_layout_centres_parents_and_never_overlaps(make_search):
    search = make_search(ScriptedBackend(), end_gate=1.0)
    search.run(6)
    tree = search.tree
    pos = tidy_layout(tree)
    assert set(pos) == set(tree.nodes)
    for node in tree.nodes.values():
        if node.children:
            xs = [pos[c][0] for c in node.children]
            assert pos[node.id][0] == (xs[0] + xs[-1]) / 2
        assert pos[node.id][1] == node.depth
    by_depth: dict[int, list[float]] = {}
    for x, d in pos.values():
        by_depth.setdefault(d, []).append(x)
    assert all(len(xs) == len(set(xs)) for xs in by_depth.values())


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
