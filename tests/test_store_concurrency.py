"""Two processes save two runs into one database at once: both load intact, nothing leaks across, no lock error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from core.store import Store

ROOT = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from core.config import SearchConfig
    from core.problems import get_problem
    from core.search import Search
    from core.store import Store
    from tests.scripted import ScriptedBackend

    store = Store(sys.argv[2])
    problem = get_problem(sys.argv[4])
    search = Search.start(problem, SearchConfig(seed=int(sys.argv[5]), max_iterations=60, end_gate=1.0),
                          ScriptedBackend())
    while not search.finished:
        search.step()
        store.save_tree(sys.argv[3], search.tree)
        store.list_runs()  # a reader in the same process, between writes
    open(sys.argv[3] + ".json", "w").write(search.tree.to_json())
    """
)


def test_two_writers_one_database(tmp_path):
    db = tmp_path / "studio.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    runs = {"left": ("HumanEval/0", 1), "right": ("HumanEval/2", 2)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(ROOT), str(db), run_id, problem, str(seed)],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run_id, (problem, seed) in runs.items()
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert not any("locked" in e for e in errors), errors

    store = Store(db)
    assert sorted(r.id for r in store.list_runs()) == ["left", "right"]
    for run_id, (problem, _) in runs.items():
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
