"""Selection: walk down the tree by UCB, skipping what cannot be expanded.

UCB(child) = V(child) + c * sqrt(2 * ln N(parent) / N(child)); an unvisited child
scores V + bonus instead, so it is tried first. Ties go to the older node (lower
id), which keeps a seeded search reproducible.

Example (hand-computed): parent N=4, child V=0.5 with N=2, c=0.5 gives
0.5 + 0.5 * sqrt(2 * ln 4 / 2) = 0.5 + 0.5 * 1.1774 = 1.0887.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.tree.nodes import Node, Tree
from core.tree.records import UCBRecord


@dataclass(frozen=True)
class Selection:
    node: int
    path: list[int]  # root first, the selected node last
    forced: bool


def ucb(child: Node, parent_visits: int, c: float, bonus: float, iteration: int) -> UCBRecord:
    if child.visits == 0:
        explore, extra = 0.0, bonus
    else:
        explore = c * math.sqrt(2 * math.log(max(parent_visits, 1)) / child.visits)
        extra = 0.0
    return UCBRecord(
        iteration=iteration,
        value=child.value,
        explore=explore,
        bonus=extra,
        total=child.value + explore + extra,
        parent_visits=parent_visits,
        visits=child.visits,
    )


def expandable(tree: Tree) -> set[int]:
    """Ids of nodes from which selection can still reach a node to expand.

    A node is expandable when it is live (not pruned, not stale, not terminal)
    and either has not been expanded yet or has an expandable child.
    """
    result: set[int] = set()

    def visit(node: Node) -> bool:
        if node.pruned or node.stale or node.terminal:
            return False
        live_children = [visit(tree.nodes[c]) for c in node.children]  # visit all, to fill `result`
        ok = not node.expanded or any(live_children)
        if ok:
            result.add(node.id)
        return ok

    visit(tree.root)
    return result


def select(tree: Tree, iteration: int) -> Selection | None:
    """The node the next iteration expands, or None when nothing is left to expand.

    A forced node (the user's choice) is taken first. Each compared child gets
    its UCB terms recorded, so the UI can show why selection went where it did.
    """
    open_ids = expandable(tree)
    for node in tree.nodes.values():
        if node.forced and _forceable(tree, node):
            return Selection(node.id, [n.id for n in tree.path(node.id)], forced=True)
    if tree.root.id not in open_ids:
        return None
    cfg = tree.config
    node = tree.root
    path = [node.id]
    while node.expanded:
        candidates = [tree.nodes[c] for c in node.children if c in open_ids]
        best: tuple[float, Node] | None = None
        for child in candidates:
            record = ucb(child, node.visits, cfg.c, cfg.unvisited_bonus, iteration)
            child.ucb = record
            if best is None or record.total > best[0]:
                best = (record.total, child)
        if best is None:  # unreachable: an expanded open node has an open child
            return None
        node = best[1]
        path.append(node.id)
    return Selection(node.id, path, forced=False)


def _forceable(tree: Tree, node: Node) -> bool:
    """A forced node may be expanded again even when it has children."""
    return not (node.stale or node.terminal or tree.in_pruned_subtree(node.id))
