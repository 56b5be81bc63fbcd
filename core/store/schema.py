"""The studio database's tables, and the migrations that bring any older file up to date.

The schema version lives in ``PRAGMA user_version``. ``MIGRATIONS[i]`` takes a
database from version ``i`` to ``i + 1``; :func:`migrate` runs the missing ones
at open, each in its own ``BEGIN IMMEDIATE`` transaction that re-reads the
version first, so two processes opening a fresh file at once migrate it once.
Append new migrations; never edit a released one. Before it writes anything,
:func:`connect` reads the version and the table list (:func:`check_readable`), so
a newer, foreign or damaged file raises there, unchanged. The row dataclasses the
store returns live here too, beside the tables they mirror.

Example::

    conn = connect(Path("studio.db"))     # WAL, busy timeout, foreign keys, migrated
    conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION   # True
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 30_000


# Rows as the store hands them out.
@dataclass(frozen=True)
class RunRow:
    id: str
    problem_id: str
    config_hash: str
    model: str
    adapter: str | None
    seed: int | None
    status: str
    owner: str
    created_at: float
    updated_at: float
    iteration: int
    nodes: int
    version: int = 0  # bumped by every save (core/store/runs.py: a stale writer is refused)


@dataclass(frozen=True)
class Annotation:
    id: int
    run_id: str
    node_id: int
    path: list[int]
    decision: str
    comment: str
    edited: Any
    annotator: str
    created_at: float
    provenance: dict[str, Any]


@dataclass(frozen=True)
class DatasetRow:
    id: int
    name: str
    format: str
    filters: dict[str, Any]
    created_at: float
    path: str
    counts: dict[str, Any]


@dataclass(frozen=True)
class EvalRow:
    """One stored evaluation; ``spec`` is the EvalSpec as a dict, pass@k maps k to a rate."""

    id: int
    created_at: float
    spec: dict[str, Any]
    model_id: str
    adapter: str | None
    mode: str
    pass_at: dict[int, float]
    pass_at_unseen: dict[int, float]  # over the problems not in the adapter's training data
    problems: int  # how many problems the spec asks for
    done: int  # how many have a stored result
    seconds: float
    status: str  # "running" | "finished" | "stopped" | "failed"


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            problem_id TEXT NOT NULL,
            problem TEXT NOT NULL,
            config TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            model TEXT NOT NULL,
            adapter TEXT,
            seed INTEGER,
            status TEXT NOT NULL,
            owner TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            iteration INTEGER NOT NULL,
            tree_meta TEXT NOT NULL
        )""",
        "CREATE INDEX runs_created ON runs (created_at)",
        """CREATE TABLE nodes (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            node_id INTEGER NOT NULL,
            parent INTEGER,
            depth INTEGER NOT NULL,
            step TEXT NOT NULL,
            value REAL NOT NULL,
            visits INTEGER NOT NULL,
            pruned INTEGER NOT NULL,
            terminal INTEGER NOT NULL,
            stale INTEGER NOT NULL,
            forced INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, node_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE events (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            iteration INTEGER NOT NULL,
            kind TEXT NOT NULL,
            node INTEGER,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE annotations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL,
            node_id INTEGER NOT NULL,
            path TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'skip')),
            comment TEXT NOT NULL DEFAULT '',
            edited TEXT,
            annotator TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            provenance TEXT NOT NULL
        )""",
        "CREATE INDEX annotations_run ON annotations (run_id, node_id)",
        """CREATE TABLE datasets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            format TEXT NOT NULL,
            filters TEXT NOT NULL,
            created_at REAL NOT NULL,
            path TEXT NOT NULL,
            counts TEXT NOT NULL
        )""",
    ),
    (  # 2: evaluations (core/evaluation/tables.py)
        """CREATE TABLE evals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at REAL NOT NULL,
            spec TEXT NOT NULL,
            model_id TEXT NOT NULL,
            adapter TEXT,
            mode TEXT NOT NULL,
            pass_at TEXT NOT NULL,
            pass_at_unseen TEXT NOT NULL,
            problems INTEGER NOT NULL,
            seconds REAL NOT NULL,
            status TEXT NOT NULL
        )""",
        """CREATE TABLE eval_results (
            eval_id INTEGER NOT NULL REFERENCES evals (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            problem_id TEXT NOT NULL,
            passed INTEGER NOT NULL,
            samples INTEGER NOT NULL,
            in_training_data INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (eval_id, problem_id)
        ) WITHOUT ROWID""",
    ),
    (  # 3: each save of a run bumps its version, so a writer that missed one is refused (core/store/runs.py)
        "ALTER TABLE runs ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
STUDIO_TABLES = frozenset({"runs", "nodes", "events", "annotations", "datasets"})  # every version has these


class SchemaTooNew(sqlite3.DatabaseError):
    """The file was written by a newer studio; this code must not touch it."""

    def __init__(self, version: int) -> None:
        super().__init__(
            f"studio database is at schema version {version}; this code knows up to {SCHEMA_VERSION}"
        )
        self.version = version


class NotStudioDatabase(sqlite3.DatabaseError):
    """An SQLite file of some other program: migrating it would write our tables into it."""


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction that takes the write lock up front (waiting up to the busy timeout).

    A deferred transaction that reads and then writes can fail at once with
    "database is locked" when another writer committed in between; taking the
    lock first makes every writer queue instead.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction: every query inside sees the same committed state, never half of a save.

    In WAL mode it takes no lock that a writer waits on; its snapshot starts at the first query.
    """
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection) -> int:
    """Run the migrations this file lacks; return the schema version it is at now."""
    with immediate(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(version)
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
    return max(version, SCHEMA_VERSION)


def check_readable(conn: sqlite3.Connection) -> None:
    """Read the header and the table list, writing nothing: a damaged, foreign or newer file fails here.

    This runs before the switch to WAL and before any migration, so a file this code
    must not use is left exactly as it was.
    """
    rows = conn.execute(  # one statement, so one snapshot: another process may be migrating it now
        "SELECT v.user_version, m.name FROM pragma_user_version AS v"
        " LEFT JOIN sqlite_master AS m ON m.type = 'table' AND m.name NOT LIKE 'sqlite%'"
    ).fetchall()
    version, tables = rows[0][0], {name for _, name in rows if name is not None}
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(version)
    if (version == 0 and tables) or (version > 0 and not STUDIO_TABLES.issubset(tables)):
        raise NotStudioDatabase(f"schema version {version} with tables {sorted(tables)}")


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, migrated schema.

    Raises :class:`sqlite3.DatabaseError` (:class:`SchemaTooNew`, :class:`NotStudioDatabase`,
    or SQLite's own) before writing anything to a file it cannot use.
    """
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        check_readable(conn)
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a killed process never loses a commit
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except BaseException:
        conn.close()  # the last connection to close removes the -wal and -shm files it made
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection, tries: int = 50) -> None:
    """Switch the file to WAL; another process opening a new file at the same moment can hold the lock.

    Switching journal modes needs an exclusive lock, and SQLite answers "database is locked"
    or simply keeps the old mode instead of waiting, so try again for a while.
    """
    for attempt in range(tries):
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            mode = ""
        if str(mode).lower() == "wal":
            return
        time.sleep(0.02 * (attempt + 1))
    raise sqlite3.OperationalError(
        "could not switch the studio database to WAL mode (another process holds it)"
    )
