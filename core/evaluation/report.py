"""Evaluations as plain data for a table and a chart (the UI and the CLI draw them).

Example::

    label(row)                       # 'embedded:Qwen2.5-Coder-0.5B-Instruct + v1-lora · mcts · #12'
    chart_points(EvalTables(store).evals())      # [{'label': ..., 'k': 1, 'all': 0.125, 'unseen': 0.1}, ...]
    problem_rows(EvalTables(store).eval_results(12))   # one row per problem, PROBLEM_COLUMNS
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.evaluation.spec import ProblemResult
from core.store.schema import EvalRow

PROBLEM_COLUMNS = ("problem", "passed", "samples", "in training data", "first failure", "seconds", "tokens")
EVAL_COLUMNS = ("id", "model", "adapter", "mode", "problems", "pass@k (all)", "pass@k (unseen)", "status")


def label(row: EvalRow) -> str:
    """A short name for one evaluation: model, adapter, mode, id."""
    adapter = f" + {row.adapter}" if row.adapter and row.adapter not in row.model_id else ""
    return f"{row.model_id}{adapter} · {row.mode} · #{row.id}"


def rates(values: dict[int, float]) -> str:
    """pass@k as text: 'pass@1 12.5%, pass@5 30.0%' (or 'n/a')."""
    return ", ".join(f"pass@{k} {v:.1%}" for k, v in sorted(values.items())) or "n/a"


def eval_rows(rows: Iterable[EvalRow]) -> list[list[Any]]:
    """One table row per evaluation, EVAL_COLUMNS."""
    return [
        [
            r.id,
            r.model_id,
            r.adapter or "(base)",
            r.mode,
            f"{r.done}/{r.problems}",
            rates(r.pass_at),
            rates(r.pass_at_unseen),
            r.status,
        ]
        for r in rows
    ]


def chart_points(rows: Iterable[EvalRow]) -> list[dict[str, Any]]:
    """One point per evaluation and k: pass@k over all problems and over the unseen ones (None if none)."""
    return [
        {"label": label(r), "eval_id": r.id, "k": k, "all": v, "unseen": r.pass_at_unseen.get(k)}
        for r in rows
        for k, v in sorted(r.pass_at.items())
    ]


def problem_rows(results: Iterable[ProblemResult]) -> list[list[Any]]:
    """One table row per problem, PROBLEM_COLUMNS."""
    return [
        [
            r.problem_id,
            r.passed,
            r.samples,
            r.in_training_data,
            next((v.first_failure for v in r.verdicts if not v.passed), ""),
            r.seconds,
            r.tokens,
        ]
        for r in results
    ]
