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

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import SearchConfig
from core.llm import LLMBackend
from core.passk import mean_pass_at_k
from core.presets import preset
from core.problems import get_problem, load_humaneval
from core.records import VerdictSummary

if TYPE_CHECKING:
    from core.store import Store

MODES = ("greedy", "mcts")
STATUSES = ("running", "finished", "stopped", "failed")


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate and how; ``search`` holds SearchConfig overrides (and ``preset``) for mcts mode."""

    problems: tuple[str, ...]
    model: str = "embedded"
    adapter: str | None = None
    mode: str = "greedy"
    samples: int = (
        1  # n per problem; > 1 samples at ``temperature`` (greedy) or runs n seeded searches (mcts)
    )
    temperature: float = 0.0
    k: tuple[int, ...] = (1,)
    max_tokens: int = 384  # for the code reply, in both modes
    search: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    backend: str = "transformers"
    batch: int = 8  # greedy mode: problems per backend call

    def __post_init__(self) -> None:
        ids = [get_problem(p).id for p in self.problems]  # UnknownProblem names the bad id
        if not ids:
            raise ValueError("no problems to evaluate")
        dupes = sorted({p for p in ids if ids.count(p) > 1})
        if dupes:
            raise ValueError(f"problem listed twice: {dupes[0]}")
        object.__setattr__(self, "problems", tuple(ids))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name, lo, hi in (("samples", 1, 1000), ("max_tokens", 16, 16384), ("batch", 1, 256)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.temperature, (int, float)) or not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature must be between 0 and 2, got {self.temperature!r}")
        if self.mode == "greedy" and self.samples > 1 and self.temperature == 0:
            raise ValueError("samples > 1 needs a temperature > 0 (greedy samples are all the same)")
        ks = tuple(sorted(set(self.k)))
        if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
            raise ValueError(f"k must be positive integers, got {self.k!r}")
        if ks[-1] > self.samples:
            raise ValueError(f"pass@{ks[-1]} needs at least {ks[-1]} samples per problem, got {self.samples}")
        object.__setattr__(self, "k", ks)
        if self.search and self.mode != "mcts":
            raise ValueError("search settings apply only to mode 'mcts'")
        if self.mode == "mcts":
            self.search_config(0)  # a bad field or value fails here, not mid-evaluation

    def search_config(self, sample: int) -> SearchConfig:
        """The config of the ``sample``-th search: the preset (default: paper defaults) plus overrides."""
        overrides = dict(self.search)
        if "seed" in overrides:
            raise ValueError("set the searches' seed with the spec's seed, not in search")
        base = preset(overrides.pop("preset", "paper defaults"))
        overrides.setdefault("code_max_tokens", self.max_tokens)
        return base.replace(**overrides, seed=self.seed + sample)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["problems"], d["k"] = list(self.problems), list(self.k)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalSpec:
        return cls(**{**d, "problems": tuple(d["problems"]), "k": tuple(d["k"])})


@dataclass
class ProblemResult:
    """One problem's samples: their code and hidden-test verdicts; ``passed`` of ``samples`` passed."""

    problem_id: str
    passed: int
    samples: int
    codes: list[str]
    verdicts: list[VerdictSummary]
    seconds: float
    tokens: int
    in_training_data: bool = False
    run_id: str | None = None  # mcts: the stored tree of the (first) search
    run_ids: list[str] = field(default_factory=list)  # mcts: every stored tree, one per sample


@dataclass
class EvalResult:
    spec: EvalSpec
    results: list[ProblemResult]
    pass_at: dict[int, float]
    started_at: float
    seconds: float
    model_id: str
    adapter: str | None
    eval_id: int | None = None
    status: str = "running"
    pass_at_unseen: dict[int, float] = field(default_factory=dict)  # over problems not in the training data

    def refresh(self) -> None:
        """Recompute pass@k over the problems done so far."""
        self.pass_at = pass_at(self.results, self.spec.k)
        self.pass_at_unseen = pass_at([r for r in self.results if not r.in_training_data], self.spec.k)


def pass_at(results: Iterable[ProblemResult], ks: Iterable[int]) -> dict[int, float]:
    counts = [(r.samples, r.passed) for r in results]
    return {k: v for k in ks if (v := mean_pass_at_k(counts, k)) is not None}


_RANGE = re.compile(r"(?:HumanEval/)?(\d+)-(?:HumanEval/)?(\d+)")


def split(name: str) -> tuple[str, ...]:
    """HumanEval ids of a named split: "all", "first-N", "last-N", or a range "HumanEval/0-39" / "0-39"."""
    ids = [p.id for p in load_humaneval()]
    key = name.strip()
    if key == "all":
        return tuple(ids)
    if m := re.fullmatch(r"(first|last)-(\d+)", key):
        n = int(m.group(2))
        if not 1 <= n <= len(ids):
            raise ValueError(f"split {name!r}: N must be from 1 to {len(ids)}")
        return tuple(ids[:n] if m.group(1) == "first" else ids[-n:])
    if m := _RANGE.fullmatch(key):
        lo, hi = int(m.group(1)), int(m.group(2))
        if not lo <= hi < len(ids):
            raise ValueError(f"split {name!r}: a range runs from 0 to {len(ids) - 1}, low to high")
        return tuple(ids[lo : hi + 1])
    raise ValueError(f"unknown split {name!r}; use all, first-N, last-N or a range such as HumanEval/0-39")


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
) -> EvalResult:
    """Run ``spec`` on ``backend``; with a ``store``, the result is saved after every problem.

    A set ``stop`` ends the run between problems (mcts: between iterations, and the
    unfinished problem is dropped); the result then has status "stopped".
    """
    from core.eval_solvers import Solver  # imported here: eval_solvers imports this module

    loaded = getattr(backend, "adapter", None)
    if loaded != spec.adapter:
        raise ValueError(f"the spec asks for adapter {spec.adapter!r} but the backend carries {loaded!r}")
    training = {_canonical(p) for p in training_problems}
    result = EvalResult(spec, [], {}, time.time(), 0.0, backend.model_id, spec.adapter)
    started = time.monotonic()

    def save() -> None:
        result.seconds = round(time.monotonic() - started, 3)
        if store is not None:
            result.eval_id = store.save_eval(result)

    save()
    problems = [get_problem(p) for p in spec.problems]
    solver = Solver(spec, backend, stop=stop, store=store)
    try:
        for chunk in solver.chunks(problems):
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
