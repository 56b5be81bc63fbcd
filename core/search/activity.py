"""What a search is doing right now, for a live progress line read from another thread.

The search replaces its :class:`Activity` (never mutates it) as each phase of an iteration
begins, so a reader always sees one consistent value without taking the search's lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

PHASES = {
    "select": "selecting a node by UCB",
    "direct": "writing the direct program (the greedy candidate)",
    "reflect": "reflecting on the path",
    "propose": "proposing next steps",
    "critic": "scoring the new steps with the critic",
    "code": "writing code for the paths",
    "tests": "running the visible tests",
    "rollout": "rolling out one step ahead",
    "answer": "choosing the answer: running the passing programs on new inputs",
}


@dataclass(frozen=True)
class Activity:
    phase: str  # a key of PHASES
    iteration: int  # the iteration this phase belongs to (a wave's first)
    node: int | None = None  # the node it works on, when one
    since: float = field(default_factory=time.monotonic)
    last: int | None = None  # a wave's last iteration, when the phase works for several

    def describe(self, now: float | None = None) -> str:
        """E.g. "iteration 3 · proposing next steps at node #4 · 2.1 s", or "iterations 3–6 · …" in a wave."""
        spent = (time.monotonic() if now is None else now) - self.since
        where = f" at node #{self.node}" if self.node is not None else ""
        which = f"iterations {self.iteration}–{self.last}" if self.last else f"iteration {self.iteration}"
        return f"{which} · {PHASES.get(self.phase, self.phase)}{where} · {spent:.1f} s"
