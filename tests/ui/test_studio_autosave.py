"""The studio saves every completed action, reopens stored runs after a restart, and lists them in History.

Two in-process servers share one database file: the second stands for the studio
after a restart (a fresh run registry, nothing in memory).
"""

from __future__ import annotations

import json

import pytest
from gradio_client import Client

from core.store.runs import Store
from tests.scripted import ScriptedBackend
from ui.app import build_app
from ui.context import StudioContext
from ui.search_tab import pick_problem as prompt_of
from ui.sessions import BackendPool

KNOBS = ["paper defaults", 2, 3, 0.5, 0.7, 0, 1, '{"end_gate": 1.0}', ""]
FILTERS = ["", "", "", "", "any time", ""]


def serve(store: Store):
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()), store=store)
    app = build_app(ctx).queue(default_concurrency_limit=4)
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    return app, url, ctx


@pytest.fixture
def db(tmp_path):
    return tmp_path / "studio.db"


def tree_json(client: Client, run_id: str) -> str:
    return client.predict(run_id, api_name="/get_tree")


def test_every_action_is_saved_and_a_restart_reopens_and_resumes(db):
    app, url, _ = serve(Store(db))
    try:
        c = Client(url, verbose=False)
        run_id = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
        assert Store(db).load_tree(run_id).to_json() == tree_json(c, run_id)
        c.predict(run_id, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/step")
        first = json.loads(tree_json(c, run_id))["nodes"][0]["children"][0]
        c.predict(run_id, first, api_name="/prune")
        c.predict(run_id, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/run")
        before = tree_json(c, run_id)
        stored = Store(db).load_tree(run_id)
        assert stored.to_json() == before  # every iteration and the prune, nothing more, nothing less
        assert stored.iteration == 3 and stored.nodes[first].pruned
    finally:
        app.close()

    app, url, ctx = serve(Store(db))  # the restart: nothing in memory
    try:
        assert len(ctx.runs) == 0
        c = Client(url, verbose=False)
        assert tree_json(c, run_id) == before
        c.predict(run_id, 1, api_name="/replay")  # the replay works on a reopened run
        c.predict(
            run_id, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/step"
        )  # resume
        after = json.loads(tree_json(c, run_id))
        assert after["iteration"] == 4
        assert Store(db).load_tree(run_id).to_json() == tree_json(c, run_id)
    finally:
        app.close()


def test_history_lists_filters_and_opens_runs(db):
    app, url, _ = serve(Store(db))
    try:
        c = Client(url, verbose=False)
        a = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
        b = c.predict("HumanEval/2", prompt_of("HumanEval/2"), "", *KNOBS, api_name="/new_search")[0]
        Store(db).add_annotation(b, [0, 1], "accept", annotator="ada")
        table = c.predict(*FILTERS, api_name="/list_runs")[-1]
        assert [row[0] for row in table["data"]] == [b, a]  # newest first
        only_0 = c.predict("HumanEval/0", *FILTERS[1:], api_name="/list_runs")[-1]
        assert [row[0] for row in only_0["data"]] == [a]
        by_ada = c.predict("", "", "", "ada", "any time", "", api_name="/list_runs")[-1]
        assert [row[0] for row in by_ada["data"]] == [b]
        by_text = c.predict(*FILTERS[:5], a[:6], api_name="/list_runs")[-1]
        assert [row[0] for row in by_text["data"]] == [a]
        opened = c.predict(a, api_name="/open_run")
        assert opened[0] == a and "HumanEval/0" in opened[2]
        with pytest.raises(Exception, match="neither open nor in the database"):
            c.predict("no-such-run", api_name="/open_run")
    finally:
        app.close()


def test_without_a_store_nothing_is_saved_and_history_says_so(tmp_path):
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))
    app = build_app(ctx)
    assert ctx.store is None
    assert "No database" in json.dumps(app.config)
