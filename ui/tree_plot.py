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


FILLER = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "be",
        "by",
        "can",
        "each",
        "first",
        "for",
        "from",
        "function",
        "given",
        "i",
        "if",
        "implement",
        "in",
        "is",
        "it",
        "its",
        "let",
        "lets",
        "let's",
        "must",
        "need",
        "next",
        "now",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "step",
        "that",
        "the",
        "then",
        "this",
        "to",
        "use",
        "we",
        "will",
        "with",
        "write",
        "define",
        "create",
        "return",
        "returns",
        "check",
    ]
)
LABEL_WORDS = 2
WORD_CHARS = 10


def _words(step: str) -> list[str]:
    """The step's content words, lower-case, without punctuation or filler ("We need to sort" → ["sort"])."""
    words = [w.strip(".,;:!?()[]{}\"'`").lower() for w in step.split()]
    return [w for w in words if w and w not in FILLER]


def _short(word: str) -> str:
    return word if len(word) <= WORD_CHARS else word[: WORD_CHARS - 1] + "…"


def _score(node: dict) -> str:
    if node["parsed"] is False:
        return "?"
    used = node.get("used_score")
    return "" if used is None else f"{used:.1f}"


def node_labels(nodes: list[dict]) -> dict[int, str]:
    """A short label per node: words that tell it from its siblings, and the score its value uses.

    The words no sibling uses come first (else those not every sibling uses: "We need to …" says
    nothing), e.g. "sort pairs 5.0" beside "dictionary counts 7.3". The score is the one the node's value is made from (the
    expected score when the critic was read from its distribution), not the sampled reply.
    """
    siblings: dict[int | None, list[dict]] = {}
    for node in nodes:
        siblings.setdefault(node["parent"], []).append(node)
    labels: dict[int, str] = {}
    for group in siblings.values():
        words = {n["id"]: _words(n["step"] or "") for n in group}
        shared = set.intersection(*(set(w) for w in words.values())) if len(group) > 1 else set()
        for node in group:
            if node["parent"] is None:
                labels[node["id"]] = "problem"
                continue
            others = set().union(*(set(w) for i, w in words.items() if i != node["id"]))
            mine = words[node["id"]]
            own = [w for w in mine if w not in others] or [w for w in mine if w not in shared] or mine
            head = " ".join(_short(w) for w in own[:LABEL_WORDS]) or f"#{node['id']}"
            labels[node["id"]] = f"{head} {_score(node)}".strip()
    return labels


def node_label(node: dict) -> str:
    """One node's label on its own (no siblings to tell it from)."""
    return node_labels([node])[node["id"]]


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
    labels = node_labels(snap.nodes)
    grey = "#8a8f98"
    fig = go.Figure()
    fig.add_trace(_edge_trace(snap, set(snap.edges), "#c9ced6", 1.0, "solid", "edges"))
    fig.add_trace(_edge_trace(snap, last, "#3b82f6", 3.0, "dash", "last selection"))
    fig.add_trace(_edge_trace(snap, best, "#f59e0b", 4.0, "solid", "best path"))
    # the browser hides a label that would overlap one drawn before it: the best path's come first
    first = {node_id: rank for rank, node_id in enumerate(snap.best_path)}
    ordered = sorted(snap.nodes, key=lambda n: (first.get(n["id"], len(first)), -n["visits"], n["id"]))
    live = [n for n in ordered if n["status"] != "pruned"]
    pruned = [n for n in ordered if n["status"] == "pruned"]
    fig.add_trace(
        go.Scatter(
            x=[n["x"] for n in live],
            y=[-n["y"] for n in live],
            mode="markers+text",
            text=[labels[n["id"]] if n["id"] in labelled else "" for n in live],
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
                text=[labels[n["id"]] if n["id"] in labelled else "" for n in pruned],
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
    xs = [n["x"] for n in snap.nodes] or [0.0]
    ys = [-n["y"] for n in snap.nodes] or [0.0]
    fig.add_trace(  # room around the outer nodes for their labels: autorange takes it in, and a user's
        go.Scatter(  # zoom survives a redraw (a fixed axis range would reset it)
            x=[min(xs) - 0.8, max(xs) + 0.8],
            y=[min(ys) - 0.6, max(ys) + 0.35],
            mode="markers",
            marker={"size": 0, "opacity": 0},
            hoverinfo="skip",
            name="room",
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
