"""The Compare tab: two stored runs of one problem side by side, through the API."""

from __future__ import annotations

import json

from gradio_client import Client

from core.config import SearchConfig
from core.search.mcts import Search
from core.store.runs import Store
from tests.scripted import ScriptedBackend
from ui.app import build_app
from ui.compare_tab import mismatch_note, run_choices, summary
from ui.context import StudioContext
from ui.sessions import BackendPool


class AdapterBackend(ScriptedBackend):
    adapter = "v1-lora"


def test_two_runs_side_by_side(tmp_path, problem):
    store = Store(tmp_path / "studio.db")
    cfg = SearchConfig(reflection=False, rollout=False, max_iterations=3, end_gate=1.0)
    for run_id, backend in (("base", ScriptedBackend()), ("tuned", AdapterBackend())):
        search = Search.start(problem, cfg, backend)
        search.run()
        store.save_tree(run_id, search.tree)
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()), store=store)
    labels = dict((v, k) for k, v in run_choices(ctx, problem.id))
    assert set(labels) == {"base", "tuned"} and "+ v1-lora" in labels["tuned"]
    assert "(base)" in summary(store.load_tree("base")) and "v1-lora" in summary(store.load_tree("tuned"))

    app = build_app(ctx).queue()
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        view, text, note = Client(url, verbose=False).predict("tuned", "base", api_name="/compare_run")
        assert json.loads(view)["nodes"] == len(store.load_tree("tuned").nodes)
        assert "v1-lora" in text and note == ""  # the same problem: nothing to warn about
    finally:
        app.close()


def test_two_runs_on_different_problems_are_flagged(problem, make_search):
    from core.problems.problem import get_problem

    cfg = SearchConfig(reflection=False, rollout=False, max_iterations=1, end_gate=1.0)
    mine = Search.start(problem, cfg, ScriptedBackend()).tree
    other = Search.start(get_problem("HumanEval/3"), cfg, ScriptedBackend()).tree
    assert "Different problems" in mismatch_note(mine, other) and "HumanEval/3" in mismatch_note(mine, other)
    assert mismatch_note(mine, mine) == "" and mismatch_note(mine, None) == ""
