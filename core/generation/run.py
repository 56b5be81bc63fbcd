"""Batch SFT data generation: the whole SRA-MCTS pipeline over many problems, resumable.

Each problem: search to the budget, take the best path, turn its reasoning into code,
optionally run that code on the problem's visible tests and (where it has them) hidden
tests (reported, never a filter), then append one SFT record to ``OUT/sft.jsonl``, one
manifest line to ``OUT/done.jsonl`` (see ``core/generation/output.py``) and save the tree to
the store (owner "generate"). ``concurrency`` worker threads share one backend.

When the backend fails, the search undoes the iteration and pauses; the worker waits
1, 2, 4 ... s (capped at 30 s) and steps again, up to ``max_pause_s`` in all per problem.
Past that the problem is *failed*, not done, so a rerun retries it. Problems in the
manifest are skipped: a rerun continues where a crash or Ctrl-C left off.

The answer is the search's own (``best_node``): in a grounded search the program chosen by running
the passing ones, which may be the direct program with no reasoning steps (its record then has only
code, and its manifest line says ``direct``). With ``spec.reuse`` a tree another run made for the
same problem, config and model (a benchmark's, say) is taken instead of searching again.

Example::

    spec = GenerateSpec("HumanEval/0-7", "runs/gen1", concurrency=4, preset="quick demo")
    summary = generate(spec, backend, Store(), progress=print)
    summary.done, summary.skipped, summary.failed      # (8, 0, {})
    generate(spec, backend, Store()).skipped             # 8: nothing left to do
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.curation.candidates import Decision, path_of
from core.curation.formats import sft_record
from core.generation.output import OutputDir
from core.generation.spec import GenerateProgress, GenerateSpec, GenerateSummary
from core.llm import BackendError, BackendUnavailable, LLMBackend
from core.problems.problem import Problem
from core.problems.sources import load_problems
from core.search.mcts import Search, SearchPaused
from core.search.one_shot import one_shot
from core.store.runs import RunRow, Store
from core.tree.nodes import Tree
from core.tree.queries import latest_run, passes_examples

__all__ = ["OWNER", "GenerateProgress", "GenerateSpec", "GenerateSummary", "generate", "load_problems"]

OWNER = "generate"  # the owner of the trees and the annotator of the records
log = logging.getLogger(__name__)


class _Failed(Exception):
    """A problem could not be finished; the message is the reason."""


@dataclass
class _Backoff:
    spec: GenerateSpec
    waited: float = 0.0
    pauses: int = 0

    def next_delay(self) -> float | None:
        """The next wait, or None when it would take the problem past ``max_pause_s``."""
        delay = min(self.spec.backoff_s * 2**self.pauses, self.spec.max_backoff_s)
        if self.waited + delay > self.spec.max_pause_s:
            return None
        self.waited += delay
        self.pauses += 1
        return delay


class _Batch:
    def __init__(
        self,
        spec: GenerateSpec,
        backend: LLMBackend,
        store: Store,
        out: OutputDir,
        summary: GenerateSummary,
        progress: Callable[[GenerateProgress], None] | None,
        stop: threading.Event,
    ) -> None:
        self.spec, self.backend, self.store, self.out = spec, backend, store, out
        self.summary, self.progress, self.stop = summary, progress, stop
        self.config = spec.config()
        self.reuse = Store(spec.reuse) if spec.reuse is not None and spec.method == "sra-mcts" else None
        self.lock = threading.Lock()
        self.started = time.monotonic()

    def work(self, todo: queue.Queue[Problem]) -> None:
        try:
            while not self.stop.is_set():
                try:
                    problem = todo.get_nowait()
                except queue.Empty:
                    return
                self._one(problem)
        finally:
            self.store.close()  # this thread's connection
            if self.reuse is not None:
                self.reuse.close()

    def _one(self, problem: Problem) -> None:
        try:
            outcome = self._solve(problem)
        except _Failed as exc:
            outcome = f"failed: {exc}"
        except Exception as exc:  # a bug or a broken store must not end the whole batch
            log.exception("generate: %s failed", problem.id)
            outcome = f"failed: {type(exc).__name__}: {exc}"
        if outcome is not None:  # None: abandoned at a stop, neither done nor failed
            self.report(problem.id, outcome)

    def _solve(self, problem: Problem) -> str | None:
        started = time.monotonic()
        reused = self._reused(problem)
        search = (
            Search(reused[1], self.backend) if reused else Search.start(problem, self.config, self.backend)
        )
        reused_s = search.tree.usage.llm_seconds if reused else 0.0
        wait = _Backoff(self.spec)
        cot = self.spec.method == "cot"
        if cot and (self.stop.is_set() or not self._call(lambda: one_shot(search, code=False), wait)):
            return None
        while not search.finished:
            if self.stop.is_set() or not self._call(search.step, wait):
                return None
        if search.grounded and self.config.answer_by_running and not self._call(search.choose_answer, wait):
            return None
        node = search.best_node()
        # a grounded search answers with the direct program (no steps) when it passes and no path does
        direct = node.depth == 0 and search.grounded and passes_examples(node)
        if node.depth == 0 and not direct:
            raise _Failed("the search found no reasoning path")
        if node.code is None and not self._call(lambda: search.write_code(node.id), wait):
            return None
        if self.spec.check and latest_run(node) is None:
            search.execute(node.id)
        run_id = uuid.uuid4().hex[:12]
        tree = search.tree
        self.store.save_tree(run_id, tree, owner=OWNER)
        path = path_of(tree, node.id, run_id, direct=direct)
        record = sft_record(Decision(path, "accept", comment="rule: generate", annotator=OWNER))
        visible, hidden = path.visible, path.hidden
        self.out.append(
            record,
            {
                "problem_id": problem.id,
                "run_id": run_id,
                "node_id": node.id,
                "nodes": len(tree.nodes),
                "completion_tokens": tree.usage.completion_tokens,
                # a reused tree's cost is the model time of the search that made it, plus this run's
                "seconds": round(time.monotonic() - started + reused_s, 3),
                "visible_pass_rate": visible.pass_rate if visible else None,
                "hidden_passed": hidden.passed if hidden else None,
                "stopped": tree.stopped,
                "pauses": wait.pauses,
                "direct": direct,
                **({"reused": reused[0]} if reused else {}),
            },
        )
        with self.lock:
            self.summary.nodes += len(tree.nodes)
            self.summary.tokens += tree.usage.completion_tokens
            self.summary.done += 1
        verdicts = f" visible {visible.tests - visible.failed}/{visible.tests}" if visible else ""
        verdicts += f" hidden {'pass' if hidden.passed else 'fail'}" if hidden else ""
        return "ok" + verdicts

    def _reused(self, problem: Problem) -> tuple[str, Tree] | None:
        """The tree of ``spec.reuse`` this problem takes instead of a search (:func:`reusable_run`)."""
        if self.reuse is None:
            return None
        run = reusable_run(self.reuse, problem.id, self.config.digest(), self.backend.model_id)
        return (run.id, self.reuse.load_tree(run.id)) if run else None

    def _call(self, fn: Callable[[], object], wait: _Backoff) -> bool:
        """Call ``fn``, waiting and retrying while the backend fails; False when stopped while waiting."""
        while True:
            try:
                fn()
                return True
            except BackendError as exc:
                cause = exc.__cause__ if isinstance(exc, SearchPaused) and exc.__cause__ else exc
                if not isinstance(cause, BackendUnavailable):  # a missing model, a refused prompt: final
                    raise _Failed(str(cause) or type(cause).__name__) from exc
                delay = wait.next_delay()
                if delay is None:
                    raise _Failed(
                        f"backend failing after {wait.pauses} retries over {wait.waited:.0f}s: {cause}"
                    ) from exc
                log.info("generate: backend failed (%s); retrying in %.1fs", cause, delay)
                if self.stop.wait(delay):
                    return False

    def report(self, problem_id: str, outcome: str) -> None:
        with self.lock:
            s = self.summary
            if outcome.startswith("failed: "):
                s.failed[problem_id] = outcome.removeprefix("failed: ")
            s.seconds = round(time.monotonic() - self.started, 3)
            if self.progress is not None:
                self.progress(
                    GenerateProgress(
                        s.done,
                        s.total,
                        s.skipped,
                        len(s.failed),
                        s.nodes,
                        s.tokens,
                        s.seconds,
                        problem_id,
                        outcome,
                    )
                )


def reusable_run(store: Store, problem_id: str, config_digest: str, model_id: str | None) -> RunRow | None:
    """The newest finished run of ``store`` for this problem with this config, by this model (any model
    when None) and no adapter: the tree ``GenerateSpec.reuse`` takes instead of searching again."""
    for row in store.list_runs(problem=problem_id, model=model_id, status="finished"):
        if row.config_hash == config_digest and not row.adapter:
            return row
    return None


def generate(
    spec: GenerateSpec,
    backend: LLMBackend,
    store: Store,
    *,
    problems: Sequence[Problem] | None = None,
    progress: Callable[[GenerateProgress], None] | None = None,
    stop: threading.Event | None = None,
    warn: Callable[[str], None] | None = None,
) -> GenerateSummary:
    """Run ``spec`` (its problems, or ``problems`` when given); a set ``stop`` or Ctrl-C ends it early.

    After a stop, problems in flight are dropped (not done: a rerun does them) and the
    summary says ``interrupted``.
    """
    problems = list(problems) if problems is not None else load_problems(spec.problems)
    problems = problems[: spec.limit] if spec.limit is not None else problems
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise ValueError(f"problem listed twice: {next(i for i in ids if ids.count(i) > 1)}")
    out = OutputDir(spec.out)
    summary = GenerateSummary(total=len(problems), records=out.records_path)
    summary.warnings = out.open(spec.settings(backend))
    for message in summary.warnings:
        (warn or log.warning)(message)
    todo: queue.Queue[Problem] = queue.Queue()
    for p in problems:
        if p.id not in out.done:
            todo.put(p)
    summary.skipped = len(problems) - todo.qsize()
    batch = _Batch(spec, backend, store, out, summary, progress, stop or threading.Event())
    batch.report("", "")
    workers = [
        threading.Thread(target=batch.work, args=(todo,), name=f"generate-{i}", daemon=True)
        for i in range(min(spec.concurrency, todo.qsize()))
    ]
    for w in workers:
        w.start()
    try:
        for w in workers:
            while w.is_alive():
                w.join(0.2)
    except KeyboardInterrupt:  # stop taking problems; let the ones being written finish
        batch.stop.set()
        for w in workers:
            w.join()
    summary.seconds = round(time.monotonic() - batch.started, 3)
    summary.records_in_all = len(out.done)
    summary.interrupted = batch.stop.is_set() and summary.done + summary.skipped + len(summary.failed) < len(
        problems
    )
    return summary
