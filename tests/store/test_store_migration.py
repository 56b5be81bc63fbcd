"""A database written by an older studio opens, migrates and keeps its data."""

from __future__ import annotations

import sqlite3

import pytest

from core.evaluation.run import evaluate
from core.evaluation.spec import EvalSpec
from core.evaluation.tables import EvalTables
from core.search.mcts import Search
from core.store.runs import StaleRun, Store
from core.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.evaluation.test_evaluate import CodeBackend
from tests.scripted import ScriptedBackend

V1_TABLES = {"runs", "nodes", "events", "annotations", "datasets"}


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")
        return {name for (name,) in rows}


def make_v1(path, make_search) -> str:
    """A version-1 file with a saved run and an annotation; returns the run's tree JSON.

    The run is saved by today's store (its runs, nodes, events and annotations tables are
    migration 1's, unchanged), then the version-2 tables and migration 3's column are dropped
    and the version set back to 1: what a version-1 studio left on disk, as the schema check
    below confirms.
    """
    search = make_search(max_iterations=3, end_gate=1.0)
    search.run()
    store = Store(path)
    store.save_tree("old-run", search.tree, owner="alice")
    store.add_annotation("old-run", [0, 1], "accept", annotator="alice")
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE eval_results")
    conn.execute("DROP TABLE evals")
    conn.execute("ALTER TABLE runs DROP COLUMN version")  # migration 3's column
    conn.execute("PRAGMA user_version = 1")
    schema = {sql for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")}
    conn.close()
    assert schema == set(MIGRATIONS[0]) | {"CREATE TABLE sqlite_sequence(name,seq)"}, (
        "not the version-1 schema"
    )
    return search.tree.to_json()


def test_a_version_1_file_migrates_to_the_current_schema_and_keeps_its_runs(tmp_path, make_search):
    path = tmp_path / "studio.db"
    tree_json = make_v1(path, make_search)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1

    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION == 3
    assert tables(path) == V1_TABLES | {"evals", "eval_results"}
    assert store.load_tree("old-run").to_json() == tree_json
    [run] = store.list_runs()
    assert (run.id, run.owner, run.iteration) == ("old-run", "alice", 3)
    assert [a.decision for a in store.annotations(run_id="old-run")] == ["accept"]
    assert EvalTables(store).evals() == []

    result = evaluate(EvalSpec(("HumanEval/0",)), CodeBackend(solves={"HumanEval/0": 1}), store=store)
    again = Store(path)  # a second open finds the current version and runs nothing
    assert again.schema_version() == SCHEMA_VERSION and EvalTables(again).evals()[0].id == result.eval_id
    assert EvalTables(again).eval_results(result.eval_id)[0].passed == 1


def test_a_version_2_file_gets_run_versions_and_its_runs_go_on(tmp_path, make_search):
    """Migration 3 adds each run's version (0 for a run saved before it); saves then count from there."""
    path = tmp_path / "studio.db"
    search = make_search(max_iterations=6, end_gate=1.0)
    search.run(3)
    Store(path).save_tree("old-run", search.tree, owner="alice")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("ALTER TABLE runs DROP COLUMN version")
    conn.execute("PRAGMA user_version = 2")
    conn.close()

    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION == 3
    [run] = store.list_runs()
    assert (run.id, run.version, run.iteration) == ("old-run", 0, 3)
    first, second = store.load_tree("old-run"), Store(path).load_tree("old-run")
    assert first.to_json() == search.tree.to_json()
    resumed = Search(first, ScriptedBackend())
    resumed.run()
    store.save_tree("old-run", resumed.tree)
    assert store.list_runs()[0].version == 1
    with pytest.raises(StaleRun, match="version 1, this one saw 0"):
        Store(path).save_tree("old-run", second)
    assert Store(path).load_tree("old-run").to_json() == resumed.tree.to_json()
