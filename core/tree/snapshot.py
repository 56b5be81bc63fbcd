"""A neutral nodes/edges snapshot of a tree, laid out top-down, for any viewer.

Positions come from :func:`core.tree.layout.growing_layout`: a node keeps its place as the
tree grows. ``y`` is the depth. Each node carries what a viewer may colour or label it by.

Example::

    snap = snapshot(tree)
    snap.nodes[0]["x"], snap.nodes[0]["y"]     # the root, centred at depth 0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.tree.events import EventKind
from core.tree.layout import growing_layout
from core.tree.nodes import Tree, own_status
from core.tree.queries import best_node, latest_run


@dataclass(frozen=True)
class Snapshot:
    nodes: list[dict[str, Any]]
    edges: list[tuple[int, int]]
    best_path: list[int]
    last_selected_path: list[int]


def snapshot(tree: Tree) -> Snapshot:
    pos = growing_layout(tree)
    best = best_node(tree)
    best_path = [n.id for n in tree.path(best.id)] if best.depth > 0 else []
    last = next((e for e in reversed(tree.events) if e.kind is EventKind.SELECTED), None)
    last_path = list(last.data.get("path", [])) if last else []
    pruned = _pruned_ids(tree)
    nodes = []
    for node in tree.nodes.values():
        x, y = pos[node.id]
        status = "pruned" if node.id in pruned else own_status(node)  # `pruned` already has the subtrees
        ran = latest_run(node)
        nodes.append(
            {
                "id": node.id,
                "parent": node.parent,
                "x": x,
                "y": y,
                "step": node.step,
                "value": node.value,
                "visits": node.visits,
                "status": status,
                "origin": node.origin,
                "score": node.critic.score if node.critic else None,
                # the 0-10 score the node's value uses (the expected score when read from the distribution)
                "used_score": round(node.critic.value * 10, 2) if node.critic else None,
                "parsed": node.critic.parsed if node.critic else None,
                "visible": ran.visible.pass_rate if ran is not None and ran.visible else None,
                "hidden": ran.hidden.pass_rate if ran is not None and ran.hidden else None,
            }
        )
    edges = [(n.parent, n.id) for n in tree.nodes.values() if n.parent is not None]
    return Snapshot(nodes=nodes, edges=edges, best_path=best_path, last_selected_path=last_path)


def _pruned_ids(tree: Tree) -> set[int]:
    out: set[int] = set()
    for node in tree.nodes.values():
        if node.pruned:
            out.update(n.id for n in tree.subtree(node.id))
    return out
