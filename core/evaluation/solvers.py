"""How an evaluation turns problems into judged code: greedy (batched) or MCTS-then-code.

Greedy mode asks for the whole function straight from the problem, with the same
system prompt and reply format as the search's plan-to-code call, so the only
difference between the two modes is the plan. Several problems share one backend
call (each with its ``n`` samples): on a CPU a batch of 8 runs ~3x more tokens per
second than one row. Code is judged by HumanEval's hidden ``check`` in the sandbox,
with the problem's prompt run first, so its imports and helper functions exist.

Example::

    solver = Solver(spec, backend)
    for chunk in solver.chunks(problems):
        results = solver.solve(chunk)          # list[ProblemResult], in the chunk's order
    solver.close()
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from core.evaluation.spec import EvalSpec, ProblemResult
from core.execution.sandbox import SandboxJob, SandboxPool
from core.llm import ChatMessage, Completion, GenerationRequest, LLMBackend
from core.problems.problem import Problem
from core.prompts import DIRECT_CODE, DIRECT_CODE_PREFILL, SYSTEM
from core.search.code_extract import extract_code
from core.search.grounding import summarize
from core.search.mcts import Search
from core.store.runs import Store
from core.tree.records import VerdictSummary

HIDDEN_TIMEOUT_S = 10.0
CODE_STOP = ("\n```",)
EVAL_OWNER = "evaluate"  # the owner of the search trees an evaluation stores


def hidden_job(problem: Problem, code: str) -> SandboxJob:
    """HumanEval's ``check`` on ``code``, after the problem's prompt (imports, helpers, the stub)."""
    if not problem.hidden_test or not problem.entry_point:
        raise ValueError(f"problem {problem.id} has no hidden test")
    test = f"{problem.hidden_test.rstrip()}\n\n\ncheck({problem.entry_point})\n"
    return SandboxJob(code, (test,), HIDDEN_TIMEOUT_S, setup=problem.prompt, entry_point=problem.entry_point)


def code_request(problem: Problem, spec: EvalSpec, seed: int) -> GenerationRequest:
    user = DIRECT_CODE.format(problem=problem.prompt.strip(), entry_point=problem.entry_point or "solution")
    return GenerationRequest(
        messages=(ChatMessage("system", SYSTEM), ChatMessage("user", user)),
        n=spec.samples,
        temperature=float(spec.temperature),
        max_tokens=spec.max_tokens,
        stop=CODE_STOP,
        seed=seed,
        tag="code",
        prefill=DIRECT_CODE_PREFILL,
    )


def code_from(completion: Completion, problem: Problem) -> str:
    """The function in a reply to :func:`code_request` (as ``Reasoner.to_code`` reads its replies)."""
    text = DIRECT_CODE_PREFILL + completion.text
    closing = "\n```" if completion.finish_reason == "stop" and "```" in text else ""
    return extract_code(text + closing, problem.entry_point, problem.prompt).code


@dataclass
class Doing:
    """What an evaluation works on right now, written by the solver and read by a progress line elsewhere."""

    text: str = "starting"
    since: float = field(default_factory=time.monotonic)
    search: Search | None = None  # mcts: the search in flight, whose phase is finer than ``text``

    def set(self, text: str, search: Search | None = None) -> None:
        self.text, self.since, self.search = text, time.monotonic(), search

    def describe(self) -> str:
        inner = self.search.activity if self.search is not None else None
        if inner is not None:
            return f"{self.text} · {inner.describe()}"
        return f"{self.text} · {time.monotonic() - self.since:.0f} s"


class Solver:
    """Produces and judges the samples of each problem; owns the sandbox pool."""

    def __init__(
        self,
        spec: EvalSpec,
        backend: LLMBackend,
        *,
        stop: threading.Event | None = None,
        store: Store | None = None,
        workers: int = 2,
        doing: Doing | None = None,
    ) -> None:
        self.spec, self.backend, self.stop, self.store = spec, backend, stop, store
        self.doing = doing or Doing()
        self.pool = SandboxPool(workers)
        self._calls = 0

    @property
    def chunk_size(self) -> int:
        """Problems per backend call: a greedy batch, or one search at a time."""
        return self.spec.batch if self.spec.mode == "greedy" else 1

    def chunks(self, problems: list[Problem]) -> Iterator[list[Problem]]:
        size = self.chunk_size
        for i in range(0, len(problems), size):
            yield problems[i : i + size]

    def skip_chunks(self, n: int) -> None:
        """Go on as if ``n`` chunks were solved already (a resume): later batches keep their seeds."""
        self._calls += n

    def solve(self, chunk: list[Problem]) -> list[ProblemResult]:
        if self.spec.mode == "greedy":
            return self._greedy(chunk)
        done = self._mcts(chunk[0])
        return [done] if done is not None else []

    def close(self) -> None:
        self.pool.close()

    def _judge(self, problems: list[Problem], codes: list[list[str]]) -> list[list[VerdictSummary]]:
        jobs = [hidden_job(p, c) for p, cs in zip(problems, codes, strict=True) for c in cs]
        self.doing.set(f"running the hidden tests of {_names(problems)} ({len(jobs)} programs)")
        flat = iter([summarize(v) for v in self.pool.run_many(jobs)])
        return [[next(flat) for _ in cs] for cs in codes]

    def _greedy(self, problems: list[Problem]) -> list[ProblemResult]:
        seed = (self.spec.seed * 1_000_003 + self._calls) % 2**31
        self._calls += 1
        n = self.spec.samples
        self.doing.set(f"writing code for {_names(problems)}" + (f" ({n} samples each)" if n > 1 else ""))
        replies = self.backend.generate([code_request(p, self.spec, seed) for p in problems])
        codes = [[code_from(c, p) for c in r.completions] for p, r in zip(problems, replies, strict=True)]
        verdicts = self._judge(problems, codes)
        share = replies[0].latency_s / len(problems) if replies else 0.0
        return [
            ProblemResult(
                problem_id=p.id,
                passed=sum(v.passed for v in vs),
                samples=len(vs),
                codes=cs,
                verdicts=vs,
                seconds=round(share + sum(v.duration_s for v in vs), 3),
                tokens=r.completion_tokens,
            )
            for p, r, cs, vs in zip(problems, replies, codes, verdicts, strict=True)
        ]

    def _mcts(self, problem: Problem) -> ProblemResult | None:
        """``samples`` seeded searches run to their budget; each best path becomes code. None if stopped."""
        start = time.monotonic()
        codes: list[str] = []
        run_ids: list[str] = []
        tokens = 0
        for sample in range(self.spec.samples):
            search = Search.start(problem, self.spec.search_config(sample), self.backend)
            of = f" · search {sample + 1} of {self.spec.samples}" if self.spec.samples > 1 else ""
            self.doing.set(f"{problem.id}{of}", search)
            while not search.finished:
                if self.stop is not None and self.stop.is_set():
                    return None
                search.step()
            self.doing.set(f"{problem.id}: code for the answer")
            codes.append(search.answer_code().code)
            tokens += search.tree.usage.completion_tokens
            if self.store is not None:
                run_ids.append(uuid.uuid4().hex[:12])
                self.store.save_tree(run_ids[-1], search.tree, owner=EVAL_OWNER)
        [verdicts] = self._judge([problem], [codes])
        return ProblemResult(
            problem_id=problem.id,
            passed=sum(v.passed for v in verdicts),
            samples=len(verdicts),
            codes=codes,
            verdicts=verdicts,
            seconds=round(time.monotonic() - start, 3),
            tokens=tokens,
            run_id=run_ids[0] if run_ids else None,
            run_ids=run_ids,
        )


def _names(problems: list[Problem]) -> str:
    """ "HumanEval/3" or "HumanEval/0 … HumanEval/7 (8 problems)"."""
    if len(problems) == 1:
        return problems[0].id
    return f"{problems[0].id} … {problems[-1].id} ({len(problems)} problems, one batch)"
