"""Evaluation: pass@k on HumanEval problems, judged by their hidden tests in the sandbox.

One :class:`EvalSpec` holds every setting (problems, model, adapter, mode, sampling,
search overrides, seed), so a stored result says exactly how it was made. Two modes:
``greedy`` writes code straight from the problem (batched: several problems per
backend call), ``mcts`` runs a search to its budget and turns the best path into
code. Problems an adapter was trained on are flagged, and pass@k is reported over
all problems and over the unseen ones only, so that train/test overlap is visible.

Example::

    spec = EvalSpec(split("first-10"))                         # greedy pass@1, embedded model
    result = evaluate(spec, load_backend("transformers", "embedded"), store=Store())
    result.pass_at[1], result.pass_at_unseen[1]                 # e.g. (0.2, 0.2)
    EvalSpec(split("first-10"), samples=5, temperature=0.8, k=(1, 5))   # sampled pass@1 and pass@5
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable

from core.evaluation.solvers import Doing, Solver
from core.evaluation.spec import EvalResult, EvalSpec, ProblemResult
from core.evaluation.tables import EvalTables, UnknownEval
from core.llm import LLMBackend
from core.problems.problem import get_problem
from core.store.runs import Store

Progress = Callable[[int, int, ProblemResult], None]


def _canonical(problem_id: str) -> str:
    """A HumanEval id in full ("7" -> "HumanEval/7"); other ids (custom problems) stay as they are."""
    try:
        return get_problem(problem_id).id
    except KeyError:
        return problem_id


def evaluate(
    spec: EvalSpec,
    backend: LLMBackend,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    training_problems: Iterable[str] = frozenset(),
    store: Store | None = None,
    doing: Doing | None = None,
    resume: int | None = None,
    created: Callable[[int], None] | None = None,
) -> EvalResult:
    """Run ``spec`` on ``backend``; with a ``store``, the result is saved after every problem.

    ``doing``, when given, is kept up to date with what runs now (for a live progress line).
    ``resume`` names a stored, unfinished evaluation of this very spec: it goes on from its last
    whole batch (the same batches and seeds as a run never stopped), keeping what it had.
    ``created`` is told the stored evaluation's id as soon as it exists (what to resume later).

    A set ``stop`` ends the run between problems (mcts: between iterations, and the
    unfinished problem is dropped); the result then has status "stopped".
    """
    loaded = getattr(backend, "adapter", None)
    if loaded != spec.adapter:
        raise ValueError(f"the spec asks for adapter {spec.adapter!r} but the backend carries {loaded!r}")
    training = {_canonical(p) for p in training_problems}
    result = EvalResult(spec, [], {}, time.time(), 0.0, backend.model_id, spec.adapter)
    tables = EvalTables(store) if store is not None else None
    problems = [get_problem(p) for p in spec.problems]
    solver = Solver(spec, backend, stop=stop, store=store, doing=doing)
    earlier = 0.0  # seconds spent before a resume
    if resume is not None:
        if tables is None:
            raise ValueError("resuming an evaluation needs the store that holds it")
        earlier = _take_over(tables, resume, result, solver)
    started = time.monotonic()

    def save() -> None:
        result.seconds = round(earlier + time.monotonic() - started, 3)
        if tables is not None:
            result.eval_id = tables.save_eval(result)

    save()
    if created is not None and result.eval_id is not None:
        created(result.eval_id)
    try:
        for chunk in solver.chunks(problems[len(result.results) :]):
            if stop is not None and stop.is_set():
                break
            for done in solver.solve(chunk):
                done.in_training_data = done.problem_id in training
                result.results.append(done)
                result.refresh()
                save()
                if progress is not None:
                    progress(len(result.results), len(problems), done)
    except BaseException as exc:
        result.status = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
        save()
        raise
    finally:
        solver.close()
    result.status = "finished" if len(result.results) == len(problems) else "stopped"
    save()
    return result


def _take_over(tables: EvalTables, eval_id: int, result: EvalResult, solver: Solver) -> float:
    """Load evaluation ``eval_id`` into ``result`` for a resume; the seconds it had already spent.

    Only whole batches are kept (a kill can land between the problems of one batch), so the rest
    runs in the batches, and with the seeds, of a run that never stopped.
    """
    row = next((r for r in tables.evals() if r.id == eval_id), None)
    if row is None:
        raise UnknownEval(eval_id)
    if row.spec != json.loads(json.dumps(result.spec.to_dict())):
        raise ValueError(f"evaluation {eval_id} was made with other settings: it cannot be resumed")
    if row.status == "finished":
        raise ValueError(f"evaluation {eval_id} is finished: there is nothing to resume")
    done = tables.eval_results(eval_id)
    order = list(result.spec.problems)
    if [r.problem_id for r in done] != order[: len(done)]:
        raise ValueError(f"evaluation {eval_id} holds results out of its problems' order")
    chunks = len(done) // solver.chunk_size
    keep = chunks * solver.chunk_size
    tables.drop_results(eval_id, keep)
    result.results, result.eval_id = done[:keep], eval_id
    result.started_at = row.created_at
    result.refresh()
    solver.skip_chunks(chunks)
    return row.seconds * keep / len(done) if done else 0.0  # the dropped part's share is not kept
