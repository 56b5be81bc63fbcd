"""Two writers on one run: the one that missed the other's save is refused, and nothing of it is written.

Each save of a run bumps its version in the same transaction that writes its nodes; a tree
knows the version it was loaded at or last saved as. Writer A and writer B load version N;
A saves an iteration (N + 1); B's save raises :class:`StaleRun` and writes nothing, so the
run still loads, with A's iterations. B reloads and can save again. Here the writers are two
``Store`` objects on one file, and a second process (``launch.py search --resume`` or another
studio, played by a small script).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.search.mcts import Search
from core.store.runs import StaleRun, Store, StoreError
from core.tree.nodes import Tree
from tests.scripted import ScriptedBackend

ROOT = Path(__file__).resolve().parents[2]


def stored(path: Path, run_id: str) -> tuple[int, int, int, str]:
    """(version, node rows, event rows, tree JSON) as a fresh store reads them."""
    conn = sqlite3.connect(path)
    try:
        [(version,)] = conn.execute("SELECT version FROM runs WHERE id = ?", (run_id,))
        [(nodes,)] = conn.execute("SELECT count(*) FROM nodes WHERE run_id = ?", (run_id,))
        [(events,)] = conn.execute("SELECT count(*) FROM events WHERE run_id = ?", (run_id,))
    finally:
        conn.close()
    tree = Store(path).load_tree(run_id)
    tree.validate()
    return version, nodes, events, tree.to_json()


def saved_run(path: Path, make_search, iterations: int = 3) -> int:
    """A run "r" saved after each of ``iterations`` iterations; returns its version."""
    store = Store(path)
    search = make_search(max_iterations=20, end_gate=1.0, width=1)
    for _ in range(iterations):
        search.step()
        store.save_tree("r", search.tree)
    return stored(path, "r")[0]


def test_a_stale_writer_is_refused_and_writes_nothing(tmp_path, make_search):
    db = tmp_path / "studio.db"
    n = saved_run(db, make_search)
    assert n == 3  # one version per save
    store_a, store_b = Store(db), Store(db)
    a = Search(store_a.load_tree("r"), ScriptedBackend())
    b = Search(store_b.load_tree("r"), ScriptedBackend())
    a.extend_budget(2)
    b.extend_budget(2)

    a.step()
    store_a.save_tree("r", a.tree)
    after_a = stored(db, "r")
    assert after_a[0] == n + 1 and after_a[3] == a.tree.to_json()

    b.edit(b.tree.root.children[0], "B's own step, which must never reach the database.")
    b.step()
    b.step()
    message = (
        f"run r was saved by another process since this one loaded it (version {n + 1}, this one saw {n})"
    )
    with pytest.raises(StaleRun, match=re.escape(message)) as caught:
        store_b.save_tree("r", b.tree)
    assert (caught.value.run_id, caught.value.seen, caught.value.current) == ("r", n, n + 1)
    assert isinstance(caught.value, StoreError) and isinstance(caught.value, sqlite3.DatabaseError)
    assert stored(db, "r") == after_a  # nothing of B's: not its nodes, events, nor a version bump
    with pytest.raises(StaleRun):  # refused again: B has still not seen version n + 1
        store_b.save_tree("r", b.tree)

    a.step()  # A goes on as if nothing happened
    store_a.save_tree("r", a.tree)
    assert stored(db, "r")[::3] == (n + 2, a.tree.to_json())

    again = Search(store_b.load_tree("r"), ScriptedBackend())  # B reloads: A's tree, at A's version
    assert again.tree.to_json() == a.tree.to_json()
    again.extend_budget(1)
    again.step()
    store_b.save_tree("r", again.tree)
    assert stored(db, "r")[::3] == (n + 3, again.tree.to_json())
    with pytest.raises(StaleRun, match=f"version {n + 3}, this one saw {n + 2}"):
        store_a.save_tree("r", a.tree)  # now A is the stale one


def test_a_tree_never_stored_here_cannot_take_an_existing_run(tmp_path, make_search):
    db = tmp_path / "studio.db"
    n = saved_run(db, make_search)
    before = stored(db, "r")
    stranger = make_search(max_iterations=20, end_gate=1.0)
    stranger.run(5)
    with pytest.raises(StaleRun, match=f"run r is already in the store \\(version {n}\\)") as caught:
        Store(db).save_tree("r", stranger.tree)
    assert caught.value.seen is None
    assert stored(db, "r") == before
    Store(db).save_tree("r2", stranger.tree)  # under a new id it is a new run, at version 1
    assert stored(db, "r2")[::3] == (1, stranger.tree.to_json())


def test_the_same_tree_under_two_ids_and_in_two_databases_keeps_one_version_each(tmp_path, make_search):
    search = make_search(max_iterations=20, end_gate=1.0)
    first, second = Store(tmp_path / "one.db"), Store(tmp_path / "two.db")
    for _ in range(3):
        search.step()
        for store in (first, second):
            store.save_tree("x", search.tree)
        first.save_tree("y", search.tree)
    assert [stored(s.path, r)[0] for s, r in ((first, "x"), (second, "x"), (first, "y"))] == [3, 3, 3]


def test_one_writer_that_reloads_and_resumes_keeps_saving(tmp_path, make_search):
    """The single-writer flows: the studio's autosave, and a resume after a restart (a new Store)."""
    db = tmp_path / "studio.db"
    store = Store(db)
    search = make_search(max_iterations=6, end_gate=1.0)
    store.save_tree("r", search.tree, owner="alice")  # a new run starts at version 1
    for _ in range(3):
        search.step()
        store.save_tree("r", search.tree)
        store.load_tree("r")  # a reader in the same process (History, Compare) changes nothing
    assert store.list_runs()[0].version == 4
    restarted = Store(db)  # after a restart: a new store loads the run and resumes it
    resumed = Search(restarted.load_tree("r"), ScriptedBackend())
    resumed.run()
    restarted.save_tree("r", resumed.tree)
    assert stored(db, "r")[::3] == (5, resumed.tree.to_json())
    assert restarted.list_runs()[0].owner == "alice"


def test_a_store_writes_a_tree_whole_when_another_store_wrote_the_rows_since(tmp_path, make_search):
    """A store's note of what it last wrote is kept with its version; at another version it is not used."""
    db = tmp_path / "studio.db"
    y = Store(db)
    search = make_search(max_iterations=20, end_gate=1.0)
    search.run(3)
    y.save_tree("r", search.tree)  # y last wrote version 1
    x = Store(db)
    tree = x.load_tree("r")
    steer = Search(tree, ScriptedBackend())
    node = tree.root.children[0]
    steer.prune(node)
    x.save_tree("r", tree)  # version 2 (through x) has the node pruned
    steer.unprune(node)  # back as it was at version 1
    y.save_tree("r", tree)
    assert stored(db, "r")[::3] == (3, tree.to_json())


def test_a_load_reads_one_save_even_while_another_writer_commits(tmp_path, make_search):
    """The run row, nodes and events of a load come from one snapshot, so its version matches its nodes."""
    db = tmp_path / "studio.db"
    n = saved_run(db, make_search)
    version_n = Store(db).load_tree("r").to_json()
    writer, reader = Store(db), Store(db)
    search = Search(writer.load_tree("r"), ScriptedBackend())
    search.extend_budget(2)
    search.run()
    fired = []

    def save_between_queries(sql: str) -> None:
        if sql.startswith("SELECT data FROM nodes") and not fired:
            fired.append(sql)
            writer.save_tree("r", search.tree)  # another connection commits mid-load

    reader.conn.set_trace_callback(save_between_queries)
    tree = reader.load_tree("r")
    reader.conn.set_trace_callback(None)
    assert fired and stored(db, "r")[0] == n + 1
    assert tree.to_json() == version_n
    with pytest.raises(StaleRun, match=f"version {n + 1}, this one saw {n}"):
        reader.save_tree("r", tree)


SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, sys.argv[1])
    from core.search.mcts import Search
    from core.store.runs import StaleRun, Store
    from tests.scripted import ScriptedBackend

    db, mode = sys.argv[2], sys.argv[3]
    store = Store(db)
    search = Search(store.load_tree("r"), ScriptedBackend())  # what `launch.py search --resume r` does
    search.extend_budget(3)
    if mode == "wait":  # loaded; let the other writer save first
        open("loaded", "w").close()
        deadline = time.monotonic() + 60
        while not os.path.exists("go"):
            if time.monotonic() > deadline:
                sys.exit("timed out waiting for the go file")
            time.sleep(0.01)
    search.step()
    search.step()
    try:
        store.save_tree("r", search.tree)
    except StaleRun as exc:
        print(exc, file=sys.stderr)
        sys.exit(3)
    open("saved.json", "w").write(search.tree.to_json())
    """
)


def run_script(tmp_path: Path, db: Path, mode: str) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), str(ROOT), str(db), mode],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_file(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def test_another_process_saved_since_this_one_loaded(tmp_path, make_search):
    db = tmp_path / "studio.db"
    n = saved_run(db, make_search)
    store = Store(db)
    mine = Search(store.load_tree("r"), ScriptedBackend())
    mine.extend_budget(1)
    mine.edit(mine.tree.root.children[0], "this process's step, which must never reach the database")
    mine.step()

    proc = run_script(tmp_path, db, "now")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    theirs = (tmp_path / "saved.json").read_text()

    with pytest.raises(StaleRun, match=f"version {n + 1}, this one saw {n}"):
        store.save_tree("r", mine.tree)
    version, _, _, now = stored(db, "r")
    assert (version, now) == (n + 1, theirs)  # the other process's iterations, whole; nothing of ours
    assert Tree.from_json(theirs).iteration == 5


def test_the_other_process_is_the_stale_one(tmp_path, make_search):
    db = tmp_path / "studio.db"
    n = saved_run(db, make_search)
    proc = run_script(tmp_path, db, "wait")
    wait_for_file(tmp_path / "loaded", proc)  # both have loaded version n

    store = Store(db)
    mine = Search(store.load_tree("r"), ScriptedBackend())
    mine.extend_budget(1)
    mine.step()
    store.save_tree("r", mine.tree)
    (tmp_path / "go").touch()
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 3, err
    assert (
        f"run r was saved by another process since this one loaded it (version {n + 1}, this one saw {n})"
        in err
    )
    assert not (tmp_path / "saved.json").exists()
    assert stored(db, "r")[::3] == (n + 1, mine.tree.to_json())
