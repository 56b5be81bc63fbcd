"""Execution-grounded reward: run paths' code against the problem's tests.

reward = (1 - w) * critic_value + w * visible_pass_rate, where the visible tests are the examples
of the problem's docstring. The hidden tests (HumanEval's ``check``) are run too, but only shown
beside the reward, so that a researcher sees whether the reward tells the truth. Putting them into
the reward is an explicit, "leaky" opt-in, and the record says so.

All the sandbox runs of a batch (visible and hidden, for every path) go to a small thread pool:
each run is its own process, so two at a time keep a 2-core machine busy.

Example: a critic value of 0.9 whose code passes 1 of 3 visible tests gives,
with w = 0.5, reward = 0.5 * 0.9 + 0.5 * 0.333 = 0.617.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from core.execution.sandbox import Verdict, run_humaneval_check, run_tests
from core.problems.problem import Problem
from core.search.answer_choice import ERRORED, RAISED
from core.tree.records import ExecutionRecord, VerdictSummary

WORKERS = 2


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
    first, raised = "", ""
    if verdict.error_kind:
        first = f"{verdict.error_kind}: {verdict.error_message}".strip()
    elif failures:
        f = failures[0]
        if f.message.startswith("failed: "):  # judged here: "assert f(1) == 3 — f(1) returned 2"
            first = f.message.removeprefix("failed: ")
        else:
            first = f"{f.line or f.test}  ->  {f.error or 'failed'} {f.message}".strip()
        raised = f.error or ""
    return VerdictSummary(
        passed=verdict.passed,
        pass_rate=verdict.pass_rate,
        tests=len(verdict.tests),
        failed=len(failures),
        error_kind=verdict.error_kind,
        first_failure=first[:500],
        first_error=raised[:80],
        duration_s=verdict.duration_s,
    )


def reward(critic_value: float, weight: float, grounding: VerdictSummary | None) -> float:
    """The blend; without a verdict to ground on (no visible tests) the critic value stands alone."""
    return critic_value if grounding is None else (1 - weight) * critic_value + weight * grounding.pass_rate


def ground_many(
    problem: Problem,
    codes: Sequence[str],
    critic_values: Sequence[float],
    weight: float,
    *,
    leaky: bool = False,
    timeout_s: float = 5.0,
    applied: bool = True,
) -> list[ExecutionRecord]:
    """Run each code on the visible and hidden tests (all at once, ``WORKERS`` at a time); one record each."""
    imports = problem_imports(problem)

    def visible(code: str) -> VerdictSummary | None:
        if not problem.visible_tests:
            return None
        return summarize(
            run_tests(
                code,
                problem.visible_tests,
                timeout_s=timeout_s,
                setup=imports,
                entry_point=problem.entry_point,
            )
        )

    def hidden(code: str) -> VerdictSummary | None:
        if not (problem.hidden_test and problem.entry_point):
            return None
        program = f"{imports}\n{code}" if imports else code
        return summarize(run_humaneval_check(problem, program, timeout_s=timeout_s))

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="grounding") as pool:
        seen_runs = [pool.submit(visible, code) for code in codes]
        hidden_runs = [pool.submit(hidden, code) for code in codes]
        seen = [f.result() for f in seen_runs]
        held_out = [f.result() for f in hidden_runs]
    records = []
    for vis, hid, critic in zip(seen, held_out, critic_values, strict=True):
        records.append(
            ExecutionRecord(
                visible=vis,
                hidden=hid,
                critic_value=critic,
                weight=weight,
                reward=reward(critic, weight, hid if leaky else vis),
                leaky=leaky,
                applied=applied,
            )
        )
    return records


def run_inputs(
    problem: Problem, codes: Sequence[str], inputs: Sequence[str], timeout_s: float = 5.0
) -> list[tuple]:
    """What each code returns on each input call (a short repr, "raised X", or None when unknown).

    The calls run in each program's own sandbox and their values are judged out here, as the
    visible tests are; ``WORKERS`` programs at a time.
    """
    imports = problem_imports(problem)
    tests = [f"assert {call} == {call}" for call in inputs]

    def outputs(code: str) -> tuple:
        verdict = run_tests(code, tests, timeout_s=timeout_s, setup=imports, entry_point=problem.entry_point)
        out: list[str | None] = []
        for t in verdict.tests:
            if t.values:
                out.append(t.values[0])
            elif t.judged == "outside" and t.error:
                out.append(f"{RAISED}{t.error}")
            elif verdict.error_kind:
                out.append(f"{ERRORED}{verdict.error_kind}")
            else:
                out.append(None)
        return tuple(out)

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="answer-inputs") as pool:
        return list(pool.map(outputs, codes))
