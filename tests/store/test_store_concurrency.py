"""Two processes save two runs into one database at once: both load intact, nothing leaks across, no lock error.

The writers wait for each other twice, so that what is tested happens on every run, not
only when the scheduler happens to overlap them: both open the new file at the same moment
(each switches it to WAL and migrates it), and neither finishes before both have written.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from core.store.runs import Store

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, sys.argv[1])
    from core.config import SearchConfig
    from core.problems.problem import get_problem
    from core.search.mcts import Search
    from core.store.runs import Store
    from tests.scripted import ScriptedBackend

    run_id, other = sys.argv[3], sys.argv[6]

    def wait_for(done, what):
        deadline = time.monotonic() + 60
        while not done():
            if time.monotonic() > deadline:
                sys.exit(f"{run_id}: timed out waiting for {what}")
            time.sleep(0.005)

    open(run_id + ".ready", "w").close()
    wait_for(lambda: os.path.exists(other + ".ready"), "the other writer to start")
    store = Store(sys.argv[2])  # both open the new file at the same moment
    problem = get_problem(sys.argv[4])
    search = Search.start(problem, SearchConfig(seed=int(sys.argv[5]), max_iterations=60, end_gate=1.0),
                          ScriptedBackend())
    while not search.finished:
        search.step()
        store.save_tree(run_id, search.tree)
        store.list_runs()  # a reader in the same process, between writes
        if search.tree.iteration == 1:  # neither finishes before the other has written: they overlap
            wait_for(lambda: store.has_run(other), "the other writer's first save")
    open(run_id + ".json", "w").write(search.tree.to_json())
    """
)


def test_two_writers_one_database(tmp_path):
    db = tmp_path / "studio.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    runs = {"left": ("HumanEval/0", 1, "right"), "right": ("HumanEval/2", 2, "left")}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(ROOT), str(db), run_id, problem, str(seed), other],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run_id, (problem, seed, other) in runs.items()
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert not any("locked" in e for e in errors), errors

    store = Store(db)
    assert sorted(r.id for r in store.list_runs()) == ["left", "right"]
    for run_id, (problem, _, _) in runs.items():
        tree = store.load_tree(run_id)
        assert tree.to_json() == (tmp_path / f"{run_id}.json").read_text()
        assert tree.problem.id == problem and tree.iteration == 60
        rows = store.conn.execute(
            "SELECT count(*), count(DISTINCT node_id) FROM nodes WHERE run_id = ?", (run_id,)
        ).fetchone()
        assert rows == (len(tree.nodes), len(tree.nodes))
        events = store.conn.execute("SELECT count(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0]
        assert events == len(tree.events)
    total = store.conn.execute("SELECT count(*) FROM nodes").fetchone()[0]
    assert total == sum(len(store.load_tree(r).nodes) for r in runs)


def test_opening_a_new_file_waits_while_another_opener_holds_it(tmp_path):
    """The race the two writers can hit, made certain: the switch to WAL meets a held lock.

    SQLite refuses the switch at once ("database is locked", no busy wait) while another
    connection holds the write lock of a file still in rollback mode, as a second process
    does while it creates the file; the store must wait for it, not fail.
    """
    path = tmp_path / "studio.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, other.execute, ("ROLLBACK",))
    release.start()
    try:
        store = Store(path)
    finally:
        release.join()
        other.close()
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version() >= 1 and store.list_runs() == []
