"""The evaluation tables of the studio database: one row per evaluation, one per problem result.

:class:`EvalTables` writes and reads them through a :class:`core.store.runs.Store`'s per-thread
``conn``; it lives with the evaluation types rather than in the store, which sits a layer below. ``evaluate`` saves after every
problem, so an interrupted evaluation keeps what it finished. Results are
append-only: each save writes the evaluation's row and only the results not yet
stored, in one transaction.

Example::

    tables = EvalTables(store)
    eval_id = tables.save_eval(result)           # insert, then update on later calls
    [row] = tables.evals()                        # EvalRow: spec, pass@k, status ...
    tables.eval_results(eval_id)[0].passed        # ProblemResult, codes and verdicts included
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable

from core.evaluation.spec import EvalResult, ProblemResult
from core.store.rows import dumps
from core.store.runs import Store
from core.store.schema import EvalRow, immediate
from core.tree.records import VerdictSummary


class UnknownEval(KeyError):
    def __str__(self) -> str:
        return f"no evaluation {self.args[0]!r} in the store"


class EvalTables:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def conn(self) -> sqlite3.Connection:
        return self.store.conn  # this thread's connection

    def save_eval(self, result: EvalResult) -> int:
        """Write the evaluation (a new row when ``result.eval_id`` is None) and its new results; its id."""
        row = (
            dumps(result.spec.to_dict()),
            result.model_id,
            result.adapter,
            result.spec.mode,
            dumps(result.pass_at),
            dumps(result.pass_at_unseen),
            len(result.spec.problems),
            result.seconds,
            result.status,
        )
        with immediate(self.conn) as conn:
            if result.eval_id is None:
                cur = conn.execute(
                    """INSERT INTO evals (spec, model_id, adapter, mode, pass_at, pass_at_unseen, problems,
                           seconds, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (*row, result.started_at),
                )
                eval_id = int(cur.lastrowid)
            else:
                eval_id = result.eval_id
                cur = conn.execute(
                    """UPDATE evals SET spec = ?, model_id = ?, adapter = ?, mode = ?, pass_at = ?,
                           pass_at_unseen = ?, problems = ?, seconds = ?, status = ? WHERE id = ?""",
                    (*row, eval_id),
                )
                if cur.rowcount == 0:
                    raise UnknownEval(eval_id)
            stored = conn.execute(
                "SELECT count(*) FROM eval_results WHERE eval_id = ?", (eval_id,)
            ).fetchone()
            conn.executemany(
                """INSERT OR REPLACE INTO eval_results (eval_id, seq, problem_id, passed, samples,
                       in_training_data, data) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [
                    (eval_id, seq, r.problem_id, r.passed, r.samples, r.in_training_data, _data(r))
                    for seq, r in enumerate(result.results)
                    if seq >= stored[0]
                ],
            )
        return eval_id

    def evals(self, status: str | None = None) -> list[EvalRow]:
        """Stored evaluations, newest first (``status`` filters)."""
        sql = (
            "SELECT e.id, e.created_at, e.spec, e.model_id, e.adapter, e.mode, e.pass_at, e.pass_at_unseen,"
            " e.problems, (SELECT count(*) FROM eval_results r WHERE r.eval_id = e.id), e.seconds, e.status"
            " FROM evals e" + (" WHERE e.status = ?" if status is not None else "") + " ORDER BY e.id DESC"
        )
        return [
            EvalRow(i, t, json.loads(s), m, a, mo, _rates(p), _rates(pu), n, d, sec, st)
            for i, t, s, m, a, mo, p, pu, n, d, sec, st in self.conn.execute(
                sql, () if status is None else (status,)
            )
        ]

    def seconds(self, eval_ids: Iterable[int]) -> float:
        """The wall time these evaluations spent, every resumed run of them included."""
        ids = list(eval_ids)
        if not ids:
            return 0.0
        marks = ",".join("?" * len(ids))
        (total,) = self.conn.execute(f"SELECT sum(seconds) FROM evals WHERE id IN ({marks})", ids).fetchone()
        return float(total or 0.0)

    def eval_results(self, eval_id: int) -> list[ProblemResult]:
        """The problem results of one evaluation, in the order they completed."""

        if self.conn.execute("SELECT 1 FROM evals WHERE id = ?", (eval_id,)).fetchone() is None:
            raise UnknownEval(eval_id)
        out = []
        for pid, passed, samples, training, data in self.conn.execute(
            "SELECT problem_id, passed, samples, in_training_data, data FROM eval_results"
            " WHERE eval_id = ? ORDER BY seq",
            (eval_id,),
        ):
            d = json.loads(data)
            out.append(
                ProblemResult(
                    problem_id=pid,
                    passed=passed,
                    samples=samples,
                    codes=d["codes"],
                    verdicts=[VerdictSummary(**v) for v in d["verdicts"]],
                    seconds=d["seconds"],
                    tokens=d["tokens"],
                    in_training_data=bool(training),
                    run_id=d.get("run_id"),
                    run_ids=d.get("run_ids", []),
                )
            )
        return out

    def drop_results(self, eval_id: int, keep: int) -> None:
        """Forget the results after the first ``keep`` (a resume redoes a half-saved batch)."""
        with immediate(self.conn) as conn:
            conn.execute("DELETE FROM eval_results WHERE eval_id = ? AND seq >= ?", (eval_id, keep))

    def delete_eval(self, eval_id: int) -> None:
        with immediate(self.conn) as conn:
            if conn.execute("DELETE FROM evals WHERE id = ?", (eval_id,)).rowcount == 0:
                raise UnknownEval(eval_id)


def _data(r: ProblemResult) -> str:
    return dumps(
        {
            "codes": r.codes,
            "verdicts": r.verdicts,
            "seconds": r.seconds,
            "tokens": r.tokens,
            "run_id": r.run_id,
            "run_ids": r.run_ids,
            "saved_at": time.time(),
        }
    )


def _rates(text: str) -> dict[int, float]:
    return {int(k): v for k, v in json.loads(text).items()}
