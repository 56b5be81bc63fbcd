"""The SQLite store: round trips, incremental saves, filters, schema, failed saves, CLI autosave/resume."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import core.backends
from cli.search import SearchArgs, run_search
from core.paths import data_dir
from core.store.rows import NodeEncoder, changed_nodes
from core.store.runs import Store, StoreError, UnknownRun
from core.store.schema import SCHEMA_VERSION
from core.tree.nodes import Tree
from core.tree.records import BackpropEntry
from tests.scripted import ScriptedBackend

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "studio.db")


def reloaded(store: Store, run_id: str) -> str:
    """The stored tree's JSON, through a fresh Store (no cached state) and Tree.from_dict."""
    tree = Store(store.path).load_tree(run_id)
    return Tree.from_dict(tree.to_dict()).to_json()


def test_round_trip_after_each_iteration_and_steering(store, make_search):
    search = make_search(max_iterations=8, end_gate=1.0, width=1)
    store.save_tree("r1", search.tree, owner="alice")
    assert reloaded(store, "r1") == search.tree.to_json()
    for it in range(1, 7):
        search.step()
        store.save_tree("r1", search.tree)
        assert reloaded(store, "r1") == search.tree.to_json(), f"after iteration {it}"
        if it == 2:
            search.prune(search.tree.root.children[0])
        elif it == 3:
            search.edit(search.tree.root.children[1], "Add the two numbers with the + operator.")
        elif it == 4:
            search.unprune(search.tree.root.children[0])
        else:
            continue
        store.save_tree("r1", search.tree)
        assert reloaded(store, "r1") == search.tree.to_json(), f"after steering at {it}"
    [row] = store.list_runs()
    assert (row.iteration, row.nodes, row.owner, row.status) == (
        6,
        len(search.tree.nodes),
        "alice",
        "running",
    )
    assert row.config_hash == search.tree.config.digest() and row.model == "scripted-v1"


def test_resumed_tree_continues_and_saves_only_changes(store, make_search):
    search = make_search(max_iterations=3, end_gate=1.0)
    search.run()
    store.save_tree("r1", search.tree)
    again = store.load_tree("r1")
    assert again.to_json() == search.tree.to_json()
    from core.search.mcts import Search

    resumed = Search(again, ScriptedBackend())
    resumed.extend_budget(3)
    resumed.run()
    store.save_tree("r1", resumed.tree)
    assert reloaded(store, "r1") == resumed.tree.to_json()
    assert store.list_runs()[0].iteration == 6


def test_a_save_at_500_nodes_writes_only_what_changed(store):
    """The autosave's cost follows what one iteration changed, not the tree's size (bench/store.py times it)."""
    from core.config import SearchConfig
    from core.problems.problem import get_problem
    from core.search.mcts import Search

    search = Search.start(
        get_problem("HumanEval/0"),
        SearchConfig(seed=0, end_gate=1.0, max_iterations=400, width=1),  # one path changes per step
        ScriptedBackend(),
    )
    while len(search.tree.nodes) < 500 and not search.finished:
        search.step()
    store.save_tree("big", search.tree)

    def stored() -> dict[int, str]:
        return dict(store.conn.execute("SELECT node_id, data FROM nodes WHERE run_id = 'big'"))

    for _ in range(3):
        before, events = stored(), len(search.tree.events)
        search.step()
        changes = store.conn.total_changes
        store.save_tree("big", search.tree)
        written = store.conn.total_changes - changes
        after = stored()
        changed = {i for i, data in after.items() if before.get(i) != data}
        assert written == 1 + len(changed) + len(search.tree.events) - events  # the run row, nodes, events
        assert 0 < len(changed) < len(after) // 10
    assert len(search.tree.nodes) >= 500
    assert reloaded(store, "big") == search.tree.to_json()


def test_changed_nodes_sees_changes_made_in_place(make_search):
    search = make_search(max_iterations=10, end_gate=1.0)
    search.run(4)
    nodes = search.tree.nodes
    changed, saved = changed_nodes(nodes.values(), {})
    assert len(changed) == len(nodes) and changed_nodes(nodes.values(), saved)[0] == []
    root, leaf = search.tree.root, nodes[max(nodes)]
    root.history[1] = BackpropEntry(99, 0.5, 7)  # replaced inside the list, not appended
    leaf.children.append(12345)
    assert {n.id for n in changed_nodes(nodes.values(), saved)[0]} == {root.id, leaf.id}


def test_node_rows_stay_whole_as_histories_grow_or_are_rewritten(make_search):
    search = make_search(max_iterations=12, end_gate=1.0)
    encoder = NodeEncoder()

    def rows_match() -> None:
        for n in search.tree.nodes.values():
            assert json.loads(encoder.dumps(("r1", n.id), n)) == n.to_dict(), n.id

    search.run(5)
    rows_match()
    search.run(3)  # histories grew: only the new entries are encoded, spliced onto the kept text
    rows_match()
    root = search.tree.root
    root.history[1] = BackpropEntry(99, 0.5, 7)
    rows_match()
    del root.history[2:]
    rows_match()
    root.history.clear()
    rows_match()


def test_list_runs_filters_newest_first(store, make_search):
    for run_id, owner in (("a", "alice"), ("b", "bob"), ("c", "alice")):
        search = make_search(max_iterations=1 if run_id == "b" else 5)
        search.step()
        store.save_tree(run_id, search.tree, owner=owner)
    cut = time.time()
    store.save_tree("d", make_search().tree, owner="carol", status="interrupted")
    assert [r.id for r in store.list_runs()] == ["d", "c", "b", "a"]
    assert [r.id for r in store.list_runs(owner="alice")] == ["c", "a"]
    assert [r.id for r in store.list_runs(status="finished")] == ["b"]
    assert [r.id for r in store.list_runs(status="interrupted")] == ["d"]
    assert [r.id for r in store.list_runs(since=cut)] == ["d"]
    assert [r.id for r in store.list_runs(problem="custom/toy", model="scripted-v1", owner="bob")] == ["b"]
    assert store.list_runs(problem="HumanEval/0") == []
    assert [r.id for r in store.list_runs(text="add(a")] == ["d", "c", "b", "a"]
    assert store.list_runs(text="100%_") == []
    store.save_tree("a", store.load_tree("a"))  # a later save without an owner keeps the owner
    assert store.list_runs(owner="alice")[-1].id == "a"


def test_schema_version_and_migrations_are_idempotent(tmp_path):
    path = tmp_path / "studio.db"
    Store(path)
    store = Store(path)  # opening again runs no migration twice
    assert store.schema_version() == SCHEMA_VERSION >= 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "nodes", "events", "annotations", "datasets"} <= tables
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer studio"):
        Store(path)


def test_failed_save_leaves_the_previous_state(store, make_search, monkeypatch):
    search = make_search(max_iterations=10, end_gate=1.0)
    search.run(2)
    store.save_tree("r1", search.tree)
    before = search.tree.to_json()
    search.step()
    search.prune(search.tree.root.children[0])

    def crash(run_id: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_after_nodes_written", crash)
    with pytest.raises(RuntimeError):
        store.save_tree("r1", search.tree)
    assert reloaded(store, "r1") == before
    monkeypatch.undo()
    store.save_tree("r1", search.tree)  # the failed save did not poison what the store thinks is saved
    assert reloaded(store, "r1") == search.tree.to_json()


def test_annotations_and_datasets(store):
    first = store.add_annotation("r1", [0, 2, 5], "accept", comment="clean", annotator="alice")
    store.add_annotation("r1", [0, 3], "reject", edited=["step one"], provenance={"tree": "r1"})
    store.add_annotation("r2", [0, 1], "skip")
    assert [a.id for a in store.annotations(run_id="r1")] == [first, first + 1]
    [rejected] = store.annotations(decision="reject")
    assert (rejected.node_id, rejected.path, rejected.edited) == (3, [0, 3], ["step one"])
    assert rejected.provenance == {"tree": "r1"}
    with pytest.raises(ValueError, match="decision"):
        store.add_annotation("r1", [0, 1], "maybe")
    ds = store.add_dataset("v1", "sft-jsonl", "/tmp/v1.jsonl", filters={"min_value": 0.8}, counts={"rows": 3})
    [row] = store.datasets()
    assert (row.id, row.name, row.filters, row.counts) == (ds, "v1", {"min_value": 0.8}, {"rows": 3})


def test_unknown_run_and_data_dir(store, monkeypatch, tmp_path):
    with pytest.raises(UnknownRun, match="no run 'nope'"):
        store.load_tree("nope")
    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path / "explicit"))
    assert data_dir() == tmp_path / "explicit"
    monkeypatch.delenv("SRA_STUDIO_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "sra-mcts-studio"


def test_cli_saves_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path))
    monkeypatch.setattr(core.backends, "load_backend", lambda kind, model: ScriptedBackend())
    out, err = io.StringIO(), io.StringIO()
    first = run_search(
        SearchArgs(problem="HumanEval/0", iterations=3, seed=0, save=True, run_id="cli1", code=False),
        out,
        err,
    )
    assert "run id: cli1" in err.getvalue() and "--resume cli1" in out.getvalue()
    store = Store()
    assert store.load_tree("cli1").to_json() == first.tree.to_json()
    resumed = run_search(SearchArgs(resume="cli1", iterations=6), io.StringIO(), io.StringIO())
    assert resumed.tree.iteration == 6
    assert store.load_tree("cli1").to_json() == resumed.tree.to_json()
    kept = {n.id: n.step for n in first.tree.nodes.values()}
    assert {i: resumed.tree.nodes[i].step for i in kept} == kept
    assert [r.id for r in store.list_runs()] == ["cli1"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--resume", "nosuch", "--iterations", "3"], "no run 'nosuch' in the store"),
        (["--resume", "nosuch", "--problem", "HumanEval/0"], "drop --problem"),
    ],
)
def test_cli_bad_resume_is_one_line_exit_2(tmp_path, args, expected):
    env = {"SRA_STUDIO_DATA": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "launch.py", "search", *args], cwd=ROOT, capture_output=True, text=True, env=env
    )
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and expected in errors[0], result.stderr
