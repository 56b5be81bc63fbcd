"""SIGKILL a saving search mid-run: every completed iteration and steering action survives, and it resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from core.search.mcts import Search
from core.store.runs import Store
from core.tree.events import EventKind
from core.tree.nodes import Tree
from tests.scripted import ScriptedBackend

ROOT = Path(__file__).resolve().parents[2]

DRIVER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from core.config import SearchConfig
    from core.problems.problem import get_problem
    from core.search.mcts import Search
    from core.store.runs import Store
    from tests.scripted import ScriptedBackend

    store = Store(sys.argv[2])
    search = Search.start(
        get_problem("HumanEval/0"), SearchConfig(seed=0, max_iterations=200, end_gate=1.0), ScriptedBackend()
    )
    pruned = False
    while not search.finished:
        search.step()
        store.save_tree("killed", search.tree)
        if search.tree.iteration >= 2 and not pruned:
            search.prune(search.tree.root.children[0])
            store.save_tree("killed", search.tree)
            pruned = True
        time.sleep(0.05)
    """
)


def wait_for_iterations(store: Store, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "driver exited"
        runs = store.list_runs() if store.path.exists() else []
        if runs and runs[0].iteration >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"the driver did not reach {n} iterations in {timeout} s")


def test_sigkill_keeps_every_completed_iteration_and_resumes(tmp_path):
    db = tmp_path / "studio.db"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), str(ROOT), str(db)], stderr=subprocess.PIPE)
    try:
        Store(db)  # create the schema here too, so that polling never sees a half-made file
        wait_for_iterations(Store(db), 4, proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    store = Store(db)
    tree = store.load_tree("killed")
    tree.validate()
    assert Tree.from_json(tree.to_json()).to_json() == tree.to_json()
    done = tree.iteration
    assert done >= 4 and not tree.stopped
    assert [e.seq for e in tree.events] == list(range(len(tree.events)))
    assert max(e.iteration for e in tree.events) == done  # nothing of a half-run iteration
    assert {e.iteration for e in tree.events if e.kind is EventKind.SELECTED} == set(range(1, done + 1))
    assert tree.next_id == len(tree.nodes) == 1 + sum(len(n.children) for n in tree.nodes.values())
    [pruned] = [e for e in tree.events if e.kind is EventKind.PRUNED]
    assert pruned.iteration >= 2 and tree.nodes[pruned.node].pruned
    assert store.list_runs()[0].nodes == len(tree.nodes)

    before = {n.id: n.step for n in tree.nodes.values()}
    search = Search(tree, ScriptedBackend())
    search.extend_budget(10 - done)
    search.run()
    store.save_tree("killed", search.tree)
    after = store.load_tree("killed")
    assert after.iteration == 10 and after.stopped == "max_iterations"
    assert {i: after.nodes[i].step for i in before} == before
    assert after.to_json() == search.tree.to_json()
