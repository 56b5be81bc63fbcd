"""Draw a tree snapshot with plotly: a short label per node, colour by a chosen measure, size by visits.

Colours are computed here (a node without the chosen measure is grey, not a guess), so the
figure carries plain colour strings; an invisible trace holds the colour bar.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from core.tree.snapshot import Snapshot

SYMBOLS = {"open": "circle", "forced": "star", "terminal": "diamond", "stale": "x", "pruned": "circle-open"}
NO_VALUE = "#9ca3af"  # grey: this node has no value for the chosen measure
LABELLED_UP_TO = 80  # nodes; a bigger tree labels only its best path (hover still shows every node)
SCALE = "Viridis"


@dataclass(frozen=True)
class Colouring:
    key: str  # the snapshot field
    top: float  # its largest value (the bottom is 0)
    title: str  # the colour bar's title


COLOURINGS = {
    "Q (value)": Colouring("value", 1.0, "Q"),
    "critic score": Colouring("score", 10.0, "critic /10"),
    "visible tests": Colouring("visible", 1.0, "visible<br>pass rate"),
    "hidden tests": Colouring("hidden", 1.0, "hidden<br>pass rate"),
}
DEFAULT_COLOURING = "Q (value)"


def marker_size(node_count: int, visits: int) -> float:
    """Smaller markers in bigger trees, so that siblings stay apart at 500+ nodes; grows with log visits."""
    base = 14.0 if node_count <= 60 else 9.0 if node_count <= 400 else 5.0
    return round(base * (1 + 0.45 * math.log1p(visits)), 1)


def node_label(node: dict, words: int = 3) -> str:
    """A few words of the step and its critic score, e.g. "Sort the list… 8"."""
    if node["parent"] is None:
        return "problem"
    parts = (node["step"] or "").split()
    head = " ".join(parts[:words]) + ("…" if len(parts) > words else "")
    score = "?" if node["parsed"] is False else "" if node["score"] is None else f"{node['score']:g}"
    return f"{head} {score}".strip()


def _rate(x: float | None) -> str:
    return "not run" if x is None else f"{x:.0%}"


def _hover(node: dict) -> str:
    step = "<br>".join(textwrap.wrap(node["step"] or "(problem)", 60)) or "(problem)"
    score = (
        "unparsed" if node["parsed"] is False else "—" if node["score"] is None else f"{node['score']:g}/10"
    )
    return (
        f"<b>#{node['id']}</b> {node['status']} · {node['origin']}<br>{step}<br>"
        f"Q {node['value']:.3f} (0–1) · critic {score} · visits {node['visits']}<br>"
        f"visible tests {_rate(node['visible'])} · hidden tests {_rate(node['hidden'])}"
    )


def _colour(value: float | None, colouring: Colouring) -> str:
    if value is None:
        return NO_VALUE
    return sample_colorscale(SCALE, [min(max(value / colouring.top, 0.0), 1.0)])[0]


def _edge_trace(
    snap: Snapshot, pairs: set[tuple[int, int]], color: str, width: float, dash: str, name: str
) -> go.Scatter:
    pos = {n["id"]: (n["x"], -n["y"]) for n in snap.nodes}
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in sorted(pairs):
        xs += [pos[a][0], pos[b][0], None]
        ys += [pos[a][1], pos[b][1], None]
    return go.Scatter(
        x=xs,
        y=ys,
        mode="lines",
        line={"color": color, "width": width, "dash": dash},
        hoverinfo="skip",
        name=name,
    )


def tree_figure(snap: Snapshot, colour_by: str = DEFAULT_COLOURING) -> go.Figure:
    colouring = COLOURINGS.get(colour_by, COLOURINGS[DEFAULT_COLOURING])
    best = set(zip(snap.best_path, snap.best_path[1:], strict=False))
    last = set(zip(snap.last_selected_path, snap.last_selected_path[1:], strict=False))
    labelled = {n["id"] for n in snap.nodes} if len(snap.nodes) <= LABELLED_UP_TO else {0, *snap.best_path}
    grey = "#8a8f98"
    fig = go.Figure()
    fig.add_trace(_edge_trace(snap, set(snap.edges), "#c9ced6", 1.0, "solid", "edges"))
    fig.add_trace(_edge_trace(snap, last, "#3b82f6", 3.0, "dash", "last selection"))
    fig.add_trace(_edge_trace(snap, best, "#f59e0b", 4.0, "solid", "best path"))
    live = [n for n in snap.nodes if n["status"] != "pruned"]
    pruned = [n for n in snap.nodes if n["status"] == "pruned"]
    fig.add_trace(
        go.Scatter(
            x=[n["x"] for n in live],
            y=[-n["y"] for n in live],
            mode="markers+text",
            text=[node_label(n) if n["id"] in labelled else "" for n in live],
            textposition="bottom center",
            textfont={"size": 10},
            customdata=[n["id"] for n in live],
            hovertext=[_hover(n) for n in live],
            hoverinfo="text",
            marker={
                "size": [marker_size(len(snap.nodes), n["visits"]) for n in live],
                "color": [_colour(n[colouring.key], colouring) for n in live],
                "symbol": [SYMBOLS.get(n["status"], "circle") for n in live],
                "line": {"width": 1, "color": "#1f2937"},
            },
            name="nodes",
            _validate=False,
        )
    )
    fig.add_trace(  # the colour bar alone: one invisible point on the chosen scale
        go.Scatter(
            x=[snap.nodes[0]["x"]] if snap.nodes else [],
            y=[0] if snap.nodes else [],
            mode="markers",
            hoverinfo="skip",
            marker={
                "size": 0,
                "opacity": 0,
                "color": [0],
                "colorscale": SCALE,
                "cmin": 0,
                "cmax": colouring.top,
                "showscale": True,
                "colorbar": {"title": {"text": colouring.title}, "thickness": 10},
            },
            name="colour bar",
        )
    )
    if pruned:
        fig.add_trace(
            go.Scatter(
                x=[n["x"] for n in pruned],
                y=[-n["y"] for n in pruned],
                mode="markers+text",
                text=[node_label(n) if n["id"] in labelled else "" for n in pruned],
                textposition="bottom center",
                textfont={"size": 10, "color": grey},
                customdata=[n["id"] for n in pruned],
                hovertext=[_hover(n) for n in pruned],
                hoverinfo="text",
                marker={
                    "size": marker_size(len(snap.nodes), 0),
                    "color": grey,
                    "symbol": "circle-open",
                    "line": {"width": 2, "color": grey},
                },
                name="pruned",
                _validate=False,
            )
        )
    fig.update_layout(
        showlegend=False,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False},
        plot_bgcolor="rgba(0,0,0,0)",
        paper_bgcolor="rgba(0,0,0,0)",
        height=460,
        hoverlabel={"align": "left"},
    )
    return fig
