"""SQLite storage for runs, their trees and event logs, annotations and datasets.

Why WAL and one transaction per save: a search saves after every iteration
while the studio reads the same file. In WAL mode readers never block the
writer nor the writer the readers, and a busy timeout makes writers from other
processes queue instead of failing. Each :meth:`Store.save_tree` writes the run
row, the changed nodes and the new events in ONE transaction, so a crash or a
kill mid-save leaves the previous complete iteration on disk, never half of one.

sqlite3 connections must not cross threads, so a :class:`Store` holds only the
path and opens one connection per thread, on first use.

Example::

    store = Store()                                  # $SRA_STUDIO_DATA/studio.db (or the XDG data dir)
    store.save_tree("a1b2", search.tree, owner="alice")   # after each iteration: only what changed
    tree = store.load_tree("a1b2")                   # tree.to_json() == search.tree.to_json()
    store.list_runs(problem="HumanEval/0", status="running")
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

from core.config import SearchConfig
from core.paths import data_dir
from core.problems.problem import Problem
from core.store.annotations import CurationTables
from core.store.database import StoreError, open_database
from core.store.rows import NodeEncoder, changed_nodes, dumps, signature
from core.store.schema import Annotation, DatasetRow, RunRow, immediate
from core.tree.events import Event
from core.tree.nodes import Node, Tree
from core.tree.records import Usage, to_plain

DB_NAME = "studio.db"


class UnknownRun(KeyError):
    def __str__(self) -> str:
        return f"no run {self.args[0]!r} in the store"


class Store(CurationTables):
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / DB_NAME
        self._local = threading.local()
        self._saved: dict[str, dict[int, tuple]] = {}  # run -> node id -> signature last committed
        self._saved_lock = threading.Lock()
        self._encoder = NodeEncoder()
        self.conn  # noqa: B018 - open (and migrate) now: bad input fails here, as one StoreError

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = open_database(self.path)
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread's store goes)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    # --- runs and trees -----------------------------------------------------------------
    def save_tree(self, run_id: str, tree: Tree, *, owner: str = "", status: str | None = None) -> None:
        """Upsert the run, write changed nodes and new events: all in one transaction."""
        now = time.time()
        meta = {
            "model": tree.model,
            "iteration": tree.iteration,
            "next_id": tree.next_id,
            "stopped": tree.stopped,
            "usage": to_plain(tree.usage),
        }
        status = status or ("finished" if tree.stopped else "running")
        with self._saved_lock:
            before = self._saved.get(run_id, {})
        changed, signatures = changed_nodes(tree.nodes.values(), before)
        conn = self.conn
        with immediate(conn):
            conn.execute(
                """INSERT INTO runs (id, problem_id, problem, config, config_hash, model, adapter, seed,
                       status, owner, created_at, updated_at, iteration, tree_meta)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET
                       problem_id = excluded.problem_id, problem = excluded.problem,
                       config = excluded.config, config_hash = excluded.config_hash,
                       model = excluded.model, adapter = excluded.adapter, seed = excluded.seed,
                       status = excluded.status, updated_at = excluded.updated_at,
                       iteration = excluded.iteration, tree_meta = excluded.tree_meta,
                       owner = CASE WHEN excluded.owner = '' THEN runs.owner ELSE excluded.owner END""",
                (
                    run_id,
                    tree.problem.id,
                    dumps(tree.problem.to_dict()),
                    dumps(tree.config.to_dict()),
                    tree.config.digest(),
                    tree.model.get("model_id", ""),
                    tree.model.get("adapter"),
                    tree.config.seed,
                    status,
                    owner,
                    now,
                    now,
                    tree.iteration,
                    dumps(meta),
                ),
            )
            if len(before) >= len(signatures) or not before:  # stored rows may come from another tree
                conn.execute("DELETE FROM nodes WHERE run_id = ? AND node_id >= ?", (run_id, tree.next_id))
            conn.executemany(
                """INSERT OR REPLACE INTO nodes (run_id, node_id, parent, depth, step, value, visits,
                       pruned, terminal, stale, forced, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (run_id, n.id, n.parent, n.depth, n.step, n.value, n.visits, n.pruned, n.terminal)
                    + (n.stale, n.forced, self._encoder.dumps((run_id, n.id), n))
                    for n in changed
                ],
            )
            stored = conn.execute("SELECT count(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0]
            if stored > len(tree.events):
                conn.execute("DELETE FROM events WHERE run_id = ? AND seq >= ?", (run_id, len(tree.events)))
                stored = len(tree.events)
            conn.executemany(
                "INSERT INTO events (run_id, seq, iteration, kind, node, data) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run_id, e.seq, e.iteration, e.kind.value, e.node, dumps(e.data))
                    for e in tree.events[stored:]
                ],
            )
            self._after_nodes_written(run_id)
        with self._saved_lock:
            self._saved[run_id] = signatures

    def _after_nodes_written(self, run_id: str) -> None:
        """A seam for tests: raising here must roll the whole save back."""

    def load_tree(self, run_id: str) -> Tree:
        conn = self.conn
        row = conn.execute("SELECT problem, config, tree_meta FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UnknownRun(run_id)
        meta = json.loads(row[2])
        nodes = [
            Node.from_dict(json.loads(data))
            for (data,) in conn.execute("SELECT data FROM nodes WHERE run_id = ? ORDER BY node_id", (run_id,))
        ]
        events = [
            Event.from_dict({"seq": s, "iteration": i, "kind": k, "node": n, "data": json.loads(d)})
            for s, i, k, n, d in conn.execute(
                "SELECT seq, iteration, kind, node, data FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
            )
        ]
        tree = Tree(
            problem=Problem.from_dict(json.loads(row[0])),
            config=SearchConfig.from_dict(json.loads(row[1])),
            model=meta["model"],
            nodes={n.id: n for n in nodes},
            events=events,
            iteration=meta["iteration"],
            next_id=meta["next_id"],
            usage=Usage(**meta["usage"]),
            stopped=meta["stopped"],
        )
        with self._saved_lock:  # what is stored now: the next save of this tree writes only changes
            self._saved[run_id] = {n.id: signature(n) for n in nodes}
        return tree

    def has_run(self, run_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None

    def list_runs(
        self,
        problem: str | None = None,
        model: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        since: float | datetime | None = None,
        text: str | None = None,
    ) -> list[RunRow]:
        """Runs matching every filter given, newest first; ``text`` searches id, problem and model."""
        where, params = [], []
        for column, value in (
            ("problem_id", problem),
            ("model", model),
            ("status", status),
            ("owner", owner),
        ):
            if value is not None:
                where.append(f"r.{column} = ?")
                params.append(value)
        if since is not None:
            where.append("r.created_at >= ?")
            params.append(since.timestamp() if isinstance(since, datetime) else float(since))
        if text:
            where.append("(r.id || ' ' || r.problem || ' ' || r.model) LIKE ? ESCAPE '\\'")
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        sql = (
            "SELECT r.id, r.problem_id, r.config_hash, r.model, r.adapter, r.seed, r.status, r.owner,"
            " r.created_at, r.updated_at, r.iteration,"
            " (SELECT count(*) FROM nodes n WHERE n.run_id = r.id) FROM runs r"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY r.created_at DESC, r.rowid DESC"
        )
        return [RunRow(*row) for row in self.conn.execute(sql, params)]


__all__ = ["Annotation", "DatasetRow", "RunRow", "Store", "StoreError", "UnknownRun", "data_dir"]
