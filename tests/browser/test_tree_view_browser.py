"""The clickable tree view (ui/tree_view.py): its payload and event parsing, and in a real Chromium.

The browser tests are marked slow and browser; run them with
``python -m pytest -q -m slow tests/browser``. The payload tests at the top are fast.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import gradio as gr
import plotly
import pytest

from core.config import SearchConfig
from core.problems.problem import Problem
from core.search.mcts import Search
from core.tree.snapshot import snapshot
from tests.browser.conftest import is_loopback, serve
from tests.scripted import ScriptedBackend
from ui.tree_view import PLOTLY_JS, create_tree_view, selected_node_id, tree_view_payload

PROBLEM = Problem(
    id="custom/toy",
    prompt='def add(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> add(1, 2)\n    3\n    """\n',
    entry_point="add",
    visible_tests=("assert add(1, 2) == 3",),
    hidden_test=None,
    canonical_solution=None,
    source="custom",
)


def scripted_search(iterations: int = 5) -> Search:
    cfg = SearchConfig(reflection=False, rollout=False, end_gate=1.0, max_iterations=200)
    search = Search.start(PROBLEM, cfg, ScriptedBackend())
    search.run(iterations)
    return search


# --- fast: the payload and the event ------------------------------------------------------------


def test_payload_carries_the_figure_the_ids_and_the_selection():
    search = scripted_search(3)
    snap = snapshot(search.tree)
    body = json.loads(tree_view_payload(snap, selected=2, scope="run-1"))
    assert body["nodes"] == len(snap.nodes) and body["selected"] == 2 and body["scope"] == "run-1"
    nodes = next(t for t in body["figure"]["data"] if t["name"] == "nodes")
    assert sorted(nodes["customdata"]) == sorted(n["id"] for n in snap.nodes)
    assert len(nodes["hovertext"]) == len(snap.nodes)
    assert "template" not in body["figure"]["layout"]
    assert tree_view_payload(None) == ""


def test_payload_keeps_script_tags_out_of_the_string():
    search = scripted_search(1)
    search.tree.nodes[1].step = "Emit <script>alert(1)</script> and </SCRIPT>"
    text = tree_view_payload(snapshot(search.tree))
    assert not re.search(r"<\s*/?script", text, re.IGNORECASE)
    hover = " ".join(next(t for t in json.loads(text)["figure"]["data"] if t["name"] == "nodes")["hovertext"])
    assert "<script>alert(1)</script>" in hover


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"id": 7}, 7),
        ({"id": 7.0}, 7),
        ({"id": "12"}, 12),
        ({"id": 0}, 0),
        ({"id": -1}, None),
        ({"id": 1.5}, None),
        ({"id": True}, None),
        ({"id": "x"}, None),
        ({"id": None}, None),
        ({}, None),
        (None, None),
        ("7", None),
        ([7], None),
    ],
)
def test_selected_node_id_tolerates_bad_payloads(data, expected):
    assert selected_node_id(gr.EventData(None, data)) == expected
    assert selected_node_id(SimpleNamespace(_data=data)) == expected


def test_selected_node_id_without_an_event():
    assert selected_node_id(None) is None


def test_vendored_plotly_js_matches_the_plotly_package():
    """The figure JSON comes from the Python package; the browser runs the copy in assets/vendor."""
    from pathlib import Path

    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    ours, theirs = PLOTLY_JS.read_bytes()[:200], shipped.read_bytes()[:200]
    version = re.compile(rb"plotly\.js v[\d.]+")
    assert version.search(ours), "assets/vendor/plotly.min.js is not plotly.js"
    assert version.search(ours).group() == version.search(theirs).group(), (
        f"refresh the vendored copy: cp {shipped} {PLOTLY_JS}"
    )


# --- slow: a real Chromium --------------------------------------------------------------------

VIEW = "#tree-view .sra-tree"
PLOT = "#tree-view .sra-tree-plot"

# Screen position of the nodes-trace point that is farthest from any other (so the click is unambiguous).
FIND_NODE = """(sel) => {
  const gd = document.querySelector(sel);
  const fl = gd._fullLayout, box = gd.getBoundingClientRect();
  const tr = gd._fullData.find((t) => t.name === 'nodes');
  const px = (i) => [box.left + fl._size.l + fl.xaxis.l2p(tr.x[i]), box.top + fl._size.t + fl.yaxis.l2p(tr.y[i])];
  let best = null;
  for (let i = 0; i < tr.x.length; i++) {
    const [x, y] = px(i);
    let near = Infinity;
    for (let j = 0; j < tr.x.length; j++) {
      if (j !== i) { const [u, v] = px(j); near = Math.min(near, Math.hypot(x - u, y - v)); }
    }
    if (tr.customdata[i] !== 0 && (!best || near > best.near)) best = { id: tr.customdata[i], x, y, near };
  }
  return best;
}"""

X_RANGE = (
    "(sel) => document.querySelector(sel)._fullLayout.xaxis.range.map((v) => Math.round(v * 1000) / 1000)"
)

RING_POINTS = """(sel) => {
  const gd = document.querySelector(sel);
  const ring = gd.data.find((t) => t.name === 'selection');
  return ring ? ring.x.length : -1;
}"""


def on_select(evt: gr.EventData) -> str:
    node = selected_node_id(evt)
    return "" if node is None else str(node)


@pytest.fixture(scope="module")
def tree_demo():
    search = scripted_search(5)

    def grow() -> str:
        search.run(3)
        return tree_view_payload(snapshot(search.tree), scope="demo")

    with gr.Blocks(analytics_enabled=False) as demo:
        view = create_tree_view(value=tree_view_payload(snapshot(search.tree), scope="demo"))
        picked = gr.Textbox(label="Selected node", elem_id="picked")
        more = gr.Button("Grow", elem_id="grow")
        view.select(on_select, None, picked, api_name="select_node")
        more.click(grow, None, view, api_name="grow")
    with serve(demo) as url:
        yield url, search


def node_count(pg) -> int:
    return int(pg.get_attribute(VIEW, "data-node-count") or 0)


@pytest.mark.slow
@pytest.mark.browser
def test_clicking_a_node_selects_it_in_python(tree_demo, page, artifacts):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    url, search = tree_demo
    pg, log = page
    pg.goto(url)
    try:
        pg.wait_for_function(
            f"() => Number(document.querySelector('{VIEW}')?.dataset.nodeCount) > 0", timeout=30_000
        )
    except PlaywrightTimeout:
        pytest.fail(
            f"the tree view never drew; data-error={pg.get_attribute(VIEW, 'data-error')!r}, "
            f"console errors: {log.errors}, requests off loopback: {log.external}"
        )
    assert node_count(pg) == len(search.tree.nodes)
    assert pg.locator(f"{PLOT} .scatterlayer .point").count() >= len(search.tree.nodes)

    node = pg.evaluate(FIND_NODE, PLOT)
    pg.mouse.move(node["x"], node["y"])
    expect(pg.locator(f"{PLOT} .hoverlayer .hovertext")).to_contain_text(f"#{node['id']}")
    pg.mouse.click(node["x"], node["y"])
    expect(pg.locator("#picked textarea, #picked input").first).to_have_value(str(node["id"]))
    assert pg.get_attribute(VIEW, "data-selected") == str(node["id"])
    assert pg.evaluate(RING_POINTS, PLOT) == 1
    pg.screenshot(path=str(artifacts / "tree_view_selected.png"), full_page=True)

    # The user zooms (wheel): a new value from Python redraws in place, with more nodes, the plot
    # intact, and the zoom and the selection kept.
    full = pg.evaluate(X_RANGE, PLOT)
    pg.mouse.move(node["x"], node["y"])
    pg.mouse.wheel(0, -400)
    pg.wait_for_function(f"(full) => ({X_RANGE})('{PLOT}').join() !== full.join()", arg=full)
    zoomed = pg.evaluate(X_RANGE, PLOT)
    before = node_count(pg)
    pg.click("#grow")
    pg.wait_for_function(f"() => Number(document.querySelector('{VIEW}').dataset.nodeCount) > {before}")
    assert node_count(pg) == len(search.tree.nodes)
    assert pg.locator(f"{PLOT} .scatterlayer .point").count() >= len(search.tree.nodes)
    assert pg.get_attribute(VIEW, "data-selected") == str(node["id"])
    assert pg.evaluate(RING_POINTS, PLOT) == 1
    assert pg.evaluate(X_RANGE, PLOT) == zoomed != full
    pg.screenshot(path=str(artifacts / "tree_view_grown.png"), full_page=True)

    plotly_js = [u for u in log.responses if u.endswith("plotly.min.js")]
    assert plotly_js and all(log.responses[u] == 200 for u in plotly_js), log.responses
    assert all(is_loopback(u) for u in log.responses)
    assert not log.external, f"requests left loopback: {log.external}"
    assert not log.errors, f"console errors: {log.errors}"
