"""Choosing the answer by running it (S*-style): when several programs pass the visible tests, the model
writes new inputs, the sandbox runs every candidate on them, and the answer comes from the largest group
of candidates that agree on every output, among those that return on the most inputs (a program that
raises on a call the model wrote as valid, where another returns, is taken as wrong: an unguarded
``numbers[0]`` on ``[]``). The verbal score only breaks ties inside that group.

Small models' own scores are close to random as verifiers; programs that agree on inputs nobody has
checked are more often right than one the critic liked (S*, arXiv 2502.14382; CodeT uses agreement the
same way). The model's inputs are not trusted as tests: only agreement between candidates counts.

Example::

    parse_inputs("add(1, 2)\\nadd(-1, 1)\\nos.system('x')", "add")   # ['add(1, 2)', 'add(-1, 1)']
    choice = choose([Outcome(3, 0.9, ("3", "0")), Outcome(5, 0.6, ("3", "0")), Outcome(7, 0.95, ("4", "1"))])
    choice.chosen, choice.reason      # 3: two of three candidates agree; #3 has the best value of the two
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core import python_ast

MAX_INPUTS = 6
MAX_CALL_CHARS = 300
# how ``grounding.run_inputs`` writes an output that is no value: the call raised, or the program failed
RAISED = "raised "
ERRORED = "error: "


@dataclass(frozen=True)
class Outcome:
    """One candidate: its node, its value, and what it returned on each input ("raised X" for an error)."""

    node: int
    value: float
    outputs: tuple[str | None, ...]  # None: that input was not run for it (no value came back)


@dataclass
class AnswerChoice:
    """Which candidate became the answer, on which inputs, and why: kept on the tree as an event."""

    inputs: list[str]
    outputs: dict[int, list[str | None]]  # node -> outputs, in the order of ``inputs``
    groups: list[list[int]]  # candidates that agree on every output, largest group first
    chosen: int
    reason: str
    candidates: list[int] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["outputs"] = {str(k): v for k, v in self.outputs.items()}
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AnswerChoice:
        return cls(
            inputs=list(data["inputs"]),
            outputs={int(k): list(v) for k, v in data["outputs"].items()},
            groups=[list(g) for g in data["groups"]],
            chosen=int(data["chosen"]),
            reason=str(data["reason"]),
            candidates=[int(c) for c in data.get("candidates", [])],
        )


def _call_of(line: str, entry_point: str) -> ast.Call | None:
    """The call of ``entry_point`` a line makes: bare, printed, asserted on, or assigned
    (``f(1)``, ``print(f(1))  # 3``, ``assert f(1) == 3``, ``x = f(1)``); None for anything else."""
    try:
        stmt = python_ast.parse(line).body
    except SyntaxError:
        return None
    if len(stmt) != 1:
        return None
    node = stmt[0]
    if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare):
        expr: ast.expr = node.test.left
    elif isinstance(node, (ast.Expr, ast.Assign)):
        expr = node.value
    else:
        return None
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "print":
        if len(expr.args) != 1 or expr.keywords:
            return None
        expr = expr.args[0]
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == entry_point:
        return expr
    return None


def parse_inputs(text: str, entry_point: str, limit: int = MAX_INPUTS) -> list[str]:
    """The lines of the model's reply that are one call of ``entry_point`` on literal arguments.

    Anything else (prose, other calls, names, comprehensions) is dropped: the inputs are run in every
    candidate's sandbox and judged outside it, so they must be plain literals.
    """
    calls: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line[:1].isdigit() and "." in line[:4]:  # "1. add(1, 2)"
            line = line.split(".", 1)[1]
        line = line.strip().strip("`").strip().removeprefix(">>>").strip()
        if not line or len(line) > MAX_CALL_CHARS:
            continue
        expr = _call_of(line, entry_point)
        if expr is None:
            continue
        try:
            for arg in (*expr.args, *(k.value for k in expr.keywords)):
                ast.literal_eval(arg)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            continue
        if any(k.arg is None for k in expr.keywords):  # **kwargs
            continue
        call = ast.unparse(expr)
        if call not in calls:
            calls.append(call)
        if len(calls) >= limit:
            break
    return calls


def _raised(output: str | None) -> bool:
    return output is not None and output.startswith((RAISED, ERRORED))


def choose(outcomes: Sequence[Outcome]) -> AnswerChoice:
    """The answer: among the candidates that return (not raise) on the most inputs, the best-valued
    candidate of the largest group that agrees on every output.

    Inputs that some candidate did not run (no value came back) are left out of the comparison.
    Groups of equal size go to the one holding the best value. With no usable input, the best value wins.
    """
    if not outcomes:
        raise ValueError("no candidates to choose from")
    width = min(len(o.outputs) for o in outcomes)
    usable = [i for i in range(width) if all(o.outputs[i] is not None for o in outcomes)]
    returned = {o.node: sum(not _raised(o.outputs[i]) for i in usable) for o in outcomes}
    most = max(returned.values())
    groups: dict[tuple, list[Outcome]] = {}
    for o in outcomes:
        if returned[o.node] == most:
            groups.setdefault(tuple(o.outputs[i] for i in usable), []).append(o)
    raisers = [o.node for o in outcomes if returned[o.node] < most]

    def best(group: list[Outcome]) -> Outcome:
        return max(group, key=lambda o: (o.value, -o.node))

    ranked = sorted(groups.values(), key=lambda g: (len(g), best(g).value, -best(g).node), reverse=True)
    winner = best(ranked[0])
    kept = len(outcomes) - len(raisers)
    if not usable:
        reason = f"no input ran on every candidate: #{winner.node} has the best value ({winner.value:.3f})"
    elif len(ranked) == 1:
        reason = (
            f"all {kept} candidates agree on {len(usable)} input(s): "
            f"#{winner.node} has the best value ({winner.value:.3f})"
        )
    else:
        reason = (
            f"{len(ranked[0])} of {kept} candidates agree on all {len(usable)} input(s), the "
            f"largest group; #{winner.node} has the best value among them ({winner.value:.3f})"
        )
    if raisers and usable:
        shown = ", ".join(f"#{n}" for n in raisers)
        reason = (
            f"{shown} raised on input(s) where others returned, so {'it was' if len(raisers) == 1 else 'they were'} "
            f"left out; {reason}"
        )
    return AnswerChoice(
        inputs=[],
        outputs={o.node: list(o.outputs) for o in outcomes},
        groups=[[o.node for o in g] for g in ranked],
        chosen=winner.node,
        reason=reason,
        candidates=[o.node for o in outcomes],
    )
