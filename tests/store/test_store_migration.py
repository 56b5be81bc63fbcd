"""A database written by an older studio opens, migrates and keeps its data."""

from __future__ import annotations

import sqlite3

from core.evaluation.run import evaluate
from core.evaluation.spec import EvalSpec
from core.evaluation.tables import EvalTables
from core.store.runs import Store
from core.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.evaluation.test_evaluate import CodeBackend

V1_TABLES = {"runs", "nodes", "events", "annotations", "datasets"}


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")
        return {name for (name,) in rows}


def make_v1(path, make_search) -> str:
    """A version-1 file with a saved run and an annotation; returns the run's tree JSON.

    The run is saved by today's store (its runs, nodes, events and annotations tables are
    migration 1's, unchanged), then the version-2 tables are dropped and the version set
    back to 1: what a version-1 studio left on disk, as the schema check below confirms.
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
    assert store.schema_version() == SCHEMA_VERSION == 2
    assert tables(path) == V1_TABLES | {"evals", "eval_results"}
    assert store.load_tree("old-run").to_json() == tree_json
    [run] = store.list_runs()
    assert (run.id, run.owner, run.iteration) == ("old-run", "alice", 3)
    assert [a.decision for a in store.annotations(run_id="old-run")] == ["accept"]
    assert EvalTables(store).evals() == []

    result = evaluate(EvalSpec(("HumanEval/0",)), CodeBackend(solves={"HumanEval/0": 1}), store=store)
    again = Store(path)  # a second open finds version 2 and runs nothing
    assert again.schema_version() == 2 and EvalTables(again).evals()[0].id == result.eval_id
    assert EvalTables(again).eval_results(result.eval_id)[0].passed == 1
