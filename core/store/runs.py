"""SQLite storage for runs, their trees and event logs, annotations and datasets.

Why WAL and one transaction per save: a search saves after every iteration
while the studio reads the same file. In WAL mode readers never block the
writer nor the writer the readers, and a busy timeout makes writers from other
processes queue instead of failing. Each :meth:`Store.save_tree` writes the run
row, the changed nodes and the new events in ONE transaction, so a crash or a
kill mid-save leaves the previous complete iteration on disk, never half of one.

Why a version per run: two writers on one run (two studios on one file, or the
studio and ``launch.py search --resume``) would interleave their nodes into a
tree that no longer loads. Each save checks and bumps the run's version in that
same transaction, and a tree remembers the version it was loaded at or last saved
as (``Tree.stored_versions``), so a save from a tree that missed another's raises
:class:`StaleRun` and writes nothing: the other writer's iterations stay whole.

sqlite3 connections must not cross threads, so a :class:`Store` holds only the
path and opens one connection per thread, on first use.

Example::

    store = Store()                                  # $SRA_STUDIO_DATA/studio.db (or the XDG data dir)
    store.save_tree("a1b2", search.tree, owner="alice")   # after each iteration: only what changed
    tree = store.load_tree("a1b2")                   # tree.to_json() == search.tree.to_json()
    store.save_tree("a1b2", tree)    # StaleRun, if another process saved a1b2 since this load
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
from core.store.schema import Annotation, DatasetRow, RunRow, immediate, snapshot
from core.tree.events import Event
from core.tree.nodes import Node, Tree
from core.tree.records import Usage, to_plain

DB_NAME = "studio.db"


class UnknownRun(KeyError):
    def __str__(self) -> str:
        return f"no run {self.args[0]!r} in the store"


class StaleRun(StoreError, sqlite3.DatabaseError):
    """A save from a tree that did not see the run's latest version: refused, with nothing written.

    Two writers on one run (two studios on one database, or the studio and ``launch.py search
    --resume``) would otherwise interleave their nodes into a tree that no longer loads. It is a
    :class:`StoreError` (the CLI prints its one line) and an ``sqlite3.DatabaseError`` (the
    studio's autosave, which catches those, warns with it and keeps the run open).
    """

    def __init__(self, run_id: str, seen: int | None, current: int | None) -> None:
        self.run_id, self.seen, self.current = run_id, seen, current
        if current is None:
            text = f"run {run_id} is no longer in the store (this one saw version {seen}); save it under a new id"
        elif seen is None:
            text = (
                f"run {run_id} is already in the store (version {current}) and this tree was not loaded"
                " from it; reload the run to continue it, or save this tree under a new id"
            )
        else:
            text = (
                f"run {run_id} was saved by another process since this one loaded it (version {current},"
                f" this one saw {seen}); reload it to continue"
            )
        super().__init__(text)


RUN_COLUMNS = (
    "problem_id",
    "problem",
    "config",
    "config_hash",
    "model",
    "adapter",
    "seed",
    "status",
    "updated_at",
    "iteration",
    "tree_meta",
)
INSERT_RUN = (
    f"INSERT INTO runs (id, {', '.join(RUN_COLUMNS)}, owner, created_at, version)"
    f" VALUES (:id, {', '.join(':' + c for c in RUN_COLUMNS)}, :owner, :updated_at, 1)"
)
UPDATE_RUN = (
    f"UPDATE runs SET {', '.join(f'{c} = :{c}' for c in RUN_COLUMNS)},"
    " owner = CASE WHEN :owner = '' THEN owner ELSE :owner END,"  # a save without an owner keeps it
    " version = version + 1 WHERE id = :id AND version = :seen"
)


def _claim(conn: sqlite3.Connection, values: dict) -> int:
    """Write the run row if ``values["seen"]`` is still its version, bumping it; the new version.

    Runs inside the save's write transaction, so the check and the bump are one step.
    """
    run_id, seen = values["id"], values["seen"]
    if seen is None:  # a tree never stored here: only a new run may take it
        row = conn.execute("SELECT version FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is not None:
            raise StaleRun(run_id, None, row[0])
        conn.execute(INSERT_RUN, values)
        return 1
    if conn.execute(UPDATE_RUN, values).rowcount != 1:
        row = conn.execute("SELECT version FROM runs WHERE id = ?", (run_id,)).fetchone()
        raise StaleRun(run_id, seen, None if row is None else row[0])
    return seen + 1


class Store(CurationTables):
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / DB_NAME
        self._local = threading.local()
        self._where = str(self.path.resolve())  # which database a tree's stored_versions refer to
        # run -> (its version, node id -> signature) as this store last committed or read it
        self._saved: dict[str, tuple[int, dict[int, tuple]]] = {}
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
        """Upsert the run, write changed nodes and new events: all in one transaction.

        Raises :class:`StaleRun`, writing nothing, when the run was saved since ``tree`` was
        loaded from this database or last saved to it (or exists already and ``tree`` was
        never stored here): the version check and bump are part of the same transaction.
        """
        key = (self._where, run_id)
        seen = tree.stored_versions.get(key)
        meta = {
            "model": tree.model,
            "iteration": tree.iteration,
            "next_id": tree.next_id,
            "stopped": tree.stopped,
            "usage": to_plain(tree.usage),
        }
        values = {
            "id": run_id,
            "problem_id": tree.problem.id,
            "problem": dumps(tree.problem.to_dict()),
            "config": dumps(tree.config.to_dict()),
            "config_hash": tree.config.digest(),
            "model": tree.model.get("model_id", ""),
            "adapter": tree.model.get("adapter"),
            "seed": tree.config.seed,
            "status": status or ("finished" if tree.stopped else "running"),
            "owner": owner,
            "updated_at": time.time(),
            "iteration": tree.iteration,
            "tree_meta": dumps(meta),
            "seen": seen,
        }
        with self._saved_lock:
            version_saved, before = self._saved.get(run_id, (None, {}))
        if seen is None or version_saved != seen:
            before = {}  # the rows stored are not the ones this store last wrote for this tree: write all
        changed, signatures = changed_nodes(tree.nodes.values(), before)
        conn = self.conn
        with immediate(conn):
            version = _claim(conn, values)
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
        tree.stored_versions[key] = version
        with self._saved_lock:
            self._saved[run_id] = (version, signatures)

    def _after_nodes_written(self, run_id: str) -> None:
        """A seam for tests: raising here must roll the whole save back."""

    def load_tree(self, run_id: str) -> Tree:
        """The run's tree as last saved; it carries the run's version, so a save of it can be checked."""
        with snapshot(self.conn) as conn:  # the run row, nodes and events of one save, never of two
            row = conn.execute(
                "SELECT problem, config, tree_meta, version FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise UnknownRun(run_id)
            node_rows = conn.execute(
                "SELECT data FROM nodes WHERE run_id = ? ORDER BY node_id", (run_id,)
            ).fetchall()
            event_rows = conn.execute(
                "SELECT seq, iteration, kind, node, data FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        meta, version = json.loads(row[2]), row[3]
        nodes = [Node.from_dict(json.loads(data)) for (data,) in node_rows]
        events = [
            Event.from_dict({"seq": s, "iteration": i, "kind": k, "node": n, "data": json.loads(d)})
            for s, i, k, n, d in event_rows
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
        tree.stored_versions[(self._where, run_id)] = version
        with self._saved_lock:  # what is stored now: the next save of this tree writes only changes
            self._saved[run_id] = (version, {n.id: signature(n) for n in nodes})
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
            " (SELECT count(*) FROM nodes n WHERE n.run_id = r.id), r.version FROM runs r"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY r.created_at DESC, r.rowid DESC"
        )
        return [RunRow(*row) for row in self.conn.execute(sql, params)]


__all__ = ["Annotation", "DatasetRow", "RunRow", "StaleRun", "Store", "StoreError", "UnknownRun", "data_dir"]
