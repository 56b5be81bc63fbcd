"""One validated config for every knob of a search, saved with each tree.

Defaults follow the public SRA-MCTS reference (k=3, temperature 0.7, end gate 0.88, one-step greedy
rollout with 2 candidates blended at 0.5). How the reference's UCB knobs map here: it computes UCB on
the critic's 0-10 scale with c = 0.5 and gives an unvisited child its value plus 8; values here are
normalised to [0, 1], and dividing that UCB by 10 leaves the order of every comparison unchanged, so
the same behaviour is c = 0.05 and ``unvisited_bonus`` = 0.8 (the defaults).

Example::

    cfg = SearchConfig(k=4)                 # everything else at the defaults
    cfg = cfg.replace(temperature=0.9)      # a validated copy
    SearchConfig.from_dict({"k": 0})        # ConfigError: k must be >= 1, got 0
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.prompts import PromptSet

CRITIC_VALUES = ("text", "distribution")


class ConfigError(ValueError):
    """A config value is invalid; the message names the field."""


@dataclass(frozen=True)
class SearchConfig:
    # Expansion
    k: int = 3  # candidate steps per expansion, all from one batched call
    temperature: float = 0.7
    top_p: float = 1.0
    step_max_tokens: int = 48  # one sentence; a longer tail only stalls the batch
    reflection: bool = True  # ask "<end> or analysis" before expanding
    reflection_max_tokens: int = 64
    step_stop: tuple[str, ...] = ("\n",)  # a step is one line
    reflection_stop: tuple[str, ...] = ("\n\n",)
    max_depth: int = 8  # a node at this depth is a terminal leaf
    # Selection
    c: float = 0.05  # UCB exploration constant on [0, 1] values (the reference's 0.5 on its 0-10 scale)
    unvisited_bonus: float = 0.8  # an unvisited child scores V + this (the reference's +8 on 0-10)
    propose_retries: int = 2  # when every proposal of an expansion is dropped, ask again with a new seed
    # nodes selected (virtual loss keeps them apart) and expanded together per wave, each one iteration;
    # each role's requests of a wave share one batched call. 1 is the sequential search
    width: int = 4
    # Evaluation
    critic_max_tokens: int = 48
    critic_temperature: float = 0.0
    critic_stop: tuple[str, ...] = ("\n",)
    unparsed_value: float = 0.0  # value of a node whose critic reply could not be read (it stays flagged)
    # "text": the sampled reply's score (the reference); "distribution": the expected score under the
    # model's distribution over the score tokens, where the backend gives log-probabilities (else text)
    critic_value: str = "text"
    rollout: bool = True  # one-step greedy rollout from the best new child
    rollout_width: int = 2
    rollout_weight: float = 0.5  # V = (1-w)*V + w*rollout
    # Stopping
    end_gate: float = 0.88  # a selected node with value >= gate ends the search
    end_gate_min_depth: int = (
        2  # ... if it is at least this deep (a 1-step "solution" is the reference's flaw)
    )
    max_iterations: int = 16
    time_budget_s: float | None = None
    # Execution-grounded reward (beyond the reference; 0 reproduces the paper)
    # w in V = (1-w)*critic + w*visible_pass_rate, for every new child: its path is turned into code and
    # run on the docstring examples; the end gate then needs them to pass
    exec_weight: float = 0.0
    greedy_candidate: bool = True  # with w > 0, the direct program (no reasoning) is a candidate answer too
    # with w > 0, a node whose code failed a visible test hands the failure (call, expected, got) to the
    # reflection and the proposals below it, so the tree repairs instead of only re-sampling
    exec_feedback: bool = True
    # with w > 0 and several programs passing the examples, the answer is chosen by running them on inputs
    # the model writes (the largest group that agrees on every output), not by the verbal score alone
    answer_by_running: bool = True
    # with w > 0, a direct program that passes every visible test ends the search at once ("direct_passed"):
    # the tree is spent only where plain decoding fails the examples
    accept_direct: bool = False
    exec_hidden_in_reward: bool = False  # "leaky": hidden tests in the reward; the run is marked so
    exec_timeout_s: float = 5.0
    # Reasoning to code
    code_max_tokens: int = 320
    code_stop: tuple[str, ...] = ("\n```",)
    # Prompts: a worked example per role as an earlier chat turn (core/worked_examples.py)
    worked_examples: bool = False
    # Reproducibility
    seed: int = 0
    prompts: PromptSet = field(default_factory=PromptSet)

    def __post_init__(self) -> None:
        _check_int(self, "k", 1, 16)
        _check_float(self, "temperature", 0.0, 2.0)
        _check_float(self, "top_p", 1e-6, 1.0)
        _check_int(self, "step_max_tokens", 4, 4096)
        _check_bool(self, "reflection")
        _check_int(self, "reflection_max_tokens", 4, 4096)
        _check_int(self, "max_depth", 1, 64)
        _check_float(self, "c", 0.0, 100.0)
        _check_float(self, "unvisited_bonus", 0.0, 1e6)
        _check_int(self, "propose_retries", 0, 10)
        _check_int(self, "width", 1, 64)
        if self.critic_value not in CRITIC_VALUES:
            raise ConfigError(
                f"critic_value must be one of {', '.join(CRITIC_VALUES)}, got {self.critic_value!r}"
            )
        _check_int(self, "critic_max_tokens", 1, 4096)
        _check_float(self, "critic_temperature", 0.0, 2.0)
        _check_float(self, "unparsed_value", 0.0, 1.0)
        _check_bool(self, "rollout")
        _check_int(self, "rollout_width", 1, 16)
        _check_float(self, "rollout_weight", 0.0, 1.0)
        _check_float(self, "end_gate", 0.0, 1.0)
        _check_int(self, "end_gate_min_depth", 1, 64)
        _check_int(self, "max_iterations", 1, 100_000)
        if self.time_budget_s is not None:
            _check_float(self, "time_budget_s", 0.001, 1e7)
        _check_float(self, "exec_weight", 0.0, 1.0)
        _check_bool(self, "exec_hidden_in_reward")
        _check_bool(self, "greedy_candidate")
        _check_bool(self, "exec_feedback")
        _check_bool(self, "answer_by_running")
        _check_bool(self, "accept_direct")
        _check_bool(self, "worked_examples")
        _check_float(self, "exec_timeout_s", 0.1, 600.0)
        _check_int(self, "code_max_tokens", 16, 16384)
        _check_int(self, "seed", 0, 2**31 - 1)
        for name in ("step_stop", "reflection_stop", "critic_stop", "code_stop"):
            _check_stops(self, name)
        if not isinstance(self.prompts, PromptSet):
            raise ConfigError(f"prompts must be a PromptSet, got {type(self.prompts).__name__}")

    def replace(self, **changes: Any) -> SearchConfig:
        return SearchConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["prompts"] = self.prompts.to_dict()
        for name in ("step_stop", "reflection_stop", "critic_stop", "code_stop"):
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        values = dict(data)
        if "prompts" in values and isinstance(values["prompts"], dict):
            try:
                values["prompts"] = PromptSet.from_dict(values["prompts"])
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> SearchConfig:
        """Load a JSON config file (a partial one keeps the other defaults)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {p}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
        return cls.from_dict(data)

    def digest(self) -> str:
        """A short stable hash of every knob, for provenance."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _check_int(cfg: SearchConfig, name: str, lo: int, hi: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")


def _check_float(cfg: SearchConfig, name: str, lo: float, hi: float) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value != value or not lo <= value <= hi:  # value != value catches NaN
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    object.__setattr__(cfg, name, float(value))


def _check_bool(cfg: SearchConfig, name: str) -> None:
    value = getattr(cfg, name)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")


def _check_stops(cfg: SearchConfig, name: str) -> None:
    value = getattr(cfg, name)
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{name} must be a list of strings, got {value!r}")
    if not all(isinstance(s, str) and s for s in value):
        raise ConfigError(f"{name} must hold non-empty strings, got {value!r}")
    object.__setattr__(cfg, name, tuple(value))


# --- Presets ---
# Named starting points for the knobs, shown in the studio. "paper defaults" is the SRA-MCTS
# reference. "quick demo" trades depth of search for speed on a laptop CPU: fewer calls per
# iteration, so a tree grows visibly within a minute on the embedded model. "runs the examples" is
# the paper's search plus grounding: every new step's path is turned into code and run on the
# problem's docstring examples, half of its value is their pass rate, the end gate needs them to
# pass, the direct program is a candidate answer, and the critic's value is its expected score.
# "repairs what fails" spends the tree only where plain decoding fails: the direct program runs first
# and, when it passes every example, is the answer; else the tree grows from its failure (execution
# feedback), a node's value is mostly its examples' pass rate (verbal scores of small models are close
# to random), a one-step path whose code passes them may end the search, and no rollout is spent.

GROUNDED = "runs the examples"
REPAIR = "repairs what fails"

PRESETS: dict[str, SearchConfig] = {
    "paper defaults": SearchConfig(),
    "quick demo": SearchConfig(k=2, rollout=False, reflection=False, max_iterations=6),
    "wide": SearchConfig(k=5, c=0.1, temperature=0.9),
    GROUNDED: SearchConfig(exec_weight=0.5, critic_value="distribution"),
    REPAIR: SearchConfig(
        exec_weight=0.8,
        critic_value="distribution",
        end_gate=0.8,
        end_gate_min_depth=1,
        rollout=False,
        accept_direct=True,
    ),
}
PRESET_ALIASES = {"grounded": GROUNDED}  # names older runs and specs were saved with


def preset(name: str) -> SearchConfig:
    try:
        return PRESETS[PRESET_ALIASES.get(name, name)]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
