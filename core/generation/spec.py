"""The settings and the reports of a ``generate`` batch (see ``core/generation/run.py``).

:class:`GenerateSpec` holds every setting and validates them before any model loads;
:class:`GenerateProgress` is what the progress callback gets after each problem, and
:class:`GenerateSummary` what the batch returns.

Example::

    spec = GenerateSpec("HumanEval/0-7", "runs/gen1", concurrency=4, iterations=8)
    spec.config().max_iterations                        # 8, on top of the "paper defaults" preset
    GenerateSpec("first-3", "out", preset="nope")       # ValueError: unknown preset 'nope' ...
    GenerateProgress(done=2, total=8, skipped=2, failed=0, nodes=40, tokens=900, elapsed=10.0).eta_s  # 20.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import SearchConfig, preset
from core.llm import LLMBackend

METHODS = ("sra-mcts", "cot")


def check_search(search: object) -> None:
    """Search knobs over a preset: an object, without the seed and budget that have fields of their own
    (a bad knob name or value fails when the config is built)."""
    if not isinstance(search, dict):
        raise ValueError("search must be an object of search settings")
    for name in ("seed", "max_iterations"):
        if name in search:
            raise ValueError(
                f"search: set {name} with its own field ({name.replace('max_', '')}), not in search"
            )


@dataclass(frozen=True)
class GenerateSpec:
    """What to generate and how; ``out`` is the folder of records, manifest and spec.json."""

    problems: str  # "humaneval", a split ("first-40", "HumanEval/0-7") or a JSONL file
    out: Path
    method: str = "sra-mcts"  # or "cot": one plan from one call, no search (core/search/one_shot.py)
    concurrency: int = 1
    preset: str = "paper defaults"
    iterations: int | None = None  # the preset's max_iterations when None
    search: dict[str, Any] = field(default_factory=dict)  # SearchConfig fields on top of the preset
    # a runs database whose finished trees are taken instead of searching again, where one was made for
    # the same problem with the same config (digest) by the same model, with no adapter
    reuse: Path | None = None
    seed: int = 0
    check: bool = True  # run the code on the visible (and hidden) tests; reported, not a filter
    limit: int | None = None  # only the first N problems of the source
    max_pause_s: float = 600.0  # per problem: how long to wait, in all, for a failing backend
    backoff_s: float = 1.0  # the first wait; each next one doubles
    max_backoff_s: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        for name, lo, hi in (("concurrency", 1, 256), ("limit", 1, 10**7)):
            value = getattr(self, name)
            if (value is not None or name != "limit") and (
                isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi
            ):
                raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")
        for name in ("max_pause_s", "backoff_s", "max_backoff_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if self.reuse is not None:
            object.__setattr__(self, "reuse", Path(self.reuse))
            if not self.reuse.is_file():
                raise ValueError(f"reuse: no runs database at {self.reuse}")
        check_search(self.search)
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        self.config()  # a bad preset, iteration budget or seed fails here, before any model loads

    def config(self) -> SearchConfig:
        changes: dict[str, Any] = {**self.search, "seed": self.seed}
        if self.iterations is not None:
            changes["max_iterations"] = self.iterations
        return preset(self.preset).replace(**changes)

    def settings(self, backend: LLMBackend) -> dict[str, Any]:
        """What makes the records what they are: written to spec.json, compared on a rerun."""
        cfg = self.config()
        return {
            "problems": self.problems,
            **({"method": self.method} if self.method != "sra-mcts" else {}),  # older outputs match
            "preset": self.preset,
            "iterations": self.iterations,
            **({"search": self.search} if self.search else {}),  # older outputs match
            "seed": self.seed,
            "check": self.check,
            "backend": backend.name,
            "model_id": backend.model_id,
            "config_hash": cfg.digest(),
            "config": cfg.to_dict(),
        }


@dataclass(frozen=True)
class GenerateProgress:
    """One report: sent once at the start (``problem_id`` "") and after each finished problem."""

    done: int  # done in this run
    total: int
    skipped: int  # done by earlier runs
    failed: int
    nodes: int  # made in this run
    tokens: int  # completion tokens in this run
    elapsed: float
    problem_id: str = ""
    outcome: str = ""  # "ok ..." or "failed: <reason>"

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed

    @property
    def eta_s(self) -> float | None:
        ran = self.done + self.failed
        return self.elapsed / ran * (self.total - self.finished) if ran else None


@dataclass
class GenerateSummary:
    total: int
    records: Path
    done: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # problem id -> reason
    nodes: int = 0
    tokens: int = 0
    seconds: float = 0.0
    records_in_all: int = 0  # records in the file after this run
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
