"""What an experiment is: the paper's comparison of training data, as one validated spec.

Train problems make the data, eval problems judge the fine-tuned models on hidden tests; the two
are kept apart (an overlap is refused unless ``force_overlap``, and then every table says so).
Each data method makes one training set: ``cot`` (one plan from one call, no search) or
``sra-mcts`` (the search with the preset it names), filtered or not by the train problems' tests.

Example::

    spec = ExperimentSpec.from_dict({"name": "smoke", "train": "HumanEval/0-3", "eval": "HumanEval/4-7",
                                     "methods": [{"kind": "cot"}, {"kind": "sra-mcts", "filter": "tests"}]})
    spec.eval_ids()     # ('HumanEval/4', ..., 'HumanEval/7')
    [m.key for m in spec.methods]   # ['cot', 'sra-mcts.paper-defaults+tests']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import preset as search_preset
from core.generation.spec import check_search
from core.problems.sources import load_problems
from core.training.config import PRESETS as FINETUNE_PRESETS
from core.training.config import preset as finetune_preset

KINDS = ("cot", "sra-mcts")
FILTERS = ("none", "tests")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ExperimentError(ValueError):
    """A bad spec, named by its field: the one line the CLI and the tab show."""


@dataclass(frozen=True)
class DataMethod:
    kind: str  # "cot" | "sra-mcts"
    preset: str = "paper defaults"  # the search's preset (sra-mcts; cot uses its prompts and seed)
    filter: str = "none"  # "tests": keep a record only when its code passes the train problem's tests
    iterations: int | None = None  # sra-mcts: the preset's budget when None
    search: dict[str, Any] = field(default_factory=dict, hash=False)  # SearchConfig fields over the preset

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ExperimentError(f"methods: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.filter not in FILTERS:
            raise ExperimentError(f"methods: filter must be one of {', '.join(FILTERS)}, got {self.filter!r}")
        try:
            search_preset(self.preset)
        except ValueError as exc:
            raise ExperimentError(f"methods: {exc}") from None
        if self.kind == "cot" and self.search:
            raise ExperimentError("methods: search settings apply to sra-mcts, not cot")
        try:
            check_search(self.search)
            search_preset(self.preset).replace(**self.search)
        except ValueError as exc:
            raise ExperimentError(f"methods: {exc}") from None
        if self.iterations is not None and (
            isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations < 1
        ):
            raise ExperimentError(f"methods: iterations must be a positive integer, got {self.iterations!r}")

    @property
    def data_key(self) -> str:
        """The generated set this method reads: filtered and unfiltered share one generation."""
        if self.kind == "cot":
            return "cot"
        slug = re.sub(r"[^a-z0-9]+", "-", self.preset.lower()).strip("-")
        key = f"sra-mcts.{slug}" + (f".{self.iterations}it" if self.iterations else "")
        if self.search:
            key += "." + hashlib.sha256(json.dumps(self.search, sort_keys=True).encode()).hexdigest()[:6]
        return key

    @property
    def key(self) -> str:
        return self.data_key + ("+tests" if self.filter == "tests" else "")

    @property
    def label(self) -> str:
        what = "+CoT data" if self.kind == "cot" else f"+SRA-MCTS data ({self.preset})"
        return what + (", test-filtered" if self.filter == "tests" else "")


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    train: str  # a split ("HumanEval/0-81") or a JSONL problem file
    eval: str
    methods: tuple[DataMethod, ...]
    model: str = "embedded"
    backend: str = "transformers"
    finetune_preset: str = "CPU quick"
    finetune: dict[str, Any] = field(default_factory=dict)  # overrides of the preset (epochs, lora_r ...)
    seed: int = 0
    samples: int = 1  # n per eval problem for pass@k (1: greedy pass@1 only)
    k: int = 1  # the pass@k column (k <= samples)
    temperature: float = 0.8  # of the sampled evaluation
    max_tokens: int = 384
    concurrency: int = 1  # problems generated at once
    force_overlap: bool = False
    # a runs database (a path, relative to the working folder) whose finished trees of the train problems,
    # made with a method's config by the same model, are its data instead of searching again
    reuse_trees: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise ExperimentError(
                f"name {self.name!r}: a letter or digit first, then letters, digits, '.', '-' or '_'"
            )
        if not self.methods:
            raise ExperimentError("methods: name at least one data method (cot, sra-mcts)")
        keys = [m.key for m in self.methods]
        if len(set(keys)) != len(keys):
            raise ExperimentError(f"methods: {next(k for k in keys if keys.count(k) > 1)} is listed twice")
        if self.finetune_preset not in FINETUNE_PRESETS:
            raise ExperimentError(
                f"finetune_preset {self.finetune_preset!r}: one of {', '.join(FINETUNE_PRESETS)}"
            )
        forbidden = {"dataset", "adapter_name", "base_model", "seed"} & set(self.finetune)
        if forbidden:
            raise ExperimentError(f"finetune: {sorted(forbidden)[0]} is set by the experiment")
        try:
            finetune_preset(self.finetune_preset, dataset="x", **self.finetune).validate()
        except (ValueError, TypeError) as exc:
            raise ExperimentError(f"finetune: {exc}") from None
        for name, lo, hi in (
            ("seed", 0, 2**31 - 1),
            ("samples", 1, 200),
            ("k", 1, 200),
            ("max_tokens", 16, 8192),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ExperimentError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")
        if not isinstance(self.reuse_trees, str):
            raise ExperimentError("reuse_trees must be the path of a runs database, or empty")
        if not 1 <= self.concurrency <= 64:
            raise ExperimentError(f"concurrency must be from 1 to 64, got {self.concurrency!r}")
        if self.k > self.samples:
            raise ExperimentError(f"pass@{self.k} needs samples >= {self.k}, got {self.samples}")
        if self.samples > 1 and not 0 < self.temperature <= 2:
            raise ExperimentError("temperature must be in (0, 2] when samples > 1")
        overlap = self.overlap()
        if overlap and not self.force_overlap:
            raise ExperimentError(
                f"train and eval share {len(overlap)} problem(s) ({', '.join(overlap[:3])}...): "
                "a model would be judged on what it trained on; choose disjoint splits or set force_overlap"
            )

    def train_ids(self) -> tuple[str, ...]:
        return self._ids("train")

    def eval_ids(self) -> tuple[str, ...]:
        return self._ids("eval")

    def _ids(self, which: str) -> tuple[str, ...]:
        try:
            ids = tuple(p.id for p in load_problems(getattr(self, which)))
        except (ValueError, KeyError, OSError) as exc:
            raise ExperimentError(f"{which}: {exc}") from None
        if not ids:
            raise ExperimentError(f"{which}: no problems in {getattr(self, which)!r}")
        return ids

    def overlap(self) -> list[str]:
        train = set(self.train_ids())
        return [p for p in self.eval_ids() if p in train]

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["methods"] = [dataclasses.asdict(m) for m in self.methods]
        return out

    def digest(self) -> str:
        """What the results depend on (the name aside): a rerun with another digest is refused."""
        blob = {k: v for k, v in self.to_dict().items() if k not in ("name", "concurrency")}
        # fields added later count only when set, so an older experiment keeps its digest
        if not blob["reuse_trees"]:
            del blob["reuse_trees"]
        blob["methods"] = [{k: v for k, v in m.items() if k != "search" or v} for m in blob["methods"]]
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: Any) -> ExperimentSpec:
        if not isinstance(data, dict):
            raise ExperimentError(f"an experiment spec is a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExperimentError(f"unknown field(s): {', '.join(unknown)}")
        missing = [f for f in ("name", "train", "eval", "methods") if f not in data]
        if missing:
            raise ExperimentError(f"missing field(s): {', '.join(missing)}")
        methods = data["methods"]
        if not isinstance(methods, list):
            raise ExperimentError("methods must be a list")
        parsed = []
        for m in methods:
            if isinstance(m, str):
                m = {"kind": m}
            if not isinstance(m, dict) or set(m) - {f.name for f in dataclasses.fields(DataMethod)}:
                raise ExperimentError(
                    f"methods: {m!r} is not a method (kind, preset, filter, iterations, search)"
                )
            parsed.append(DataMethod(**m))
        values = {**data, "methods": tuple(parsed)}
        if not isinstance(values.get("finetune", {}), dict):
            raise ExperimentError("finetune must be an object of fine-tune settings")
        try:
            return cls(**values)
        except TypeError as exc:
            raise ExperimentError(str(exc)) from None

    @classmethod
    def from_file(cls, path: str | Path) -> ExperimentSpec:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ExperimentError(f"{path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ExperimentError(f"{path}: not JSON ({exc})") from None
        return cls.from_dict(data)


PRESETS: dict[str, dict[str, Any]] = {
    # Minutes on a laptop CPU: a few problems, a short search, one epoch, greedy pass@1.
    "CPU smoke": {
        "train": "HumanEval/0-3",
        "eval": "HumanEval/82-85",
        "methods": [{"kind": "cot"}, {"kind": "sra-mcts", "preset": "quick demo"}],
        "finetune": {"epochs": 1.0},
    },
    # The paper's comparison at this project's declared split (issue 16): days on a CPU, hours on a GPU.
    "paper-style": {
        "train": "HumanEval/0-81",
        "eval": "HumanEval/82-163",
        "methods": [
            {"kind": "cot"},
            {"kind": "cot", "filter": "tests"},
            {"kind": "sra-mcts"},
            {"kind": "sra-mcts", "filter": "tests"},
        ],
        "samples": 10,
        "k": 10,
    },
}
