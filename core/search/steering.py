"""What a user can do to a search between iterations: prune, unprune, force, edit, add a step.

Each action is checked (a clear ``SteeringError`` says what is wrong and
changes nothing), applied under the search's lock, and logged as an event.
Mixed into :class:`core.search.mcts.Search`.
"""

from __future__ import annotations

import threading

from core.search.backprop import refresh_values
from core.search.reasoner import Reasoner
from core.tree.events import Event, EventKind
from core.tree.nodes import Node, Tree
from core.tree.stops import REOPENED_BY_ADD, REOPENED_BY_FORCE


class SteeringError(ValueError):
    """A steering action cannot be applied; nothing was changed."""


class Steering:
    tree: Tree
    reasoner: Reasoner
    lock: threading.RLock

    def prune(self, node_id: int) -> Event:
        with self.lock:
            node = self._target(node_id, "prune")
            if node.pruned:
                raise SteeringError(f"node {node_id} is already pruned")
            node.pruned = True
            node.forced = False
            refresh_values(self.tree, node.id, self.tree.iteration)
            return self.tree.log(EventKind.PRUNED, node.id, subtree=len(self.tree.subtree(node.id)))

    def unprune(self, node_id: int) -> Event:
        with self.lock:
            node = self._target(node_id, "unprune")
            if not node.pruned:
                raise SteeringError(
                    f"node {node_id} is not pruned (only the node a prune was made on can be unpruned)"
                )
            node.pruned = False
            refresh_values(self.tree, node.id, self.tree.iteration)
            return self.tree.log(EventKind.UNPRUNED, node.id)

    def force(self, node_id: int) -> Event:
        """The next iteration selects this node and expands it, even if it has children."""
        with self.lock:
            node = self.tree.node(node_id)
            if self.tree.in_pruned_subtree(node_id):
                raise SteeringError(f"node {node_id} is pruned; unprune it before forcing it")
            if node.stale:
                raise SteeringError(
                    f"node {node_id} is stale (an ancestor was edited); it cannot be expanded"
                )
            if node.terminal:
                raise SteeringError(
                    f"node {node_id} is terminal ({node.terminal_reason}); it cannot be expanded"
                )
            for other in self.tree.nodes.values():
                other.forced = False
            node.forced = True
            if self.tree.stopped in REOPENED_BY_FORCE:
                self.tree.stopped = ""  # the user asked for more: let the search continue
            return self.tree.log(EventKind.FORCED, node.id)

    def edit(self, node_id: int, text: str) -> Event:
        """Replace a step's text, re-score it, and mark its subtree stale."""
        with self.lock:
            node = self._target(node_id, "edit")
            step = self._clean(text)
            old_step, old_score = node.step, node.critic.score if node.critic else None
            if node.original_step is None:
                node.original_step = node.step
            node.step = step
            stale = [n for n in self.tree.subtree(node.id) if n.id != node.id]
            for n in stale:
                n.stale = True
                n.forced = False
            node.expanded = False
            node.terminal = False
            node.terminal_reason = ""
            # what described the old text no longer describes the new one
            node.code = node.execution = node.check = node.rollout = node.reflection = None
            self._score(node)
            refresh_values(self.tree, node.id, self.tree.iteration)
            return self.tree.log(
                EventKind.EDITED,
                node.id,
                old_step=old_step,
                new_step=step,
                old_score=old_score,
                new_score=node.critic.score if node.critic else None,
                stale=[n.id for n in stale],
            )

    def add_step(self, parent_id: int, text: str) -> Event:
        """Add a human-written child step, scored by the critic."""
        with self.lock:
            parent = self.tree.node(parent_id)
            if self.tree.in_pruned_subtree(parent_id) or parent.stale:
                raise SteeringError(
                    f"node {parent_id} is {self.tree.status(parent_id)}; add steps to a live node"
                )
            if parent.depth >= self.tree.config.max_depth:
                raise SteeringError(
                    f"node {parent_id} is at the maximum depth ({self.tree.config.max_depth})"
                )
            step = self._clean(text)
            child = self.tree.add_child(parent.id, step, origin="human", iteration=self.tree.iteration)
            if parent.terminal:
                parent.terminal = False
                parent.terminal_reason = ""
            self._score(child)
            refresh_values(self.tree, child.id, self.tree.iteration)
            if self.tree.stopped in REOPENED_BY_ADD:
                self.tree.stopped = ""
            return self.tree.log(
                EventKind.ADDED,
                child.id,
                parent=parent.id,
                step=step,
                score=child.critic.score if child.critic else None,
            )

    # --- helpers --------------------------------------------------------------------
    def _target(self, node_id: int, action: str) -> Node:
        node = self.tree.node(node_id)
        if node.parent is None:
            raise SteeringError(f"cannot {action} the root")
        return node

    @staticmethod
    def _clean(text: str) -> str:
        if not isinstance(text, str) or not text.strip():
            raise SteeringError("the step text is empty")
        step = " ".join(text.split())  # a human step is kept as written, on one line
        if len(step) > 2000:
            raise SteeringError(f"the step is too long ({len(step)} characters; at most 2000)")
        return step

    def _score(self, node: Node) -> None:
        """The critic's value and, in a grounded search, its code's tests: as for any new child."""
        self._appraise([node], [self.tree.iteration])

    def _appraise(self, nodes: list[Node], its: list[int]) -> None:  # the search's own (core/search/mcts.py)
        raise NotImplementedError
