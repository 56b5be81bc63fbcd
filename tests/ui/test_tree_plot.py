"""The tree figure: a label on every node, the colour the user chose, one scale per number in the hover."""

from __future__ import annotations

from core.tree.snapshot import snapshot
from tests.scripted import ScriptedBackend
from tests.search.test_grounding import GOOD
from tests.search.test_truthful_search import grounded
from ui.tree_plot import COLOURINGS, NO_VALUE, WORD_CHARS, node_label, node_labels, tree_figure


def nodes_trace(fig):
    return next(t for t in fig.data if t.name == "nodes")


def test_every_node_has_a_short_label_with_the_score_its_value_uses(make_search):
    search = make_search(ScriptedBackend(), end_gate=1.0)
    search.run(3)
    snap = snapshot(search.tree)
    trace = nodes_trace(tree_figure(snap))
    labels = dict(zip(trace.customdata, trace.text, strict=True))
    assert labels[0] == "problem"
    for node in snap.nodes[1:]:
        critic = search.tree.nodes[node["id"]].critic
        assert labels[node["id"]].endswith(f"{critic.value * 10:.1f}")  # the value's score, not the sample
        assert len(labels[node["id"]]) <= 2 * WORD_CHARS + 6
    assert node_label({"id": 1, "parent": 0, "step": "One two three four", "parsed": False}) == "one two ?"


def test_sibling_labels_leave_out_the_words_they_share_and_differ():
    def node(i, step, used=5.0):
        return {"id": i, "parent": 0 if i else None, "step": step, "parsed": True, "used_score": used}

    nodes = [
        node(0, ""),
        node(1, "We need to sort the numbers first.", 5.03),
        node(2, "We need to count the numbers with a dictionary."),
        node(3, "We need to compare each pair of numbers."),
    ]
    labels = node_labels(nodes)
    assert labels[1] == "sort 5.0" and labels[2] == "count dictionary 5.0" and labels[3] == "compare pair 5.0"
    assert len({labels[i] for i in (1, 2, 3)}) == 3
    long = node_labels([node(0, ""), node(4, "Implement the remove_reversed_permutations helper")])
    assert long[4] == "remove_re… helper 5.0"


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
