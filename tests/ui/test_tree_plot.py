"""The tree figure: a label on every node, the colour the user chose, one scale per number in the hover."""

from __future__ import annotations

from core.tree.snapshot import snapshot
from tests.scripted import ScriptedBackend
from tests.search.test_grounding import GOOD
from tests.search.test_truthful_search import grounded
from ui.tree_plot import COLOURINGS, NO_VALUE, node_label, tree_figure


def nodes_trace(fig):
    return next(t for t in fig.data if t.name == "nodes")


def test_every_node_has_a_short_label_with_its_score(make_search):
    search = make_search(ScriptedBackend(), end_gate=1.0)
    search.run(3)
    snap = snapshot(search.tree)
    trace = nodes_trace(tree_figure(snap))
    labels = dict(zip(trace.customdata, trace.text, strict=True))
    assert labels[0] == "problem"
    for node in snap.nodes[1:]:
        words = node["step"].split()
        assert labels[node["id"]].startswith(" ".join(words[:3]))
        assert labels[node["id"]].endswith(f"{node['score']:g}")
    assert node_label({"parent": 0, "step": "One two three four five", "parsed": False, "score": None}) == (
        "One two three… ?"
    )


def test_the_colour_follows_the_chosen_measure_and_grey_marks_what_was_not_measured():
    backend = ScriptedBackend(code=GOOD)
    search = grounded(backend, k=2)
    search.step()
    snap = snapshot(search.tree)
    by = {name: nodes_trace(tree_figure(snap, name)).marker.color for name in COLOURINGS}
    assert by["Q (value)"] != by["critic score"]
    ids = list(nodes_trace(tree_figure(snap)).customdata)
    root = ids.index(0)
    assert by["critic score"][root] == NO_VALUE  # the root has no critic score
    children = [ids.index(c) for c in search.tree.root.children]
    assert all(by["visible tests"][i] != NO_VALUE for i in children)  # grounded: their code ran
    bar = next(t for t in tree_figure(snap, "critic score").data if t.name == "colour bar")
    assert bar.marker.cmax == 10 and bar.marker.colorbar.title.text == "critic /10"


def test_the_hover_names_each_scale(make_search):
    search = make_search(ScriptedBackend(), end_gate=1.0)
    search.run(1)
    hover = nodes_trace(tree_figure(snapshot(search.tree))).hovertext[1]
    assert "(0–1)" in hover and "/10" in hover and "visible tests" in hover
