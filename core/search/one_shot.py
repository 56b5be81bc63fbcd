"""One-shot chain of thought: the whole plan from one call, then its code; no critic, no search.

The CoT baseline of the paper's experiment. The plan is stored as one path of an ordinary tree
(policy nodes, the last one terminal "one_shot"), so it is inspected, curated and exported like
a search's path, and its code comes from the same translator prompt as a search's answer: the two
data methods differ only in how the reasoning was found.

Example::

    search = Search.start(problem, config, backend)
    leaf = one_shot(search)          # one plan call, then one code call
    search.tree.steps(leaf.id)       # ['Sort the numbers.', 'Compare each neighbour pair.', ...]
"""

from __future__ import annotations

from core.search.mcts import Search
from core.tree.events import EventKind
from core.tree.nodes import Node

ONE_SHOT = "one_shot"  # the leaf's terminal reason and the tree's stop reason
MAX_PLAN_STEPS = 6
PLAN_RETRIES = 2


class OneShotError(ValueError):
    pass


def one_shot(search: Search, *, code: bool = True) -> Node:
    """Fill an empty tree with one plan (at most ``max_depth`` steps) and write its code.

    The tree changes only after the plan call succeeded; with ``code=False`` the caller writes the
    code (and can retry that call alone).
    """
    with search.lock:
        tree = search.tree
        if len(tree.nodes) > 1:
            raise OneShotError("a one-shot plan starts from an empty tree")
        limit = min(tree.config.max_depth, MAX_PLAN_STEPS)
        record, steps = search.reasoner.plan(limit)
        for _ in range(
            PLAN_RETRIES
        ):  # a greedy plan of code or nothing: sample afresh, as the search retries
            if steps:
                break
            record, steps = search.reasoner.plan(limit, temperature=tree.config.temperature)
        if not steps:
            raise OneShotError(f"the model wrote no usable plan in {1 + PLAN_RETRIES} tries")
        parent = tree.root
        for step in steps:
            child = tree.add_child(parent.id, step, origin="policy", iteration=1)
            parent.expanded = True
            tree.log(EventKind.EXPANDED, parent.id, 1, children=[child.id], dropped=0, attempts=1)
            parent = child
        record.kept = tree.root.children[:1]
        tree.root.expansion = record
        parent.terminal, parent.terminal_reason = True, ONE_SHOT
        tree.log(EventKind.TERMINAL, parent.id, 1, reason=ONE_SHOT, value=parent.value)
        tree.iteration = 1
        tree.stopped = ONE_SHOT
        tree.log(EventKind.STOPPED, None, 1, reason=ONE_SHOT)
    if code:
        search.write_code(parent.id)
    return parent
