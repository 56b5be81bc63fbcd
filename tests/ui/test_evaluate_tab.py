"""The Evaluate tab through its API: an evaluation runs, streams progress, and lands in the stored list."""

from __future__ import annotations

import pytest
from gradio_client import Client

from core.evaluation.tables import EvalTables
from core.store.runs import Store
from tests.scripted import ScriptedBackend
from ui.app import build_app
from ui.context import StudioContext
from ui.sessions import BackendPool

FORM = ["HumanEval/0-2", "", "greedy", 1, 0.0, "1", 2, "quick demo"]


@pytest.fixture
def studio(tmp_path):
    store = Store(tmp_path / "studio.db")
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()), store=store)
    app = build_app(ctx).queue()
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    yield Client(url, verbose=False), store
    app.close()


def test_an_evaluation_is_shown_and_stored(studio):
    client, store = studio
    eval_id, progress, problems, _, stored = client.predict(*FORM, api_name="/evaluate")
    assert "finished" in progress and "3/3 problems" in progress and "pass@1 0.0%" in progress
    assert [row[0] for row in problems["data"]] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    (row,) = EvalTables(store).evals()
    assert (
        row.status == "finished" and row.mode == "greedy" and len(EvalTables(store).eval_results(row.id)) == 3
    )
    assert stored["data"][0][0] == row.id and eval_id == str(row.id)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({0: "HumanEval/999"}, "HumanEval/999"),
        ({5: "1,5"}, "pass@5 needs at least 5 samples"),
        ({1: "no-such-adapter"}, "adapter 'no-such-adapter' is not one of this studio's adapters"),
    ],
)
def test_bad_settings_are_one_clear_error(studio, changes, message):
    client, store = studio
    form = [changes.get(i, v) for i, v in enumerate(FORM)]
    with pytest.raises(Exception, match=message):
        client.predict(*form, api_name="/evaluate")
    assert EvalTables(store).evals() == []


def test_progress_says_what_runs_now_and_moves_while_a_batch_is_in_flight(tmp_path):
    store = Store(tmp_path / "studio.db")
    slow = BackendPool(loader=lambda kind, model: ScriptedBackend(delay_s=3.5))
    app = build_app(StudioContext(backends=slow, store=store)).queue()
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        job = Client(url, verbose=False).submit(*FORM, api_name="/evaluate")
        job.result(timeout=120)
        lines = [out[1] for out in job.outputs()]
    finally:
        app.close()
    running = [line for line in lines if line.startswith("**running**")]
    assert any(
        "now: writing code for HumanEval/0 … HumanEval/2 (3 problems, one batch)" in x for x in running
    )
    assert any("known after the first problem" in line for line in running)
    assert len(set(running)) >= 2, "the line did not move while the model worked"
    assert "finished" in lines[-1] and "now:" not in lines[-1]
