"""A clickable search-tree view: plotly.js inside a ``gr.HTML``, served from ``assets/`` (works offline).

``gr.Plot`` has no click events, so this view draws the figure from ``ui.tree_plot`` itself and
reports a clicked node back to Python as a ``select`` event whose payload is ``{"id": <node id>}``.

Example::

    def on_select(evt: gr.EventData) -> str:      # the type hint is what makes Gradio pass the event
        return str(selected_node_id(evt))

    view = create_tree_view()                     # inside a gr.Blocks
    view.select(on_select, None, node_box)
    ...
    yield tree_view_payload(snapshot(search.tree), selected=node_id, scope=run_id)

The value is one JSON string (``{"figure", "nodes", "selected", "scope"}``); the browser redraws
with ``Plotly.react`` on each new value and keeps the user's zoom while ``scope`` stays the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr

from core.tree.snapshot import Snapshot
from ui.tree_plot import DEFAULT_COLOURING, tree_figure

VENDOR_DIR = Path(__file__).resolve().parent.parent / "assets" / "vendor"
PLOTLY_JS = VENDOR_DIR / "plotly.min.js"
# Relative, so that it also resolves when the app is mounted under a sub-path.
PLOTLY_URL = f"gradio_api/file={quote(str(PLOTLY_JS))}"
TREE_VIEW_HEAD = f'<script src="{PLOTLY_URL}"></script>'

_SCRIPT_TAG = re.compile(r"<(?=/?script)", re.IGNORECASE)

# No ${value} here on purpose: Gradio re-renders the template on every value change and morphs
# the DOM, which would wipe plotly's children. A template that never changes is left alone.
_HTML = '<div class="sra-tree" data-node-count="0"><div class="sra-tree-plot"></div></div>'
_CSS = ".sra-tree-plot { width: 100%; min-height: 460px; }"

# Runs once per mount, after TREE_VIEW_HEAD has loaded plotly.js.
# element, trigger, props, watch are given by gr.HTML.
_JS = r"""
const box = element.querySelector('.sra-tree');
const plot = element.querySelector('.sra-tree-plot');
const RING = 'selection';
const state = { scope: undefined, selected: null, fig: null, bound: false };
const config = { displaylogo: false, scrollZoom: true, responsive: true,
                 modeBarButtonsToRemove: ['select2d', 'lasso2d'] };

function parse(raw) {
  if (!raw) return null;
  try { return typeof raw === 'string' ? JSON.parse(raw) : raw; }
  catch (err) { console.error('tree view: bad payload', err); return null; }
}

function locate(data, id) {
  for (const tr of data) {
    if (tr.name === RING || !Array.isArray(tr.customdata)) continue;
    const i = tr.customdata.indexOf(id);
    if (i < 0) continue;
    const size = Array.isArray(tr.marker && tr.marker.size) ? tr.marker.size[i] : (tr.marker && tr.marker.size) || 10;
    return { x: tr.x[i], y: tr.y[i], size: size };
  }
  return null;
}

function withRing(data, id) {
  const at = id === null ? null : locate(data, id);
  // Always present (empty when nothing is selected) so that the trace count stays stable for react.
  return data.concat([{
    type: 'scatter', mode: 'markers', name: RING, hoverinfo: 'skip', showlegend: false,
    x: at ? [at.x] : [], y: at ? [at.y] : [],
    marker: { symbol: 'circle-open', size: at ? at.size + 12 : 0, color: '#e11d48',
              line: { width: 3, color: '#e11d48' } },
  }]);
}

function draw() {
  if (!window.Plotly) {
    box.dataset.error = 'plotly.js did not load';
    console.error('tree view: window.Plotly is missing (assets/vendor/plotly.min.js not served?)');
    return;
  }
  const payload = parse(props.value);
  if (!payload || !payload.figure) {
    state.fig = null; state.selected = null; state.scope = null; state.bound = false;
    window.Plotly.purge(plot);  // also drops plotly's event handlers, hence bound = false
    box.dataset.nodeCount = '0';
    delete box.dataset.selected;
    return;
  }
  if (payload.scope !== state.scope) { state.scope = payload.scope; state.selected = null; }
  if (payload.selected !== null && payload.selected !== undefined) state.selected = payload.selected;
  state.fig = payload.figure;
  render(payload.nodes);
}

function render(nodeCount) {
  const fig = state.fig;
  if (!fig) return;
  if (state.selected !== null && !locate(fig.data, state.selected)) state.selected = null;
  // Labels and the colour bar follow the page's theme (Gradio marks dark mode with a "dark" class).
  const dark = document.body.classList.contains('dark') || document.documentElement.classList.contains('dark')
    || !!document.querySelector('gradio-app .dark, .gradio-container.dark');
  const font = Object.assign({}, fig.layout.font || {}, { color: dark ? '#e5e7eb' : '#1f2937' });
  const layout = Object.assign({}, fig.layout, { uirevision: String(state.scope ?? 'tree'), font: font });
  window.Plotly.react(plot, withRing(fig.data, state.selected), layout, config).then(() => {
    declutter();
    if (nodeCount !== undefined) box.dataset.nodeCount = String(nodeCount);
    if (state.selected === null) delete box.dataset.selected;
    else box.dataset.selected = String(state.selected);
    bind();
  });
}

// A label that would overlap one drawn before it (the best path's come first), or reach past the
// plot area, is hidden; hovering its node still shows the whole step. Runs after every redraw
// (zoom, resize), so zooming in brings hidden labels back.
function declutter() {
  const area = plot.querySelector('.nsewdrag');
  if (!area) return;
  const bounds = area.getBoundingClientRect();
  const kept = [];
  let hidden = 0;
  plot.querySelectorAll('.scatterlayer .trace text').forEach((label) => {
    label.style.display = '';
    if (!label.textContent) return;
    const r = label.getBoundingClientRect();
    const inside = r.left >= bounds.left && r.right <= bounds.right && r.top >= bounds.top && r.bottom <= bounds.bottom;
    const clash = kept.some((k) => r.left < k.right && r.right > k.left && r.top < k.bottom && r.bottom > k.top);
    if (inside && !clash) { kept.push(r); return; }
    label.style.display = 'none';
    hidden += 1;
  });
  box.dataset.labelsShown = String(kept.length);
  box.dataset.labelsHidden = String(hidden);
}

function bind() {
  if (state.bound || typeof plot.on !== 'function') return;
  state.bound = true;
  plot.on('plotly_afterplot', declutter);
  plot.on('plotly_click', (ev) => {
    const point = ev && ev.points && ev.points[0];
    if (!point || point.customdata === undefined || point.customdata === null) return;
    const id = Number(point.customdata);
    if (!Number.isInteger(id)) return;
    state.selected = id;
    box.dataset.selected = String(id);
    trigger('select', { id: id });
    render();
  });
}

if (typeof ResizeObserver === 'function') {
  // The view may mount in a hidden tab (zero width): resize once it is shown.
  new ResizeObserver(() => {
    if (state.fig && window.Plotly && box.offsetWidth > 0) window.Plotly.Plots.resize(plot).catch(() => {});
  }).observe(box);
}
// Values can arrive faster than a big tree redraws: draw only the latest, once per frame.
let queued = false;
function drawSoon() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => { queued = false; draw(); });
}
draw();
watch('value', drawSoon);
"""


def static_paths() -> list[Path]:
    """What Gradio must serve for the view: pass to ``gr.set_static_paths`` (done by create_tree_view)."""
    return [VENDOR_DIR]


_registered = False


def _register_static_paths() -> None:
    global _registered  # gr.set_static_paths appends, so do it once per process
    if not _registered:
        gr.set_static_paths(static_paths())
        _registered = True


def tree_view_payload(
    snap: Snapshot | None,
    selected: int | None = None,
    *,
    scope: str | None = None,
    colour_by: str = DEFAULT_COLOURING,
) -> str:
    """The view's value: the tree_plot figure, the node count, the selected node and the scope.

    ``selected`` draws a ring around that node; None keeps whatever the user last clicked.
    ``scope`` (e.g. the run id) keeps zoom and the clicked node while it is unchanged and resets
    both when it changes. ``colour_by`` is a key of ``ui.tree_plot.COLOURINGS``. An empty string
    (or ``snap=None``) clears the view.
    """
    if snap is None:
        return ""
    fig = tree_figure(snap, colour_by).to_plotly_json()
    layout = {k: v for k, v in fig["layout"].items() if k != "template"}  # plotly.js defaults suffice
    for trace in fig["data"]:
        color = trace.get("marker", {}).get("color")
        if isinstance(color, list):
            trace["marker"]["color"] = [round(c, 4) if isinstance(c, float) else c for c in color]
    body: dict[str, Any] = {
        "figure": {"data": fig["data"], "layout": layout},
        "nodes": len(snap.nodes),
        "selected": selected,
        "scope": scope,
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)
    # Step text is model output: keep "<script" out of the string so that gr.HTML does not warn.
    return _SCRIPT_TAG.sub(r"\\u003c", text)


def create_tree_view(elem_id: str = "tree-view", label: str = "Search tree", **kwargs: Any) -> gr.HTML:
    """The clickable tree view. Listen with ``.select(fn, ...)`` and read the node with selected_node_id."""
    _register_static_paths()
    return gr.HTML(
        value=kwargs.pop("value", ""),
        label=label,
        html_template=_HTML,
        css_template=_CSS,
        js_on_load=_JS,
        head=TREE_VIEW_HEAD,
        apply_default_css=False,
        min_height=460,
        elem_id=elem_id,
        **kwargs,
    )


def selected_node_id(evt: gr.EventData | None) -> int | None:
    """The node id of a tree-view ``select`` event, or None when the payload is not one."""
    data = getattr(evt, "_data", None)
    if not isinstance(data, dict):
        return None
    raw = data.get("id")
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        raw = int(raw.strip())
    return raw if isinstance(raw, int) and raw >= 0 else None
