"""Questions asked of a finished or running tree, apart from the engine that grows it.

Example::

    best_node(tree)   # the node whose path is the search's answer
"""

from __future__ import annotations

from core.tree.nodes import Node, Tree


def best_node(tree: Tree) -> Node:
    """The best terminal path's end, else the best-valued live node (never the root unless alone)."""
    live = [
        n for n in tree.nodes.values() if n.depth > 0 and not n.stale and not tree.in_pruned_subtree(n.id)
    ]
    terminal = [n for n in live if n.terminal and n.terminal_reason != "no_new_steps"]
    pool = terminal or live
    if not pool:
        return tree.root
    return max(pool, key=lambda n: (n.value, n.depth, -n.id))
