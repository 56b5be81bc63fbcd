"""Questions asked of a finished or running tree, apart from the engine that grows it.

Example::

    best_node(tree)   # the node whose path (and code) is the search's answer
"""

from __future__ import annotations

from typing import Any

from core.tree.events import EventKind
from core.tree.nodes import Node, Tree
from core.tree.records import ExecutionRecord

NO_ANSWER = frozenset({"no_new_steps", "refuted"})  # terminal, but not a solution


def latest_run(node: Node) -> ExecutionRecord | None:
    """The newest verdict on the node's current code: a check by hand, else the search's own run."""
    return node.check or node.execution


def passes_examples(node: Node) -> bool:
    """Its code ran on the tests that enter the reward (the visible ones unless leaky) and passed."""
    ex = node.execution
    return ex is not None and ex.grounding is not None and ex.grounding.passed


def execution_feedback(tree: Tree, node: Node) -> str:
    """The visible test the node's own code failed (call, expected, got), handed to the calls below it.

    At the root it is the direct program's failure (that run is shown, not part of any value).
    "" when the search is not grounded, feedback is off, the search did not run the node's code, or
    it passed.
    """
    cfg, ex = tree.config, node.execution
    ran = ex is not None and (ex.applied or node.depth == 0)
    if not (cfg.exec_weight > 0 and cfg.exec_feedback and ran):
        return ""
    visible = ex.visible
    return visible.first_failure if visible is not None and not visible.passed else ""


def answer_candidates(tree: Tree) -> list[Node]:
    """Live nodes that may be the answer: not stale or pruned, not a dead end, and respecting the config.

    A reflection "<end>" shallower than ``end_gate_min_depth`` is no answer (the engine no longer makes
    one, but older trees hold them).
    """
    min_depth = tree.config.end_gate_min_depth
    return [
        n
        for n in tree.nodes.values()
        if n.depth > 0
        and not n.stale
        and not tree.in_pruned_subtree(n.id)
        and n.terminal_reason not in NO_ANSWER
        and not (n.terminal_reason == "reflection" and n.depth < min_depth)
    ]


def best_node(tree: Tree) -> Node:
    """The search's answer: the best-valued candidate, and in a grounded search one that passes the examples.

    Grounded (``exec_weight > 0``): when several programs pass the examples and the search ran them on
    new inputs (:func:`chosen_answer`), the one chosen by their outputs; else nodes whose code passes the
    examples come first, then by value; the root's direct program (the greedy candidate) is the answer
    only when it passes and no path does.
    Without grounding: by value. Ties go to the deeper node, then the older one. The root is returned
    when nothing else is left.
    """
    pool = answer_candidates(tree)
    if tree.config.exec_weight > 0:
        choice = chosen_answer(tree)
        if choice is not None:
            return tree.nodes[choice["chosen"]]
        passing = [n for n in pool if passes_examples(n)]
        if passing:
            pool = passing
        elif passes_examples(tree.root):
            return tree.root
    if not pool:
        return tree.root
    return max(pool, key=lambda n: (n.value, n.depth, -n.id))


def passing_candidates(tree: Tree) -> list[Node]:
    """The programs an answer may be chosen from by running them: live paths and the root's direct
    program whose code passed the examples, in id order."""
    pool = [n for n in answer_candidates(tree) if passes_examples(n)]
    if passes_examples(tree.root):
        pool.insert(0, tree.root)
    return pool


def chosen_answer(tree: Tree) -> dict[str, Any] | None:
    """The newest answer chosen by running the candidates, while it was chosen from the candidates of now.

    A new passing program (or one pruned, edited or gone stale) makes the choice out of date: None.
    """
    event = next((e for e in reversed(tree.events) if e.kind is EventKind.ANSWER), None)
    if event is None:
        return None
    now = {n.id for n in passing_candidates(tree)}
    return (
        event.data if set(event.data.get("candidates", [])) == now and event.data["chosen"] in now else None
    )
