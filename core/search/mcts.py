"""The SRA-MCTS search: one ``step()`` per wave of iterations, plus the user's steering.

An iteration selects a node by UCB, asks the reflection whether its path is
done, expands it with k proposed steps, scores the new children with the critic,
blends a one-step greedy rollout into the best child, and backs the value up to
the root. A wave runs ``config.width`` iterations together (virtual loss keeps
their nodes apart): each phase sends all the wave's requests of its role in one
batched call. Every phase appends typed events to the tree's log and returns them.

The search holds no model: it asks a :class:`~core.search.reasoner.Reasoner`. A lock
makes steering safe between waves of a search that runs in a thread.

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

import contextlib
import copy
import dataclasses
import threading
import time
from dataclasses import dataclass, field

from core.config import SearchConfig
from core.llm import BackendError, BackendUnavailable, LLMBackend
from core.problems.problem import Problem
from core.search.activity import Activity
from core.search.answer_choice import AnswerChoice, Outcome, choose
from core.search.backprop import backpropagate
from core.search.grounding import ground_many, run_inputs
from core.search.reasoner import Proposal, Reasoner
from core.search.selection import select_wave
from core.search.steering import Steering
from core.tree.events import Event, EventKind
from core.tree.nodes import Node, Tree
from core.tree.queries import (
    best_node,
    chosen_answer,
    execution_feedback,
    passes_examples,
    passing_candidates,
)
from core.tree.records import (
    CodeRecord,
    ExecutionRecord,
    ExpansionRecord,
    RolloutCandidate,
    RolloutRecord,
    UCBRecord,
    Usage,
)
from core.tree.stops import BUDGET_STOPS, is_final


class SearchEnded(ValueError):
    """More iterations were asked of a search that stopped for good (see ``core.tree.stops``)."""


class SearchPaused(BackendError):
    """The backend failed during an iteration; the tree is as it was before it. ``step()`` again resumes."""


@dataclass
class _Undo:
    """What a wave may change before its last model call: enough to put the tree back.

    Every model call of a wave comes before its backpropagation, and until then the wave
    only records UCB terms on the way down, adds children and changes the nodes it
    selected. UCB records are replaced, never mutated, so keeping references is enough.
    """

    next_id: int
    events: int
    ucb: dict[int, UCBRecord | None]
    usage: Usage
    selected: dict[int, Node] = field(default_factory=dict)  # each selected node as it was before the wave

    @classmethod
    def capture(cls, tree: Tree) -> _Undo:
        ucb = {i: n.ucb for i, n in tree.nodes.items()}
        return cls(tree.next_id, len(tree.events), ucb, copy.deepcopy(tree.usage))

    def restore(self, tree: Tree) -> None:
        for node_id in [i for i in tree.nodes if i >= self.next_id]:
            del tree.nodes[node_id]
        for node_id, node in self.selected.items():
            tree.nodes[node_id] = node
        for node_id, record in self.ucb.items():
            tree.nodes[node_id].ucb = record
        tree.next_id = self.next_id
        del tree.events[self.events :]
        tree.stopped = ""
        # in place: the reasoner holds this object; the failed iteration's calls and replies never happened
        for f in dataclasses.fields(Usage):
            setattr(tree.usage, f.name, copy.deepcopy(getattr(self.usage, f.name)))


@dataclass
class _Visit:
    """One selected node of a wave: its iteration and what the wave has done with it so far."""

    it: int
    node: Node
    forced: bool
    open: bool = True  # still to be expanded (False once it ended as a terminal leaf)
    analysis: str = ""
    children: list[Node] = field(default_factory=list)
    best: Node | None = None  # the best new child, which the rollout and backpropagation start from
    backprop: int | None = None  # the node this visit's value is backed up from
    counted: bool = True  # False when every proposal was dropped


def _one(visits: list[_Visit]) -> Node | None:
    """The node a phase works on, when it works on one."""
    return visits[0].node if len(visits) == 1 else None


class Search(Steering):
    def __init__(self, tree: Tree, backend: LLMBackend) -> None:
        self.tree = tree
        self.backend = backend
        self.reasoner = Reasoner(backend, tree.config, tree.problem, tree.usage)
        self.lock = threading.RLock()
        self._started = time.monotonic()
        self.paused = ""  # why the last iteration failed; "" when it did not
        self._undo: _Undo | None = None
        self.activity: Activity | None = None  # the phase running now (None between waves)

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
    def step(self, limit: int | None = None) -> list[Event]:
        """Run one wave (``config.width`` iterations at most, ``limit`` if less) and return its events
        ([] when the search has ended).

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
                last = self._wave(it, limit)
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
            if not tree.stopped and last is not None:
                tree.iteration = last
                self._check_budget()
            if tree.stopped and self.grounded and self.config.answer_by_running:
                # the search ended: its answer, chosen by running the passing programs; when the model
                # fails here the wave stands and the answer goes by value until answer_code() asks again
                with contextlib.suppress(BackendError):
                    self.choose_answer()
            return tree.events[first:]

    def run(self, iterations: int | None = None) -> list[Event]:
        """Step until the search ends or ``iterations`` more have run."""
        events: list[Event] = []
        target = self.tree.iteration + iterations if iterations is not None else None
        while not self.finished and (target is None or self.tree.iteration < target):
            events.extend(self.step(None if target is None else target - self.tree.iteration))
        return events

    def _wave(self, it: int, limit: int | None) -> int | None:
        """One wave from iteration ``it``: the last iteration it counts, or None when it counted none.

        Each selected node is one iteration. Every phase sends all the wave's requests of one role
        in one batched call, and the wave's backpropagation comes after its last model call, so an
        undone wave leaves visits and values as they were. An expansion whose proposals were all
        dropped does not count (its node becomes terminal; the budget is not spent on it).
        """
        tree, cfg = self.tree, self.config
        width = min(cfg.width, cfg.max_iterations - tree.iteration, limit or cfg.width)
        self._doing("select", it, last=it + max(width, 1) - 1)
        picks = select_wave(tree, it, max(width, 1))
        if not picks:
            self._stop("exhausted", it)
            return it
        visits = []
        for j, chosen in enumerate(picks):
            node = tree.nodes[chosen.node]
            if self._undo is not None:
                self._undo.selected[node.id] = copy.deepcopy(node)
            node.forced = False
            tree.log(EventKind.SELECTED, node.id, it + j, path=chosen.path, forced=chosen.forced)
            visits.append(_Visit(it + j, node, chosen.forced))
        root = next((v for v in visits if v.node.depth == 0), None)
        if root is not None and self.grounded and cfg.greedy_candidate and not _runnable(root.node):
            self._greedy_candidate(root.it)
            if cfg.accept_direct and passes_examples(root.node):
                self._stop("direct_passed", visits[-1].it)
                return visits[-1].it
        if self._gate(visits):
            self._backprop(visits)
            return visits[-1].it
        for v in visits:
            if v.node.depth >= cfg.max_depth:
                self._end(v, "max_depth")
        self._reflect([v for v in visits if v.open and cfg.reflection and v.node.depth > 0])
        self._expand([v for v in visits if v.open])
        expanded = [v for v in visits if v.open]
        self._appraise(
            [c for v in expanded for c in v.children], [v.it for v in expanded for _ in v.children]
        )
        for v in expanded:
            v.best = max(v.children, key=lambda n: (n.value, -n.id))
        if cfg.rollout:
            self._rollout(expanded)
        for v in expanded:
            v.backprop = v.best.id if v.best is not None else None
        self._backprop(visits)
        counted = [v.it for v in visits if v.counted]
        return max(counted) if counted else None

    def _gate(self, visits: list[_Visit]) -> bool:
        """Selected nodes at the end gate: refuted ones end, and one that holds ends the search (True)."""
        cfg = self.config
        at_gate = [
            v
            for v in visits
            if v.node.depth >= cfg.end_gate_min_depth and not v.forced and v.node.value >= cfg.end_gate
        ]
        unchecked = [v for v in at_gate if self.grounded and not self._execution_applied(v.node)]
        if unchecked:  # written by a human or an older engine: check it now
            self._ground([v.node for v in unchecked], [v.it for v in unchecked])
        for v in at_gate:
            if self.refuted(v.node):  # the critic liked it, the examples say no: never expand it as good
                self._end(v, "refuted")
            elif v.node.value >= cfg.end_gate:
                self._make_terminal(v.node, "end_gate", v.it)
                v.open = False
                self._stop("end_gate", visits[-1].it)  # the wave's last iteration
                return True
        return False

    def _end(self, visit: _Visit, reason: str) -> None:
        """The visit's node becomes a terminal leaf, backed up as it is."""
        self._make_terminal(visit.node, reason, visit.it)
        visit.open = False
        visit.backprop = visit.node.id

    def _backprop(self, visits: list[_Visit]) -> None:
        for v in visits:
            if v.backprop is not None:
                backpropagate(self.tree, v.backprop, v.it)

    def _reflect(self, visits: list[_Visit]) -> None:
        """ "<end>" or an analysis for each path (one batched call); a deep enough "<end>" ends it."""
        if not visits:
            return
        tree, cfg = self.tree, self.config
        self._doing("reflect", visits[0].it, _one(visits), last=visits[-1].it)
        records = self.reasoner.reflect_many(
            [tree.steps(v.node.id) for v in visits], [self.feedback(v.node) for v in visits]
        )
        for v, record in zip(visits, records, strict=True):
            v.node.reflection = record
            tree.log(EventKind.REFLECTED, v.node.id, v.it, is_end=record.is_end, parsed=record.parsed)
            if record.is_end and v.node.depth >= cfg.end_gate_min_depth and not self.feedback(v.node):
                self._end(v, "refuted" if self.refuted(v.node) else "reflection")
            else:  # a too-shallow "<end>", or one whose code failed with feedback on: expand it to repair
                v.analysis = record.analysis

    def _expand(self, visits: list[_Visit]) -> None:
        """Propose k steps for each node (one batched call); where all are dropped, ask again
        (a new seed each call) up to ``propose_retries``; a node left with none ends uncounted."""
        if not visits:
            return
        tree, cfg = self.tree, self.config
        siblings = {
            v.node.id: [tree.nodes[c].step for c in v.node.children if not tree.nodes[c].stale]
            for v in visits
        }
        records: dict[int, list[ExpansionRecord]] = {v.node.id: [] for v in visits}
        steps: dict[int, list[str]] = {}
        self._doing("propose", visits[0].it, _one(visits), last=visits[-1].it)
        waiting = visits
        for _ in range(cfg.propose_retries + 1):
            asks = [
                Proposal(
                    tree.steps(v.node.id), v.analysis, cfg.k, siblings[v.node.id], v.it, self.feedback(v.node)
                )
                for v in waiting
            ]
            for v, (record, kept) in zip(waiting, self.reasoner.propose_many(asks), strict=True):
                records[v.node.id].append(record)
                steps[v.node.id] = kept
            waiting = [v for v in waiting if not steps[v.node.id]]
            if not waiting:
                break
        for v in visits:
            node = v.node
            tries = records[node.id]
            v.children = [tree.add_child(node.id, s, origin="policy", iteration=v.it) for s in steps[node.id]]
            record = tries[-1]
            record.kept = [c.id for c in v.children]
            record.attempts = len(tries)
            record.dropped = [d for r in tries for d in r.dropped]
            record.raws = [raw for r in tries for raw in r.raws]
            record.tokens = sum(r.tokens for r in tries)
            node.expansion = record
            node.expanded = True
            tree.log(
                EventKind.EXPANDED,
                node.id,
                v.it,
                children=record.kept,
                dropped=len(record.dropped),
                attempts=len(tries),
            )
            if not v.children:
                self._end(v, "no_new_steps")
                v.counted = False

    def _appraise(self, nodes: list[Node], its: list[int]) -> None:
        """Score new nodes with the critic (one batched call) and, when grounded, with their code's tests."""
        if not nodes:
            return
        self._doing("critic", its[0], nodes[0].parent if len(set(its)) == 1 else None, last=its[-1])
        records = self.reasoner.critique([self.tree.steps(n.id) for n in nodes])
        for node, record, it in zip(nodes, records, its, strict=True):
            node.critic = record
            node.value = record.value
            self.tree.log(
                EventKind.EVALUATED, node.id, it, score=record.score, parsed=record.parsed, value=record.value
            )
        if self.grounded:
            self._ground(nodes, its)

    def _rollout(self, visits: list[_Visit]) -> None:
        """One-step greedy rollout from each visit's best child: sample a few next steps (one call for
        the wave), score them (one call), keep the best critic value."""
        bests = [v.best for v in visits if v.best is not None]
        if not bests:
            return
        cfg = self.config
        its = [v.it for v in visits if v.best is not None]
        self._doing("rollout", its[0], bests[0] if len(bests) == 1 else None, last=its[-1])
        paths = [self.tree.steps(n.id) for n in bests]
        proposals = self.reasoner.propose_many(
            [Proposal(steps, "", cfg.rollout_width, (), it) for steps, it in zip(paths, its, strict=True)]
        )
        ahead = [
            [*steps, c] for steps, (_, candidates) in zip(paths, proposals, strict=True) for c in candidates
        ]
        critics = iter(self.reasoner.critique(ahead))
        for node, it, (proposal, candidates) in zip(bests, its, proposals, strict=True):
            scored = [next(critics) for _ in candidates]
            best = max((r.value for r in scored), default=None)
            before = node.value
            if best is not None:
                node.value = (1 - cfg.rollout_weight) * node.value + cfg.rollout_weight * best
            node.rollout = RolloutRecord(
                iteration=it,
                prompt=proposal.prompt,
                candidates=[RolloutCandidate(s, r) for s, r in zip(candidates, scored, strict=True)],
                best=best,
                before=before,
                after=node.value,
                weight=cfg.rollout_weight,
            )
            self.tree.log(EventKind.ROLLOUT, node.id, it, best=best, before=before, after=node.value)

    def _doing(self, phase: str, it: int, node: Node | int | None = None, *, last: int | None = None) -> None:
        node_id = node.id if isinstance(node, Node) else node
        self.activity = Activity(phase, it, node_id, last=last if last is not None and last > it else None)

    # --- ends -----------------------------------------------------------------------
    def _make_terminal(self, node: Node, reason: str, it: int) -> None:
        node.terminal = True
        node.terminal_reason = reason
        self.tree.log(EventKind.TERMINAL, node.id, it, reason=reason, value=node.value)

    def feedback(self, node: Node) -> str:
        """The visible test the node's own code failed, for the calls below it (see ``execution_feedback``)."""
        return execution_feedback(self.tree, node)

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

    def _write_code(self, nodes: list[Node], its: list[int]) -> None:
        """Code for each node without runnable code (one batched call); ``its`` stamps each node's event."""
        todo = [(n, it) for n, it in zip(nodes, its, strict=True) if not _runnable(n)]
        if not todo:
            return
        first, last = todo[0][1], todo[-1][1]
        self._doing("code", first, todo[0][0].id if len(todo) == 1 else None, last=last)
        records = self.reasoner.to_code_many([self.tree.steps(n.id) for n, _ in todo])
        for (node, it), record in zip(todo, records, strict=True):
            node.code = record
            self.tree.log(EventKind.CODE, node.id, it, source=record.source, truncated=record.truncated)

    def _ground(self, nodes: list[Node], its: list[int]) -> None:
        """Code for each path (one batched call), its tests in the sandbox, and the reward as its value."""
        self._write_code(nodes, its)
        records = self._run_tests(nodes, self.config.exec_weight)
        for node, record, it in zip(nodes, records, its, strict=True):
            node.execution = record
            node.value = record.reward
            self._log_execution(node, record, it)

    def _run_tests(
        self, nodes: list[Node], weight: float, *, critic: float | None = None, applied: bool = True
    ) -> list[ExecutionRecord]:
        """Each node's code on the tests (the one place that passes the config's test knobs)."""
        cfg = self.config
        if self.activity is not None:
            now = self.activity
            self._doing("tests", now.iteration, nodes[0].id if len(nodes) == 1 else None, last=now.last)
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
        self._doing("direct", it, root)
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
                self._write_code([node], [it])
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

    def note_paused(self, reason: str) -> None:
        """Record that the search was paused between iterations (by its user); the next step logs RESUMED."""
        with self.lock:
            self.paused = reason
            self.tree.log(EventKind.PAUSED, None, self.tree.iteration, reason=reason)

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
                self._write_code([node], [self.tree.iteration])
            finally:
                self.activity = None
            return node.code

    def choose_answer(self) -> AnswerChoice | None:
        """Run the programs that pass the examples on new inputs the model writes, and keep which one the
        outputs choose (an ANSWER event); None when fewer than two pass. A choice made from the same
        candidates is not made again."""
        with self.lock:
            tree = self.tree
            pool = [n for n in passing_candidates(tree) if _runnable(n)]
            if len(pool) < 2:
                return None
            done = chosen_answer(tree)
            if done is not None:
                return AnswerChoice.from_data(done)
            self._doing("answer", tree.iteration)
            try:
                inputs, raw = self.reasoner.test_inputs()
                outputs = run_inputs(
                    tree.problem, [n.code.code for n in pool], inputs, self.config.exec_timeout_s
                )
            finally:
                self.activity = None
            choice = choose([Outcome(n.id, n.value, out) for n, out in zip(pool, outputs, strict=True)])
            choice.inputs = inputs
            tree.log(EventKind.ANSWER, choice.chosen, tree.iteration, **choice.to_data(), reply=raw[:2000])
            return choice

    def answer_code(self) -> CodeRecord:
        """The answer's code: the best node's own (the one its tests ran on, or the direct program), else new.

        In a grounded search with several passing programs, they are first run on new inputs
        (:meth:`choose_answer`) unless the config turns that off.
        """
        with self.lock:
            if self.grounded and self.config.answer_by_running:
                self.choose_answer()
            best = self.best_node()
            return best.code if _runnable(best) else self.write_code(best.id)


def _runnable(node: Node) -> bool:
    """The node has code this process may run: written here, not taken from an uploaded file."""
    return node.code is not None and not node.code.uploaded


__all__ = ["Search", "SearchEnded", "SearchPaused"]
