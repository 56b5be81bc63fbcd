"""Another process saved a run this studio has open: the studio says so, saves nothing, and History reloads it."""

from __future__ import annotations

import warnings

from core.config import SearchConfig
from core.problems.problem import get_problem
from core.search.mcts import Search
from core.store.runs import Store
from tests.scripted import ScriptedBackend
from ui import search_actions as act
from ui.context import StudioContext
from ui.sessions import BackendPool


def test_a_run_saved_by_another_process_is_reloaded_from_history(tmp_path):
    db = tmp_path / "studio.db"
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()), store=Store(db))
    cfg = SearchConfig(reflection=False, rollout=False, max_iterations=10, end_gate=1.0, width=1)
    run = ctx.runs.get(ctx.runs.add(Search.start(get_problem("HumanEval/0"), cfg, ScriptedBackend())))
    run.search.step()
    act.save(ctx, run)

    other = Store(db)  # another studio (or launch.py search --resume) on the same database
    theirs = Search(other.load_tree(run.id), ScriptedBackend())
    theirs.run(2)
    other.save_tree(run.id, theirs.tree)

    run.search.step()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        act.save(ctx, run)
    assert run.stale and any("saved by another process" in str(w.message) for w in caught)
    assert Store(db).load_tree(run.id).iteration == 3  # their save stands; ours wrote nothing

    again = act.reopen_run(ctx, run.id)
    assert again is not run and not again.stale and again.search.tree.iteration == 3
    again.search.step()
    act.save(ctx, again)  # the reloaded copy saves as usual
    assert Store(db).load_tree(run.id).iteration == 4
