"""Prompt templates for the four roles of SRA-MCTS: reflection, proposal, critic, translator.

Templates only: filling them and calling the model happen in ``core/search/reasoner.py``.
Each role also has a *prefill*, the start of the model's reply ("Score:"), which a
small model continues far more reliably than it follows a format instruction.
Each template is a ``str.format`` string; the placeholders each role may use are
listed in ``PLACEHOLDERS`` and checked when a ``PromptSet`` is built, so a typo
in a user-edited prompt fails at config time, not mid-search.

Example::

    PromptSet().render("critic", problem="Add two ints.", steps="1. Return a + b.")
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SYSTEM = "You are a careful Python programmer. You think through a problem step by step before coding."

REFLECT = """Problem:
{problem}

Reasoning so far:
{steps}

Do these steps already give a complete plan that solves the problem? If they do, reply with exactly <end> and nothing else. If they do not, reply with one sentence that says what the next step must work out."""

PROPOSE = """Problem:
{problem}

Reasoning so far:
{steps}

Hint for the next step: {analysis}

Write step {step_number} of the plan: one short sentence in plain English that brings us closer to a solution. Do not write any code."""
# Continuing the numbered plan gives fewer empty or generic replies than "Step N:".
# Added under the steps of a path whose code failed a visible test (the search's execution feedback).
EXECUTION_FEEDBACK = (
    "Code written from these steps was run on the problem's examples and failed: {failure}. "
    "The plan must fix this."
)
# The same at the root, where the failed code is the direct program (no plan yet).
DIRECT_FEEDBACK = (
    "A program written straight from the problem, with no plan, was run on its examples and failed: "
    "{failure}. The plan must avoid this mistake."
)
PROPOSE_PREFILL = "{step_number}."

CRITIC = """Problem:
{problem}

Proposed reasoning:
{steps}

Rate this reasoning from 0 to 10.
10 means it fully solves the problem.
5 to 7 means it is correct so far but not finished.
Below 3 means the last step is wrong.
0 means it contains code instead of reasoning.
Reply with one line in the form: Score: <number>"""
CRITIC_PREFILL = "Score:"

CODE = """Problem:
{problem}

Plan:
{steps}

Follow the plan and write the complete Python function `{entry_point}`. Reply with a single ```python code block and nothing else."""
CODE_PREFILL = "```python\n"

# Direct code writing, with no plan: the greedy baseline of an evaluation (core/evaluation/run.py).
DIRECT_CODE = """Problem:
{problem}

Write the complete Python function `{entry_point}`, with its signature and body. Reply with a single ```python code block and nothing else."""
DIRECT_CODE_PREFILL = CODE_PREFILL

# A yes/no verdict on a program, read from the first token's probabilities (core/search/yes_probability.py).
VERIFY_CODE = """Problem:
{problem}

Program:
```python
{code}
```

Is this program correct for every input the problem allows? Reply with yes or no."""
VERIFY_PREFILL = "Answer:"

# Inputs that tell candidate programs apart (the answer is chosen by running them: core/search/answer_choice.py).
TEST_INPUTS = """Problem:
{problem}

Write {n} different calls of `{entry_point}` with new inputs that check it well: edge cases, and inputs where a slightly wrong program would give a different result. One call per line, with literal arguments only, and nothing else. For example:
{entry_point}(...)"""

# One-shot chain of thought, no search: the CoT data of an experiment (core/search/one_shot.py).
COT_PLAN = """Problem:
{problem}

Write a plan that solves this problem: at most {max_steps} short numbered steps in plain English, one per line. Do not write any code."""
COT_PREFILL = "1."

PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset(),
    "reflect": frozenset({"problem", "steps"}),
    "propose": frozenset({"problem", "steps", "analysis", "step_number"}),
    "critic": frozenset({"problem", "steps"}),
    "code": frozenset({"problem", "steps", "entry_point"}),
    "reflect_prefill": frozenset(),
    "propose_prefill": frozenset({"step_number"}),
    "critic_prefill": frozenset(),
    "code_prefill": frozenset(),
}
REQUIRED: dict[str, frozenset[str]] = {
    "system": frozenset(),
    "reflect": frozenset({"problem"}),
    "propose": frozenset({"problem"}),
    "critic": frozenset({"problem", "steps"}),
    "code": frozenset({"problem", "steps"}),
    "reflect_prefill": frozenset(),
    "propose_prefill": frozenset(),
    "critic_prefill": frozenset(),
    "code_prefill": frozenset(),
}


@dataclass(frozen=True)
class PromptSet:
    system: str = SYSTEM
    reflect: str = REFLECT
    propose: str = PROPOSE
    critic: str = CRITIC
    code: str = CODE
    # How each reply starts: the model continues this text (see GenerationRequest.prefill).
    reflect_prefill: str = ""
    propose_prefill: str = PROPOSE_PREFILL
    critic_prefill: str = CRITIC_PREFILL
    code_prefill: str = CODE_PREFILL

    def __post_init__(self) -> None:
        for role in PLACEHOLDERS:
            _validate(role, getattr(self, role))

    def render(self, role: str, **values: Any) -> str:
        if role not in PLACEHOLDERS:
            raise ValueError(f"unknown prompt role {role!r}")
        return getattr(self, role).format(**values)

    def to_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptSet:
        unknown = sorted(set(data) - set(PLACEHOLDERS))
        if unknown:
            raise ValueError(f"prompts: unknown role(s) {', '.join(unknown)}")
        return cls(**data)


def format_steps(steps: Sequence[str], *, empty: str = "") -> str:
    """A path's steps as the numbered lines every prompt, export and view shows: "1. ...\n2. ..."."""
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)) if steps else empty


def _validate(role: str, template: Any) -> None:
    if not isinstance(template, str):
        raise ValueError(f"prompts.{role} must be text, got {type(template).__name__}")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"prompts.{role} is not a valid template: {exc}") from exc
    bad = sorted(n for n in names if n not in PLACEHOLDERS[role])
    if bad:
        allowed = ", ".join(sorted(PLACEHOLDERS[role])) or "none"
        raise ValueError(f"prompts.{role} uses unknown placeholder(s) {bad}; allowed: {allowed}")
    missing = sorted(REQUIRED[role] - names)
    if missing:
        raise ValueError(f"prompts.{role} must contain {', '.join('{' + m + '}' for m in missing)}")
