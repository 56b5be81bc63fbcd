"""A top-down tree layout that only adds: a node keeps its place however the tree grows.

Nodes are placed one at a time in creation order (their ids), each from the nodes placed before
it, so a new node can never move an old one and a replayed tree draws its nodes where the live
tree has them. A child aims under its parent, siblings side by side in the order they were
proposed (the ``k`` of one expansion centred on the parent); when that spot is taken at its depth
it takes the nearest free one, so no two nodes at a depth are closer than one unit.
"""

from __future__ import annotations

import bisect
import itertools

from core.tree.nodes import Tree

GAP = 1.0  # the least distance between two nodes at one depth


def growing_layout(tree: Tree) -> dict[int, tuple[float, int]]:
    """(x, depth) for every node."""
    k = max(1, tree.config.k)
    pos: dict[int, tuple[float, int]] = {}
    taken: dict[int, list[float]] = {}
    for node_id in sorted(tree.nodes):
        node = tree.nodes[node_id]
        if node.parent is None:
            x = 0.0
        else:
            siblings = tree.nodes[node.parent].children
            rank = siblings.index(node_id) if node_id in siblings else 0
            x = _nearest_free(taken.setdefault(node.depth, []), pos[node.parent][0] + rank - (k - 1) / 2)
        bisect.insort(taken.setdefault(node.depth, []), x)
        pos[node_id] = (x, node.depth)
    return pos


def _nearest_free(row: list[float], want: float) -> float:
    """``want``, else the nearest of want ± 1, ± 2, ... that keeps ``GAP`` from every x in ``row``."""
    for step in itertools.count():
        for x in (want + step, want - step) if step else (want,):
            i = bisect.bisect_left(row, x)
            left_ok = i == 0 or x - row[i - 1] >= GAP - 1e-9
            right_ok = i == len(row) or row[i] - x >= GAP - 1e-9
            if left_ok and right_ok:
                return x
    raise AssertionError("unreachable: some offset is always free")
