"""Selection: walk down the tree by UCB, skipping what cannot be expanded.

UCB(child) = V(child) + c * sqrt(2 * ln N(parent) / N(child)); an unvisited child
scores V + bonus instead, so it is tried first. Ties go to the older node (lower
id), which keeps a seeded search reproducible.

A wave selects several nodes before any of them is expanded (``select_wave``). Each pick
adds a *virtual loss* to its path: one more visit of value 0 on every node of it, so the
next descent sees that branch as tried and less promising and goes elsewhere; a picked
node itself is closed for the rest of the wave, so no node is expanded twice. The virtual
visits live only in the wave's bookkeeping, never in the tree.

Example (hand-computed): parent N=4, child V=0.5 with N=2, c=0.5 gives
0.5 + 0.5 * sqrt(2 * ln 4 / 2) = 0.5 + 0.5 * 1.1774 = 1.0887.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from core.tree.nodes import Node, Tree
from core.tree.records import UCBRecord


@dataclass(frozen=True)
class Selection:
    node: int
    path: list[int]  # root first, the selected node last
    forced: bool


def ucb(
    child: Node, parent_visits: int, c: float, bonus: float, iteration: int, virtual: int = 0
) -> UCBRecord:
    """The child's UCB terms; ``virtual`` visits of value 0 (a wave's pending picks) lower its value."""
    visits = child.visits + virtual
    value = child.value * child.visits / visits if virtual else child.value
    if visits == 0:
        explore, extra = 0.0, bonus
    else:
        explore = c * math.sqrt(2 * math.log(max(parent_visits, 1)) / visits)
        extra = 0.0
    return UCBRecord(
        iteration=iteration,
        value=value,
        explore=explore,
        bonus=extra,
        total=value + explore + extra,
        parent_visits=parent_visits,
        visits=visits,
    )


def expandable(tree: Tree, busy: Collection[int] = ()) -> set[int]:
    """Ids of nodes from which selection can still reach a node to expand.

    A node is expandable when it is live (not pruned, not stale, not terminal, not
    ``busy``: picked earlier in this wave) and either has not been expanded yet or
    has an expandable child.
    """
    result: set[int] = set()

    def visit(node: Node) -> bool:
        if node.pruned or node.stale or node.terminal or node.id in busy:
            return False
        live_children = [visit(tree.nodes[c]) for c in node.children]  # visit all, to fill `result`
        ok = not node.expanded or any(live_children)
        if ok:
            result.add(node.id)
        return ok

    visit(tree.root)
    return result


def select(
    tree: Tree, iteration: int, busy: Collection[int] = (), virtual: Mapping[int, int] | None = None
) -> Selection | None:
    """The node the next iteration expands, or None when nothing is left to expand.

    A forced node (the user's choice) is taken first. Each compared child gets
    its UCB terms recorded, so the UI can show why selection went where it did.
    ``busy`` and ``virtual`` are a wave's picks so far (see ``select_wave``).
    """
    virtual = virtual or {}
    open_ids = expandable(tree, busy)
    for node in tree.nodes.values():
        if node.forced and node.id not in busy and _forceable(tree, node):
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
            parent_visits = node.visits + virtual.get(node.id, 0)
            record = ucb(
                child, parent_visits, cfg.c, cfg.unvisited_bonus, iteration, virtual.get(child.id, 0)
            )
            child.ucb = record
            if best is None or record.total > best[0]:
                best = (record.total, child)
        if best is None:  # unreachable: an expanded open node has an open child
            return None
        node = best[1]
        path.append(node.id)
    return Selection(node.id, path, forced=False)


def select_wave(tree: Tree, first_iteration: int, width: int) -> list[Selection]:
    """Up to ``width`` distinct nodes to expand in one wave, iterations ``first_iteration`` on.

    Width 1 is exactly :func:`select`. Fewer come back when fewer can be expanded
    (a fresh tree has only its root); [] when nothing can.
    """
    picks: list[Selection] = []
    busy: set[int] = set()
    virtual: dict[int, int] = {}
    for j in range(width):
        chosen = select(tree, first_iteration + j, busy, virtual)
        if chosen is None:
            break
        picks.append(chosen)
        busy.add(chosen.node)
        for node_id in chosen.path:
            virtual[node_id] = virtual.get(node_id, 0) + 1
    return picks


def _forceable(tree: Tree, node: Node) -> bool:
    """A forced node may be expanded again even when it has children."""
    return not (node.stale or node.terminal or tree.in_pruned_subtree(node.id))
