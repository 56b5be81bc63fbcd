"""Execution-grounded reward: run a path's code against the problem's tests.

reward = (1 - w) * critic_value + w * visible_pass_rate, where the visible tests
are the examples of the problem's docstring. The hidden tests (HumanEval's
``check``) are run too, but only shown beside the reward, so that a researcher
sees whether the reward tells the truth. Putting them into the reward is an
explicit, "leaky" opt-in.

Example: a critic value of 0.9 whose code passes 1 of 3 visible tests gives,
with w = 0.5, reward = 0.5 * 0.9 + 0.5 * 0.333 = 0.617.
"""

from __future__ import annotations

from core.execution.sandbox import Verdict, run_humaneval_check, run_tests
from core.problems.problem import Problem
from core.tree.records import ExecutionRecord, VerdictSummary


def problem_imports(problem: Problem) -> str:
    """The import lines the problem's prompt starts with (``from typing import List``).

    Models often leave them out of their code; the tests need them to run at all.
    """
    lines = []
    for line in problem.prompt.splitlines():
        stripped = line.strip()
        if stripped.startswith(("import ", "from ")):
            lines.append(stripped)
        elif stripped.startswith("def "):
            break
    return "\n".join(lines)


def summarize(verdict: Verdict) -> VerdictSummary:
    failures = [t for t in verdict.tests if not t.passed]
    first = ""
    if verdict.error_kind:
        first = f"{verdict.error_kind}: {verdict.error_message}".strip()
    elif failures:
        f = failures[0]
        first = f"{f.line or f.test}  ->  {f.error or 'failed'} {f.message}".strip()
    return VerdictSummary(
        passed=verdict.passed,
        pass_rate=verdict.pass_rate,
        tests=len(verdict.tests),
        failed=len(failures),
        error_kind=verdict.error_kind,
        first_failure=first[:500],
        duration_s=verdict.duration_s,
    )


def ground(
    problem: Problem,
    code: str,
    critic_value: float,
    weight: float,
    *,
    leaky: bool = False,
    timeout_s: float = 5.0,
) -> ExecutionRecord:
    """Run ``code`` against the visible and hidden tests and combine the reward.

    Without visible tests the critic value stands alone (unless ``leaky``, where the
    hidden pass rate takes the place of the visible one).
    """
    imports = problem_imports(problem)
    visible = None
    if problem.visible_tests:
        visible = summarize(run_tests(code, problem.visible_tests, timeout_s=timeout_s, setup=imports))
    hidden = None
    if problem.hidden_test and problem.entry_point:
        program = f"{imports}\n{code}" if imports else code
        hidden = summarize(run_humaneval_check(problem, program, timeout_s=timeout_s))
    grounding = hidden if leaky else visible
    reward = critic_value if grounding is None else (1 - weight) * critic_value + weight * grounding.pass_rate
    return ExecutionRecord(
        visible=visible, hidden=hidden, critic_value=critic_value, weight=weight, reward=reward, leaky=leaky
    )
