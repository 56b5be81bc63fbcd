"""The curation tables of the studio database: annotators' decisions on paths, and exported datasets.

:class:`CurationTables` is the part of :class:`core.store.runs.Store` that writes and
reads them; it needs only the store's per-thread ``conn``. Runs and trees (the
hot, per-iteration part) stay in ``core/store/runs.py``.

Example::

    store = Store()
    store.add_annotation("a1b2", [0, 2, 5], "accept", comment="clean", annotator="alice")
    [a.decision for a in store.annotations(run_id="a1b2")]   # ['accept']
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from core.store.rows import dumps
from core.store.schema import Annotation, DatasetRow, immediate

DECISIONS = ("accept", "reject", "skip")


class CurationTables:
    conn: sqlite3.Connection  # the store's connection for this thread

    def add_annotation(
        self,
        run_id: str,
        path: list[int],
        decision: str,
        *,
        comment: str = "",
        edited: Any = None,
        annotator: str = "",
        provenance: dict[str, Any] | None = None,
    ) -> int:
        """Record a decision on the path root..``path[-1]``; returns the annotation id."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        if not path:
            raise ValueError("an annotation needs a non-empty path of node ids")
        with immediate(self.conn) as conn:
            cur = conn.execute(
                """INSERT INTO annotations (run_id, node_id, path, decision, comment, edited, annotator,
                       created_at, provenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (run_id, path[-1], dumps(path), decision, comment)
                + (
                    None if edited is None else dumps(edited),
                    annotator,
                    time.time(),
                    dumps(provenance or {}),
                ),
            )
        return int(cur.lastrowid)

    def annotations(self, run_id: str | None = None, decision: str | None = None) -> list[Annotation]:
        where, params = [], []
        for column, value in (("run_id", run_id), ("decision", decision)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (
            "SELECT * FROM annotations" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        )
        return [
            Annotation(
                i, r, n, json.loads(p), d, c, None if e is None else json.loads(e), a, t, json.loads(pv)
            )
            for i, r, n, p, d, c, e, a, t, pv in self.conn.execute(sql, params)
        ]

    def add_dataset(
        self,
        name: str,
        format: str,
        path: str | Path,
        *,
        filters: dict[str, Any] | None = None,
        counts: dict[str, Any] | None = None,
    ) -> int:
        with immediate(self.conn) as conn:
            cur = conn.execute(
                "INSERT INTO datasets (name, format, filters, created_at, path, counts) VALUES (?, ?, ?, ?, ?, ?)",
                (name, format, dumps(filters or {}), time.time(), str(path), dumps(counts or {})),
            )
        return int(cur.lastrowid)

    def datasets(self) -> list[DatasetRow]:
        rows = self.conn.execute("SELECT * FROM datasets ORDER BY id DESC")
        return [DatasetRow(i, n, f, json.loads(fl), t, p, json.loads(c)) for i, n, f, fl, t, p, c in rows]
