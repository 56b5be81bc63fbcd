"""A neutral nodes/edges snapshot of a tree, with a tidy top-down layout, for any viewer.

Leaves take consecutive x slots in depth-first order and each parent sits over
the middle of its children, so siblings never overlap and the layout costs
O(nodes). ``y`` is the depth.

Example::

    snap = snapshot(tree)
    snap.nodes[0]["x"], snap.nodes[0]["y"]     # the root, centred at depth 0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.tree.events import EventKind
from core.tree.nodes import Tree, own_status


@dataclass(frozen=True)
class Snapshot:
    nodes: list[dict[str, Any]]
    edges: list[tuple[int, int]]
    best_path: list[int]
    last_selected_path: list[int]


def tidy_layout(tree: Tree) -> dict[int, tuple[float, int]]:
    """x, depth for every node."""
    pos: dict[int, tuple[float, int]] = {}
    next_leaf = 0.0
    # iterative post-order, children in creation order
    stack: list[tuple[int, bool]] = [(tree.root.id, False)]
    while stack:
        node_id, done = stack.pop()
        node = tree.nodes[node_id]
        if not node.children:
            pos[node_id] = (next_leaf, node.depth)
            next_leaf += 1.0
        elif done:
            xs = [pos[c][0] for c in node.children]
            pos[node_id] = ((xs[0] + xs[-1]) / 2, node.depth)
        else:
            stack.append((node_id, True))
            stack.extend((c, False) for c in reversed(node.children))
    return pos


def snapshot(tree: Tree) -> Snapshot:
    from core.tree.queries import best_node  # local: search imports this module's neighbours

    pos = tidy_layout(tree)
    best = best_node(tree)
    best_path = [n.id for n in tree.path(best.id)] if best.depth > 0 else []
    last = next((e for e in reversed(tree.events) if e.kind is EventKind.SELECTED), None)
    last_path = list(last.data.get("path", [])) if last else []
    pruned = _pruned_ids(tree)
    nodes = []
    for node in tree.nodes.values():
        x, y = pos[node.id]
        status = "pruned" if node.id in pruned else own_status(node)  # `pruned` already has the subtrees
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
                "parsed": node.critic.parsed if node.critic else None,
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
