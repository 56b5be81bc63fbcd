"""The studio's named API endpoints through gradio_client, on a server started in-process.

The scripted LLM stands in for the model here, so these run in seconds; the
real-model path is covered by tests/ui/test_studio_smoke.py.
"""

from __future__ import annotations

import json
import threading

import pytest
from gradio_client import Client

from tests.scripted import ScriptedBackend
from ui.app import build_app
from ui.context import StudioContext
from ui.search_tab import pick_problem as prompt_of
from ui.sessions import BackendPool

KNOBS = ["paper defaults", 2, 3, 0.5, 0.7, 0, 1, '{"end_gate": 1.0}', ""]


@pytest.fixture(scope="module")
def studio():
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))
    app = build_app(ctx)
    app.queue(default_concurrency_limit=4)
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    yield url, ctx
    app.close()


def tree_of(client: Client, run_id: str) -> dict:
    return json.loads(client.predict(run_id, api_name="/get_tree"))


def test_endpoints_change_the_tree_as_they_should(studio):
    url, _ = studio
    c = Client(url, verbose=False)
    run_id = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
    assert len(tree_of(c, run_id)["nodes"]) == 1
    c.predict(run_id, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/step")
    tree = tree_of(c, run_id)
    assert tree["iteration"] == 1 and len(tree["nodes"]) == 4
    first = tree["nodes"][0]["children"][0]

    c.predict(run_id, first, api_name="/prune")
    nodes = {n["id"]: n for n in tree_of(c, run_id)["nodes"]}
    assert nodes[first]["pruned"] is True

    c.predict(run_id, first, api_name="/unprune")
    c.predict(run_id, first, api_name="/force")
    assert {n["id"]: n for n in tree_of(c, run_id)["nodes"]}[first]["forced"] is True
    c.predict(run_id, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/step")
    tree = tree_of(c, run_id)
    selected = [e for e in tree["events"] if e["kind"] == "selected"][-1]
    assert selected["node"] == first and selected["data"]["forced"] is True

    c.predict(run_id, first, "Sort the list first. (score 4)", api_name="/edit")
    nodes = {n["id"]: n for n in tree_of(c, run_id)["nodes"]}
    assert nodes[first]["step"] == "Sort the list first. (score 4)" and nodes[first]["critic"]["score"] == 4
    assert all(nodes[k]["stale"] for k in nodes[first]["children"])

    c.predict(run_id, 0, "Compare each pair. (score 6)", api_name="/add_step")
    added = [n for n in tree_of(c, run_id)["nodes"] if n["origin"] == "human"]
    assert len(added) == 1 and added[0]["critic"]["score"] == 6


def test_bad_requests_get_clear_errors(studio):
    url, _ = studio
    c = Client(url, verbose=False)
    with pytest.raises(Exception, match="neither open nor in the database"):
        c.predict("nope", 1, api_name="/prune")
    run_id = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
    with pytest.raises(Exception, match="cannot prune the root"):
        c.predict(run_id, 0, api_name="/prune")
    with pytest.raises(Exception, match="bad setting"):
        c.predict(
            "HumanEval/0",
            prompt_of("HumanEval/0"),
            "",
            "paper defaults",
            2,
            3,
            0.5,
            0.7,
            0,
            1,
            "{oops",
            "",
            api_name="/new_search",
        )


def test_two_clients_at_once_keep_their_own_runs(studio):
    url, ctx = studio
    results: dict[str, tuple[str, dict]] = {}

    def client_run(problem: str) -> None:
        c = Client(url, verbose=False)
        run_id = c.predict(problem, prompt_of(problem), "", *KNOBS, api_name="/new_search")[0]
        for _ in range(2):
            c.predict(run_id, None, problem, prompt_of(problem), "", *KNOBS, api_name="/step")
        results[problem] = (run_id, tree_of(c, run_id))

    threads = [threading.Thread(target=client_run, args=(p,)) for p in ("HumanEval/1", "HumanEval/2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    (id1, t1), (id2, t2) = results["HumanEval/1"], results["HumanEval/2"]
    assert id1 != id2
    assert t1["problem"]["id"] == "HumanEval/1" and t2["problem"]["id"] == "HumanEval/2"
    assert t1["iteration"] == 2 and t2["iteration"] == 2
    assert ctx.runs.get(id1).owner != ctx.runs.get(id2).owner
    assert ctx.runs.get(id1).search is not ctx.runs.get(id2).search


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"schema": "sra-tree/1", "nodes": [', "not valid JSON"),
        (b'{"schema": "other/2", "nodes": []}', "not a search tree of schema 'sra-tree/1'"),
        (None, "the limit is 50 MB"),
    ],
    ids=["malformed", "other_schema", "over_50MB"],
)
def test_bad_uploads_get_a_clear_message_and_change_nothing(studio, tmp_path, content, expected):
    from gradio_client import handle_file

    url, ctx = studio
    c = Client(url, verbose=False)
    path = tmp_path / "upload.json"
    if content is None:
        with path.open("wb") as fh:
            fh.write(b'{"schema": "sra-tree/1", "pad": "')
            fh.write(b" " * (51 * 1024 * 1024))
            fh.write(b'"}')
    else:
        path.write_bytes(content)
    before = len(ctx.runs)
    with pytest.raises(Exception, match=expected):
        c.predict(handle_file(str(path)), api_name="/upload_tree")
    assert len(ctx.runs) == before  # no run was created from a bad file


def test_a_downloaded_tree_uploads_again(studio, tmp_path):
    from gradio_client import handle_file

    url, _ = studio
    c = Client(url, verbose=False)
    run_id = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
    c.predict(run_id, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/step")
    text = c.predict(run_id, api_name="/get_tree")
    path = tmp_path / "tree.json"
    path.write_text(text, encoding="utf-8")
    new_id = c.predict(handle_file(str(path)), api_name="/upload_tree")[0]
    assert new_id != run_id and c.predict(new_id, api_name="/get_tree") == text
    runs = len(studio[1].runs)
    again = c.predict(handle_file(str(path)), api_name="/upload_tree")[0]
    assert again == new_id and len(studio[1].runs) == runs  # the same file is the same run, not a copy


def test_execute_rescore_and_reward_report(studio):
    url, _ = studio
    c = Client(url, verbose=False)
    run_id = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
    c.predict(run_id, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/step")
    child = tree_of(c, run_id)["nodes"][0]["children"][0]
    result, _inspector = c.predict(run_id, child, api_name="/execute")
    assert "visible (in the reward)" in result and "hidden (never in the reward)" in result
    node = {n["id"]: n for n in tree_of(c, run_id)["nodes"]}[child]
    assert node["check"]["hidden"]["passed"] is False  # the scripted code is not a solution
    assert node["execution"] is None  # a check by hand is kept apart from what the search uses
    table = c.predict(run_id, 0, "Judge {problem} with {steps}. Score:", 0.0, api_name="/rescore")
    assert "old score" in table and f"#{child}" in table
    with pytest.raises(Exception, match="prompts.critic"):
        c.predict(run_id, 0, "Judge {step}", None, api_name="/rescore")
    _plot, text = c.predict(run_id, [], api_name="/reward_report")
    assert "AUROC" in text and "rows: 1" in text


def test_step_shows_the_selected_node_as_it_is_after_the_iteration(studio):
    url, _ = studio
    c = Client(url, verbose=False)
    run_id = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
    out = c.predict(run_id, 0, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/step")
    children = tree_of(c, run_id)["nodes"][0]["children"]
    assert children and ", ".join(f"#{i}" for i in children) in out[-1]  # the inspector, refreshed


def test_no_event_paints_the_status_overlay_that_blanks_outputs_on_error(studio):
    _, ctx = studio
    app = build_app(ctx)
    shown = [
        d.get("api_name") for d in app.get_config_file()["dependencies"] if d["show_progress"] != "hidden"
    ]
    assert shown == []


def test_open_in_search_sets_the_left_panel_to_the_run(tmp_path):
    from core.store.runs import Store

    store = Store(tmp_path / "studio.db")
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()), store=store)
    app = build_app(ctx).queue()
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        c = Client(url, verbose=False)
        knobs = ["quick demo", 3, 2, 0.25, 0.5, 9, 3, '{"end_gate": 1.0}', ""]
        run_id = c.predict("HumanEval/5", prompt_of("HumanEval/5"), "", *knobs, api_name="/new_search")[0]
        out = c.predict(run_id, api_name="/open_run")
        picker, text, tests, preset_name, its, k, c_, temp, seed, width, overrides, adapter = out[9:21]
        assert (picker, preset_name, its, k, c_, temp, seed, width) == (
            "HumanEval/5",
            "quick demo",
            3,
            2,
            0.25,
            0.5,
            9,
            3,
        )
        assert text.strip() == prompt_of("HumanEval/5").strip() and json.loads(overrides) == {"end_gate": 1.0}
        assert tests == ""  # a HumanEval problem's visible tests come from its docstring
    finally:
        app.close()


def test_code_in_an_uploaded_tree_never_runs(studio, tmp_path, monkeypatch):
    """Every endpoint that runs code, on an uploaded tree whose nodes carry code: that code never runs."""
    from gradio_client import handle_file

    import core.search.grounding as grounding
    from core.config import SearchConfig
    from core.problems.problem import get_problem
    from core.search.mcts import Search

    marker = "# UPLOADED-MARKER: whoever runs this has run a client's code"
    planted = f"```python\ndef has_close_elements(numbers, threshold):\n    {marker}\n    return False"
    cfg = SearchConfig(k=2, reflection=False, rollout=False, exec_weight=0.5, max_iterations=50, end_gate=1.0)
    search = Search.start(get_problem("HumanEval/0"), cfg, ScriptedBackend(code=planted))
    search.run(2)
    assert any(n.code and marker in n.code.code for n in search.tree.nodes.values())
    path = tmp_path / "planted.json"
    path.write_text(search.tree.to_json(), encoding="utf-8")

    ran: list[str] = []
    real_run_tests, real_check = grounding.run_tests, grounding.run_humaneval_check
    monkeypatch.setattr(
        grounding, "run_tests", lambda code, *a, **k: ran.append(code) or real_run_tests(code, *a, **k)
    )
    monkeypatch.setattr(
        grounding, "run_humaneval_check", lambda p, code, **k: ran.append(code) or real_check(p, code, **k)
    )

    url, ctx = studio
    c = Client(url, verbose=False)
    run_id = c.predict(handle_file(str(path)), api_name="/upload_tree")[0]
    tree = tree_of(c, run_id)
    planted_nodes = [n["id"] for n in tree["nodes"] if n["code"] and marker in n["code"]["code"]]
    assert planted_nodes and all(n["code"]["uploaded"] for n in tree["nodes"] if n["code"])
    for node_id in planted_nodes:
        c.predict(run_id, node_id, api_name="/execute")
    c.predict(run_id, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/step")
    c.predict(run_id, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/run")
    c.predict(run_id, planted_nodes[0], api_name="/write_code")
    assert ran, "nothing ran at all: the test would prove nothing"
    assert not [code for code in ran if marker in code]
