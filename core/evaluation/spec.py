"""What an evaluation is and what it gives: :class:`EvalSpec`, per-problem and whole results, pass@k.

Apart from the run loop (``core.evaluation.run``) so that the store's evaluation tables, the
reports and the UI can use the types without importing the loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from core.config import SearchConfig, preset
from core.evaluation.passk import mean_pass_at_k
from core.problems.problem import get_problem
from core.tree.records import VerdictSummary

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
