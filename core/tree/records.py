"""What the search remembers about each LLM call and each decision, per node.

Every record keeps the exact prompt and the raw reply, so that a researcher can
see why a node got its value. All records are plain dataclasses that turn into
JSON dicts and back without loss (see ``core/tree/nodes.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class CriticRecord:
    """One critic call on one path: the score is None when the reply was unreadable."""

    prompt: str
    raw: str
    score: float | None  # 0..10 as the model said it, None when unparsed
    parsed: bool
    method: str  # which parsing rule matched, or "unparsed"
    note: str
    value: float  # the score in [0, 1] the search uses: from ``source``; unparsed text takes config.unparsed_value
    tokens: int
    latency_s: float
    # From the model's distribution over the score tokens, when the backend gave log-probabilities:
    distribution: list[float] | None = None  # p(score = i), i = 0..10
    expected: float | None = None  # sum(i * p[i]) on the 0..10 scale
    approximate: bool = False  # a "1" could not be told from "10" (core/search/score_distribution.py)
    source: str = "text"  # where ``value`` came from: "text" (the sampled reply) or "distribution"


@dataclass
class ReflectionRecord:
    prompt: str
    raw: str
    is_end: bool
    analysis: str
    parsed: bool
    note: str
    tokens: int
    latency_s: float


@dataclass
class DroppedStep:
    raw: str
    reason: str  # "unusable" (empty or code) | "in_path" | "echo" (repeats the instructions) | "duplicate"
    note: str = ""  # why, in words (e.g. which instruction it repeats)


@dataclass
class ExpansionRecord:
    """One proposal call on a node: k samples, which became children and which were dropped."""

    iteration: int
    prompt: str
    raws: list[str]
    kept: list[int]
    dropped: list[DroppedStep]
    tokens: int
    latency_s: float
    attempts: int = 1  # proposal calls made: more than one when every sample of a call was dropped


@dataclass
class RolloutCandidate:
    step: str
    critic: CriticRecord


@dataclass
class RolloutRecord:
    """A one-step greedy rollout: propose a few next steps, keep the best critic value."""

    iteration: int
    prompt: str
    candidates: list[RolloutCandidate]
    best: float | None  # best candidate value in [0, 1]; None when no usable candidate
    before: float
    after: float
    weight: float


@dataclass
class UCBRecord:
    """The UCB terms of a node the last time selection compared it with its siblings."""

    iteration: int
    value: float
    explore: float  # c * sqrt(2 ln N(parent) / N(child)), 0 when unvisited
    bonus: float  # the unvisited bonus, 0 when visited
    total: float
    parent_visits: int
    visits: int


@dataclass
class BackpropEntry:
    iteration: int
    value: float
    visits: int


@dataclass
class CodeRecord:
    prompt: str
    raw: str
    code: str
    source: str  # how the code was found in the reply: "fenced", "unfenced", ...
    truncated: bool
    note: str
    tokens: int
    latency_s: float
    # Came in a file from a client: kept for display, never run; the search writes such a path's code afresh.
    uploaded: bool = False


@dataclass
class VerdictSummary:
    """What one sandbox run of a path's code said, small enough to keep on every node."""

    passed: bool
    pass_rate: float  # passed tests / tests; 0.0 when the code failed before any test ran
    tests: int
    failed: int
    error_kind: str | None  # "syntax" | "runtime" | "timeout" | "memory" | "killed" | "output_limit" | None
    first_failure: str  # the first failing assert (or error message), "" when all passed
    duration_s: float
    first_error: str = ""  # the exception the first failing test raised (TypeError, AssertionError...)


@dataclass
class ExecutionRecord:
    """The execution-grounded reward of a node: its code run against the visible and hidden tests.

    reward = (1 - weight) * critic_value + weight * visible.pass_rate. Hidden tests never enter
    the reward unless the user opted in, and then ``leaky`` is True and the run is marked so.
    """

    visible: VerdictSummary | None  # None when the problem has no visible tests
    hidden: VerdictSummary | None  # None when the problem has no hidden tests (custom problems)
    critic_value: float
    weight: float
    reward: float
    leaky: bool
    applied: bool = True  # the search took ``reward`` as the node's value (False: a check by hand)

    @property
    def grounding(self) -> VerdictSummary | None:
        """The verdict that entered the reward: the hidden tests in a leaky run, else the visible ones."""
        return self.hidden if self.leaky else self.visible


@dataclass
class Usage:
    """Running totals of a tree's LLM calls; ``calls`` also derives each call's seed."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    critic_replies: int = 0
    critic_parsed: int = 0
    critic_distributions: int = 0  # critic replies whose value came from the score distribution
    by_role: dict[str, int] = field(default_factory=dict)

    @property
    def parse_rate(self) -> float | None:
        return self.critic_parsed / self.critic_replies if self.critic_replies else None


def to_plain(obj: Any) -> Any:
    """Dataclasses (nested) to dicts, keeping field order."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def from_plain(cls: type[T], data: dict[str, Any] | None) -> T | None:
    """The inverse of :func:`to_plain` for the record types of this module."""
    if data is None:
        return None
    values = dict(data)
    if cls is ExpansionRecord:
        values["dropped"] = [DroppedStep(**d) for d in values["dropped"]]
    elif cls is ExecutionRecord:
        for key in ("visible", "hidden"):
            if values.get(key) is not None:
                values[key] = VerdictSummary(**values[key])
    elif cls is RolloutRecord:
        values["candidates"] = [
            RolloutCandidate(step=c["step"], critic=CriticRecord(**c["critic"])) for c in values["candidates"]
        ]
    return cls(**values)
