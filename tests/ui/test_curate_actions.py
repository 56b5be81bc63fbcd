"""Curate-tab handlers as plain functions, on a temp store of scripted runs (no browser)."""

from __future__ import annotations

import json
import zipfile
from types import SimpleNamespace

import gradio as gr
import pytest

from core.config import SearchConfig
from core.curation.accepted import exports_dir
from core.curation.queue import CandidateCache, parse_steps
from core.search.mcts import Search
from core.store.runs import Store
from tests.scripted import ScriptedBackend
from ui import curate_actions as act
from ui.app import build_app
from ui.context import StudioContext

ANY = act.filters("", "", "", None, "")


@pytest.fixture
def cur(tmp_path, problem) -> act.Curator:
    store = Store(tmp_path / "studio.db")
    for seed in (0, 1):
        cfg = SearchConfig(
            reflection=False, rollout=False, max_depth=2, max_iterations=8, end_gate=1.0, seed=seed
        )
        s = Search.start(problem, cfg, ScriptedBackend())
        s.run()
        store.save_tree(f"run-{seed}", s.tree, owner="alice")  # the login of the API test below
    return act.Curator(store, CandidateCache())


def shown(cur, queue="pending", key=None):
    counts, rows, key, seen, card, prompt, steps, code, comment = act.view(cur, ANY, "value", queue, key)
    return SimpleNamespace(
        counts=counts, rows=rows, key=key, seen=seen, card=card, prompt=prompt, steps=steps, code=code
    )


def test_view_shows_the_first_pending_path_and_the_counts(cur):
    v = shown(cur)
    n = len(v.rows)
    assert n >= 6 and f"pending **{n}**" in v.counts and "accepted **0**" in v.counts
    assert v.rows[0][0] == "▶" and v.key == f"{v.rows[0][2]}#{v.rows[0][3]}"
    assert f"1 of {n} pending" in v.card and "model `scripted-v1`" in v.card
    assert f"seed {v.rows[0][2].removeprefix('run-')}" in v.card  # the run's own seed
    assert v.prompt.startswith("def add") and v.steps.startswith("1. ") and v.seen == 0
    assert shown(cur, "accepted").card.startswith("_Nothing here.")


def test_decisions_advance_to_the_next_pending_path(cur):
    first = shown(cur)
    second_key = f"{first.rows[1][2]}#{first.rows[1][3]}"
    lines = first.steps.splitlines()
    lines[-1] = "2. Return the sum of a and b."
    edit = ("\n".join(lines), first.code, "good")
    after = act.decide_and_next(cur, ANY, "value", "pending", first.key, 0, "accept", edit, "ada")
    assert after[2] == second_key and "accepted **1**" in after[0]
    accepted = shown(cur, "accepted")
    assert accepted.key == first.key and "Return the sum of a and b." in accepted.steps
    assert "**accepted** by ada" in accepted.card and "edited" in accepted.card
    (a,) = cur.store.annotations()
    assert a.edited["steps"] == parse_steps(edit[0]) and a.comment == "good"
    assert a.provenance["path"]["steps"] != a.edited["steps"]  # the original is kept

    nxt = act.decide_and_next(
        cur,
        ANY,
        "value",
        "pending",
        second_key,
        0,
        "reject",
        (shown(cur, key=second_key).steps, "", ""),
        "ada",
    )
    assert "rejected **1**" in nxt[0] and nxt[2] not in (first.key, second_key)


def test_bad_input_is_a_clear_error_and_writes_nothing(cur):
    v = shown(cur)
    with pytest.raises(gr.Error, match="annotator"):
        act.decide_and_next(cur, ANY, "value", "pending", v.key, 0, "accept", (v.steps, v.code, ""), "")
    with pytest.raises(gr.Error, match="step 2 is empty"):
        act.decide_and_next(
            cur, ANY, "value", "pending", v.key, 0, "accept", ("1. a\n2.\n3. b", "", ""), "ada"
        )
    with pytest.raises(gr.Error, match="at least one step"):
        act.decide_and_next(cur, ANY, "value", "pending", v.key, 0, "accept", ("", "", ""), "ada")
    with pytest.raises(gr.Error, match="not in the queue"):
        act.decide_and_next(cur, ANY, "value", "pending", "nope#3", 0, "accept", (v.steps, "", ""), "ada")
    assert cur.store.annotations() == []
    act.decide_and_next(cur, ANY, "value", "pending", v.key, 0, "accept", (v.steps, v.code, ""), "ada")
    with pytest.raises(gr.Error, match="just decided"):  # a second key press on the same, stale view
        act.decide_and_next(cur, ANY, "value", "pending", v.key, 0, "reject", (v.steps, v.code, ""), "ada")
    assert [a.decision for a in cur.store.annotations()] == ["accept"]


def test_moving_and_picking_rows(cur):
    v = shown(cur)
    keys = [f"{r[2]}#{r[3]}" for r in v.rows]
    assert act.move(cur, ANY, "value", "pending", v.key, 1)[2] == keys[1]
    assert act.move(cur, ANY, "value", "pending", keys[0], -1)[2] == keys[0]
    assert act.move(cur, ANY, "value", "pending", keys[-1], 1)[2] == keys[-1]
    assert act.pick_row(cur, ANY, "value", "pending", v.rows[2])[2] == keys[2]


def test_annotator_comes_from_the_login_when_there_is_one():
    assert act.annotator_of(SimpleNamespace(username="alice"), "mallory") == "alice"
    assert act.annotator_of(SimpleNamespace(username=None), " bob ") == "bob"
    assert act.annotator_of(None, "") == ""


def test_export_handler_writes_the_folder_and_returns_the_zip(cur):
    v = shown(cur)
    act.decide_and_next(cur, ANY, "value", "pending", v.key, 0, "accept", (v.steps, v.code, ""), "ada")
    with pytest.raises(gr.Error, match="path separators"):
        act.export(cur, "../escape", ["sft"], 0, False)
    text, zip_path = act.export(cur, "first", ["sft", "prm"], 0, False)
    assert "sft **1**" in text and "dropped by filters **0**" in text and "✓" in text
    assert "first/sft.jsonl" in zipfile.ZipFile(zip_path).namelist()
    (record,) = [
        json.loads(x) for x in (exports_dir(cur.store) / "first" / "sft.jsonl").read_text().splitlines()
    ]
    assert record["meta"]["annotator"] == "ada"
    text, _ = act.export(cur, "strict", ["sft"], 0, True)  # the path's code never ran its visible tests
    assert "sft **0**" in text and "dropped by filters **1**" in text
    with pytest.raises(gr.Error, match="exists already"):
        act.export(cur, "first", ["sft"], 0, False)


def test_the_tab_says_so_when_there_is_no_database():
    app = build_app(StudioContext())
    texts = [getattr(b, "value", "") for b in app.blocks.values()]
    assert act.NO_STORE in texts


def test_api_decisions_name_the_logged_in_user_not_the_typed_name(cur):
    """With auth on, the login is the annotator, whatever the name field says (through gradio_client)."""
    from gradio_client import Client

    app = build_app(StudioContext(store=cur.store))
    app.queue()
    _, url, _ = app.launch(
        server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, auth=[("alice", "secret")]
    )
    try:
        c = Client(url, auth=("alice", "secret"), verbose=False)
        query = {
            "problem": "",
            "model": "",
            "run_status": "",
            "min_value": None,
            "text": "",
            "sort_by": "value",
        }
        first = c.predict(**query, queue="pending", key="", api_name="/curate_refresh")
        key, steps = first[2], first[6]
        after = c.predict(
            **query, queue="pending", key=key, seen=0, steps=steps, code="", comment="ok",
            annotator="mallory", api_name="/curate_accept",
        )  # fmt: skip
        assert after[2] != key and "accepted **1**" in after[0]
        (a,) = cur.store.annotations()
        assert a.annotator == "alice" and f"{a.run_id}#{a.node_id}" == key
        summary, _zip = c.predict("api-v1", ["sft"], 0.0, False, api_name="/curate_export")
        assert "sft **1**" in summary
    finally:
        app.close()
