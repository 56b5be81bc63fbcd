"""The SRA-MCTS search: one ``step()`` per iteration, plus the user's steering.

An iteration selects a node by UCB, asks the reflection whether its path is
done, expands it with k proposed steps (one batched call), scores the new
children with the critic (one batched call), blends a one-step greedy rollout
into the best child, and backs the value up to the root. Every phase appends
typed events to the tree's log and returns them.

The search holds no model: it asks a :class:`~core.search.reasoner.Reasoner`. A lock
makes steering safe between iterations of a search that runs in a thread.

When the backend fails mid-iteration the iteration is undone, so the tree holds exactly
what it held before it. A failure worth retrying (a server went away, a 5xx after the
retries: ``BackendUnavailable``) is a pause: a PAUSED event records the reason,
``step()`` raises :class:`SearchPaused`, and the next ``step()`` logs RESUMED and runs
the iteration again. Any other backend error (a prompt longer than the model's context,
a refused key) cannot succeed by waiting: it is raised as it is, and nothing is logged.

Example::

    search = Search.start(problem, SearchConfig(seed=0), backend)
    while not search.finished:
        events = search.step()
    best = search.best_node()
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from dataclasses import dataclass

from core.config import SearchConfig
from core.llm import BackendError, BackendUnavailable, LLMBackend
from core.problems.problem import Problem
from core.search.activity import Activity
from core.search.backprop import backpropagate
from core.search.grounding import ground_many
from core.search.reasoner import Reasoner
from core.search.selection import select
from core.search.steering import Steering
from core.tree.events import Event, EventKind
from core.tree.nodes import Node, Tree
from core.tree.queries import best_node
from core.tree.records import CodeRecord, ExecutionRecord, RolloutCandidate, RolloutRecord, UCBRecord, Usage
from core.tree.stops import BUDGET_STOPS, is_final


class SearchEnded(ValueError):
    """More iterations were asked of a search that stopped for good (see ``core.tree.stops``)."""


class SearchPaused(BackendError):
    """The backend failed during an iteration; the tree is as it was before it. ``step()`` again resumes."""


@dataclass
class _Undo:
    """What an iteration may change before its last model call: enough to put the tree back.

    Every model call of an iteration comes before its backpropagation, and until then the
    iteration only records UCB terms on the way down, adds children and changes the one node
    it selected. UCB records are replaced, never mutated, so keeping references is enough.
    """

    next_id: int
    events: int
    ucb: dict[int, UCBRecord | None]
    usage: Usage
    selected: Node | None = None

    @classmethod
    def capture(cls, tree: Tree) -> _Undo:
        ucb = {i: n.ucb for i, n in tree.nodes.items()}
        return cls(tree.next_id, len(tree.events), ucb, copy.deepcopy(tree.usage))

    def restore(self, tree: Tree) -> None:
        for node_id in [i for i in tree.nodes if i >= self.next_id]:
            del tree.nodes[node_id]
        if self.selected is not None:
            tree.nodes[self.selected.id] = self.selected
        for node_id, record in self.ucb.items():
            tree.nodes[node_id].ucb = record
        tree.next_id = self.next_id
        del tree.events[self.events :]
        tree.stopped = ""
        # in place: the reasoner holds this object; the failed iteration's calls and replies never happened
        for f in dataclasses.fields(Usage):
            setattr(tree.usage, f.name, copy.deepcopy(getattr(self.usage, f.name)))


class Search(Steering):
    def __init__(self, tree: Tree, backend: LLMBackend) -> None:
        self.tree = tree
        self.backend = backend
        self.reasoner = Reasoner(backend, tree.config, tree.problem, tree.usage)
        self.lock = threading.RLock()
        self._started = time.monotonic()
        self.paused = ""  # why the last iteration failed; "" when it did not
        self._undo: _Undo | None = None
        self.activity: Activity | None = None  # the phase running now (None between iterations)

    @classmethod
    def start(cls, problem: Problem, config: SearchConfig, backend: LLMBackend) -> Search:
        model = {"backend": backend.name, "model_id": backend.model_id}
        adapter = getattr(backend, "adapter", None)  # a fine-tuned LoRA adapter's name, when one is loaded
        if adapter:
            model["adapter"] = adapter
        return cls(Tree.new(problem, config, model), backend)

    @property
    def config(self) -> SearchConfig:
        return self.tree.config

    @property
    def finished(self) -> bool:
        return bool(self.tree.stopped)

    # --- one iteration ------------------------------------------------------------
    def step(self) -> list[Event]:
        """Run one iteration and return its events ([] when the search has ended).

        Raises :class:`SearchPaused` (the tree unchanged but for a PAUSED event) when the backend is
        unavailable, and any other :class:`BackendError` as it is (the tree unchanged).
        """
        with self.lock:
            if self.finished:
                return []
            tree = self.tree
            first = len(tree.events)
            if self.paused:
                tree.log(EventKind.RESUMED, None, tree.iteration, after=self.paused)
                self.paused = ""
            it = tree.iteration + 1
            self._undo = _Undo.capture(tree)
            try:
                counted = self._iterate(it)
            except BackendError as exc:
                self._undo.restore(tree)
                if not isinstance(exc, BackendUnavailable):
                    raise
                self.paused = str(exc) or type(exc).__name__
                tree.log(EventKind.PAUSED, None, tree.iteration, reason=self.paused)
                raise SearchPaused(f"search paused at iteration {it}: {self.paused}") from exc
            finally:
                self._undo = None
                self.activity = None
            if not tree.stopped and counted:
                tree.iteration = it
                self._check_budget()
            return tree.events[first:]

    def run(self, iterations: int | None = None) -> list[Event]:
        """Step until the search ends or ``iterations`` more have run."""
        events: list[Event] = []
        target = self.tree.iteration + iterations if iterations is not None else None
        while not self.finished and (target is None or self.tree.iteration < target):
            events.extend(self.step())
        return events

    def _iterate(self, it: int) -> bool:
        """One iteration; False when it changed nothing worth counting (every proposal was dropped)."""
        tree, cfg = self.tree, self.config
        self._doing("select", it)
        chosen = select(tree, it)
        if chosen is None:
            self._stop("exhausted", it)
            return True
        node = tree.nodes[chosen.node]
        if self._undo is not None:
            self._undo.selected = copy.deepcopy(node)
        node.forced = False
        tree.log(EventKind.SELECTED, node.id, it, path=chosen.path, forced=chosen.forced)
        if node.depth == 0 and self.grounded and cfg.greedy_candidate and not _runnable(node):
            self._greedy_candidate(it)
        at_gate = node.depth >= cfg.end_gate_min_depth and not chosen.forced
        if at_gate and node.value >= cfg.end_gate:
            if self.grounded and not self._execution_applied(node):
                self._ground([node], it)  # written by a human or an older engine: check it now
            if self.refuted(node):  # the critic liked it, the examples say no: never expand it as good
                self._make_terminal(node, "refuted", it)
                backpropagate(tree, node.id, it)
                return True
            if node.value >= cfg.end_gate:
                self._make_terminal(node, "end_gate", it)
                self._stop("end_gate", it)
                return True
        if node.depth >= cfg.max_depth:
            self._make_terminal(node, "max_depth", it)
            backpropagate(tree, node.id, it)
            return True
        analysis = ""
        if cfg.reflection and node.depth > 0:
            self._doing("reflect", it, node)
            record = self.reasoner.reflect(tree.steps(node.id))
            node.reflection = record
            tree.log(EventKind.REFLECTED, node.id, it, is_end=record.is_end, parsed=record.parsed)
            if record.is_end and node.depth >= cfg.end_gate_min_depth:
                self._make_terminal(node, "refuted" if self.refuted(node) else "reflection", it)
                backpropagate(tree, node.id, it)
                return True
            analysis = record.analysis  # a too-shallow "<end>" is no answer: expand it as usual
        children = self._expand(node, analysis, it)
        if not children:
            self._make_terminal(node, "no_new_steps", it)
            backpropagate(tree, node.id, it)
            return False
        self._appraise(children, it)
        best = max(children, key=lambda n: (n.value, -n.id))
        if cfg.rollout:
            self._rollout(best, it)
        backpropagate(tree, best.id, it)
        return True

    def _expand(self, node: Node, analysis: str, it: int) -> list[Node]:
        """Propose k steps; when all are dropped, ask again (a new seed each call) up to ``propose_retries``."""
        tree, cfg = self.tree, self.config
        siblings = [tree.nodes[c].step for c in node.children if not tree.nodes[c].stale]
        records = []
        self._doing("propose", it, node)
        for _ in range(cfg.propose_retries + 1):
            record, steps = self.reasoner.propose(
                tree.steps(node.id), analysis, cfg.k, siblings=siblings, iteration=it
            )
            records.append(record)
            if steps:
                break
        children = [tree.add_child(node.id, s, origin="policy", iteration=it) for s in steps]
        record.kept = [c.id for c in children]
        record.attempts = len(records)
        record.dropped = [d for r in records for d in r.dropped]
        record.raws = [raw for r in records for raw in r.raws]
        record.tokens = sum(r.tokens for r in records)
        node.expansion = record
        node.expanded = True
        tree.log(
            EventKind.EXPANDED,
            node.id,
            it,
            children=record.kept,
            dropped=len(record.dropped),
            attempts=len(records),
        )
        return children

    def _appraise(self, nodes: list[Node], it: int) -> None:
        """Score new nodes with the critic (one batched call) and, when grounded, with their code's tests."""
        self._doing("critic", it, nodes[0].parent)
        records = self.reasoner.critique([self.tree.steps(n.id) for n in nodes])
        for node, record in zip(nodes, records, strict=True):
            node.critic = record
            node.value = record.value
            self.tree.log(
                EventKind.EVALUATED, node.id, it, score=record.score, parsed=record.parsed, value=record.value
            )
        if self.grounded:
            self._ground(nodes, it)

    def _rollout(self, node: Node, it: int) -> None:
        """One-step greedy rollout: sample a few next steps, keep the best critic value."""
        cfg = self.config
        self._doing("rollout", it, node)
        steps = self.tree.steps(node.id)
        proposal, candidates = self.reasoner.propose(steps, "", cfg.rollout_width, iteration=it)
        critics = self.reasoner.critique([[*steps, c] for c in candidates])
        best = max((r.value for r in critics), default=None)
        before = node.value
        if best is not None:
            node.value = (1 - cfg.rollout_weight) * node.value + cfg.rollout_weight * best
        node.rollout = RolloutRecord(
            iteration=it,
            prompt=proposal.prompt,
            candidates=[RolloutCandidate(s, r) for s, r in zip(candidates, critics, strict=True)],
            best=best,
            before=before,
            after=node.value,
            weight=cfg.rollout_weight,
        )
        self.tree.log(EventKind.ROLLOUT, node.id, it, best=best, before=before, after=node.value)

    def _doing(self, phase: str, it: int, node: Node | int | None = None) -> None:
        self.activity = Activity(phase, it, node.id if isinstance(node, Node) else node)

    # --- ends -----------------------------------------------------------------------
    def _make_terminal(self, node: Node, reason: str, it: int) -> None:
        node.terminal = True
        node.terminal_reason = reason
        self.tree.log(EventKind.TERMINAL, node.id, it, reason=reason, value=node.value)

    @property
    def grounded(self) -> bool:
        return self.config.exec_weight > 0

    @staticmethod
    def _execution_applied(node: Node) -> bool:
        return node.execution is not None and node.execution.applied

    def refuted(self, node: Node) -> bool:
        """Grounded, and the tests that enter the reward ran and failed on this node's code."""
        ex = node.execution
        return self.grounded and ex is not None and ex.grounding is not None and not ex.grounding.passed

    def _write_code(self, nodes: list[Node], it: int) -> None:
        todo = [n for n in nodes if not _runnable(n)]
        if todo:
            self._doing("code", it, todo[0].id if len(todo) == 1 else todo[0].parent)
        for node, record in zip(
            todo, self.reasoner.to_code_many([self.tree.steps(n.id) for n in todo]), strict=True
        ):
            node.code = record
            self.tree.log(EventKind.CODE, node.id, it, source=record.source, truncated=record.truncated)

    def _ground(self, nodes: list[Node], it: int) -> None:
        """Code for each path (one batched call), its tests in the sandbox, and the reward as its value."""
        self._write_code(nodes, it)
        records = self._run_tests(nodes, self.config.exec_weight)
        for node, record in zip(nodes, records, strict=True):
            node.execution = record
            node.value = record.reward
            self._log_execution(node, record, it)

    def _run_tests(
        self, nodes: list[Node], weight: float, *, critic: float | None = None, applied: bool = True
    ) -> list[ExecutionRecord]:
        """Each node's code on the tests (the one place that passes the config's test knobs)."""
        cfg = self.config
        if self.activity is not None:
            self._doing("tests", self.activity.iteration, nodes[0].id if len(nodes) == 1 else nodes[0].parent)
        critics = [critic if critic is not None else n.critic.value if n.critic else n.value for n in nodes]
        return ground_many(
            self.tree.problem,
            [n.code.code for n in nodes],
            critics,
            weight,
            leaky=cfg.exec_hidden_in_reward,
            timeout_s=cfg.exec_timeout_s,
            applied=applied,
        )

    def _greedy_candidate(self, it: int) -> None:
        """The direct program on the root: the answer when no reasoning path passes the examples."""
        root = self.tree.root
        root.code = self.reasoner.direct_code()
        self.tree.log(EventKind.CODE, root.id, it, source=root.code.source, truncated=root.code.truncated)
        [record] = self._run_tests([root], 1.0, critic=0.0, applied=False)
        root.execution = (
            record  # shown and used to choose the answer; the root's value stays the backed-up mean
        )
        self._log_execution(root, record, it)

    def _log_execution(self, node: Node, record: ExecutionRecord, it: int, *, check: bool = False) -> None:
        self.tree.log(
            EventKind.EXECUTED,
            node.id,
            it,
            visible=record.visible.pass_rate if record.visible else None,
            hidden=record.hidden.passed if record.hidden else None,
            reward=record.reward,
            applied=record.applied,
            check=check,
        )

    def execute(self, node_id: int) -> ExecutionRecord:
        """Code and test verdicts for any node the user asks about, kept as its ``check``: the search never uses it."""
        with self.lock:
            node = self.tree.node(node_id)
            if node.depth == 0 and node.code is None:
                raise ValueError("the root has no reasoning to turn into code")
            it = self.tree.iteration
            try:
                self._write_code([node], it)
                self._doing("tests", it, node)
                [record] = self._run_tests([node], self.config.exec_weight, applied=False)
            finally:
                self.activity = None
            node.check = record
            self._log_execution(node, record, it, check=True)
            return record

    def _stop(self, reason: str, it: int) -> None:
        self.tree.stopped = reason
        self.tree.iteration = it
        self.tree.log(EventKind.STOPPED, None, it, reason=reason)

    def _check_budget(self) -> None:
        cfg = self.config
        if self.tree.iteration >= cfg.max_iterations:
            self._stop("max_iterations", self.tree.iteration)
        elif cfg.time_budget_s is not None and time.monotonic() - self._started >= cfg.time_budget_s:
            self._stop("time_budget", self.tree.iteration)

    def stop(self, reason: str = "stopped by user") -> None:
        """End the search where it stands; ``extend_budget`` or a steering action can reopen it."""
        with self.lock:
            if not self.tree.stopped:
                self._stop(reason, self.tree.iteration)

    def can_continue(self) -> bool:
        """Whether more iterations may run: it is running, or it stopped only at a budget."""
        return not is_final(self.tree.stopped)

    def resume(self, iterations: int) -> None:
        """Give a search that may continue ``iterations`` more; a final stop raises :class:`SearchEnded`."""
        with self.lock:
            if not self.can_continue():
                raise SearchEnded(f"the search has ended ({self.tree.stopped}); force a node to go on")
            self.extend_budget(iterations)

    def extend_budget(self, iterations: int) -> None:
        """Let a search that hit its iteration budget run ``iterations`` more (a final stop stays)."""
        with self.lock:
            if self.tree.stopped in BUDGET_STOPS:
                self.tree.stopped = ""
            self.tree.config = self.config.replace(max_iterations=self.tree.iteration + iterations)
            self.reasoner.config = self.tree.config
            self._started = time.monotonic()

    # --- answers --------------------------------------------------------------------
    def best_node(self) -> Node:
        """The best terminal path's end, else the best-valued live node (never the root unless alone)."""
        return best_node(self.tree)

    def write_code(self, node_id: int | None = None) -> CodeRecord:
        """Turn a path's reasoning into code (one LLM call) and keep it on the node."""
        with self.lock:
            node = self.tree.node(node_id) if node_id is not None else self.best_node()
            node.code = None  # written afresh, even when it had code
            try:
                self._write_code([node], self.tree.iteration)
            finally:
                self.activity = None
            return node.code

    def answer_code(self) -> CodeRecord:
        """The answer's code: the best node's own (the one its tests ran on, or the direct program), else new."""
        with self.lock:
            best = self.best_node()
            return best.code if _runnable(best) else self.write_code(best.id)


def _runnable(node: Node) -> bool:
    """The node has code this process may run: written here, not taken from an uploaded file."""
    return node.code is not None and not node.code.uploaded


__all__ = ["Search", "SearchEnded", "SearchPaused"]
