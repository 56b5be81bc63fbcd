"""Typed events: what one search iteration or one steering action did.

``Search.step()`` returns the events of its iteration, and the tree keeps them
all in order, so that the UI can show a timeline and replay the search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class EventKind(str, Enum):
    SELECTED = "selected"
    REFLECTED = "reflected"
    EXPANDED = "expanded"
    EVALUATED = "evaluated"
    ROLLOUT = "rollout"
    BACKPROPAGATED = "backpropagated"
    TERMINAL = "terminal"
    STOPPED = "stopped"
    # the backend failed mid-iteration: the iteration was undone; the next step resumes
    PAUSED = "paused"
    RESUMED = "resumed"
    # steering
    PRUNED = "pruned"
    UNPRUNED = "unpruned"
    FORCED = "forced"
    EDITED = "edited"
    ADDED = "added"
    # reasoning to code, and that code run against the tests
    CODE = "code"
    EXECUTED = "executed"
    # the answer chosen by running the candidates on new inputs (core/search/answer_choice.py)
    ANSWER = "answer"


STEERING = frozenset(
    {EventKind.PRUNED, EventKind.UNPRUNED, EventKind.FORCED, EventKind.EDITED, EventKind.ADDED}
)


@dataclass
class Event:
    seq: int  # position in the tree's event log
    iteration: int  # the iteration it belongs to (steering: the last completed one)
    kind: EventKind
    node: int | None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "iteration": self.iteration,
            "kind": self.kind.value,
            "node": self.node,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(
            seq=d["seq"], iteration=d["iteration"], kind=EventKind(d["kind"]), node=d["node"], data=d["data"]
        )
