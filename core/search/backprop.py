"""Backpropagation: ancestors take the visit-weighted mean of their children's values.

Only live children (not pruned, not stale) that have been visited count. Each
update is appended to the node's history so the UI can show how Q moved.

Hand-computed example: children A (V=0.6, N=1) and B (V=0.9, N=2) give the
parent V = (0.6*1 + 0.9*2) / 3 = 0.8.
"""

from __future__ import annotations

from core.tree.nodes import Node, Tree
from core.tree.records import BackpropEntry


def children_mean(tree: Tree, node: Node) -> float | None:
    total = weight = 0.0
    for cid in node.children:
        child = tree.nodes[cid]
        if child.pruned or child.stale or child.visits == 0:
            continue
        total += child.value * child.visits
        weight += child.visits
    return total / weight if weight else None


def backpropagate(tree: Tree, node_id: int, iteration: int) -> None:
    """Count one visit on ``node_id`` and on each ancestor, updating the ancestors' values."""
    node = tree.node(node_id)
    node.visits += 1
    node.history.append(BackpropEntry(iteration, node.value, node.visits))
    while node.parent is not None:
        node = tree.nodes[node.parent]
        mean = children_mean(tree, node)
        if mean is not None:
            node.value = mean
        node.visits += 1
        node.history.append(BackpropEntry(iteration, node.value, node.visits))


def refresh_values(tree: Tree, node_id: int, iteration: int) -> None:
    """Recompute ancestor values after steering changed a child, without counting visits."""
    node = tree.node(node_id)
    while node.parent is not None:
        node = tree.nodes[node.parent]
        mean = children_mean(tree, node)
        if mean is not None and mean != node.value:
            node.value = mean
            node.history.append(BackpropEntry(iteration, node.value, node.visits))
