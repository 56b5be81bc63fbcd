"""Draw a tree snapshot with plotly: colour by value, size by visits, status by marker."""

from __future__ import annotations

import math
import textwrap

import plotly.graph_objects as go

from core.tree.snapshot import Snapshot

SYMBOLS = {"open": "circle", "forced": "star", "terminal": "diamond", "stale": "x", "pruned": "circle-open"}


def marker_size(node_count: int, visits: int) -> float:
    """Smaller markers in bigger trees, so that siblings stay apart at 500+ nodes; grows with log visits."""
    base = 14.0 if node_count <= 60 else 9.0 if node_count <= 400 else 5.0
    return round(base * (1 + 0.45 * math.log1p(visits)), 1)


def _hover(node: dict) -> str:
    step = "<br>".join(textwrap.wrap(node["step"] or "(problem)", 60)) or "(problem)"
    score = "unparsed" if node["parsed"] is False else node["score"]
    return (
        f"<b>#{node['id']}</b> {node['status']} · {node['origin']}<br>{step}<br>"
        f"Q={node['value']:.3f} · visits={node['visits']} · critic={score}"
    )


def _edge_trace(
    snap: Snapshot, pairs: set[tuple[int, int]], color: str, width: float, dash: str, name: str
) -> go.Scatter:
    pos = {n["id"]: (n["x"], -n["y"]) for n in snap.nodes}
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in pairs:
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


def tree_figure(snap: Snapshot) -> go.Figure:
    best = set(zip(snap.best_path, snap.best_path[1:], strict=False))
    last = set(zip(snap.last_selected_path, snap.last_selected_path[1:], strict=False))
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
            mode="markers",
            customdata=[n["id"] for n in live],
            hovertext=[_hover(n) for n in live],
            hoverinfo="text",
            marker={
                "size": [marker_size(len(snap.nodes), n["visits"]) for n in live],
                "color": [n["value"] for n in live],
                "colorscale": "Viridis",
                "cmin": 0,
                "cmax": 1,
                "symbol": [SYMBOLS.get(n["status"], "circle") for n in live],
                "line": {"width": 1, "color": "#1f2937"},
                "colorbar": {"title": {"text": "Q"}, "thickness": 10},
            },
            name="nodes",
            _validate=False,
        )
    )
    if pruned:
        fig.add_trace(
            go.Scatter(
                x=[n["x"] for n in pruned],
                y=[-n["y"] for n in pruned],
                mode="markers",
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
