"""The smaller demo fixes of the Search, Experiments and Train tabs, as plain handler tests."""

from __future__ import annotations

import json

import gradio as gr
import pytest
from gradio_client import Client

from core.config import SearchConfig
from core.problems.problem import get_problem
from core.search.mcts import Search
from tests.scripted import ScriptedBackend
from ui import experiments_tab, finetune_actions
from ui.app import build_app
from ui.context import StudioContext
from ui.inspector import inspect_node
from ui.search_tab import pick_problem as prompt_of
from ui.sessions import BackendPool
from ui.widgets import optional_count


@pytest.fixture(scope="module")
def client():
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))
    app = build_app(ctx)
    app.queue(default_concurrency_limit=4)
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    yield Client(url, verbose=False)
    app.close()


def test_an_out_of_range_number_names_its_field(client):
    knobs = ["paper defaults", -3, 3, 0.5, 0.7, 0, 1, "", ""]
    with pytest.raises(Exception, match="Iterations: -3 is less than the minimum, 1"):
        client.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *knobs, api_name="/new_search")


def test_a_refused_input_logs_one_line_not_a_traceback(client, capfd):
    with pytest.raises(Exception, match="neither open nor in the database"):
        client.predict("nope", 1, api_name="/prune")
    _out, err = capfd.readouterr()
    assert "Traceback" not in err


def test_an_open_node_whose_reflection_said_end_says_why():
    cfg = SearchConfig(rollout=False, end_gate=1.0, end_gate_min_depth=3, max_iterations=5, width=1)
    search = Search.start(get_problem("HumanEval/0"), cfg, ScriptedBackend(reflections=["<end>"] * 10))
    search.run(2)
    node = next(n for n in search.tree.nodes.values() if n.reflection is not None and n.reflection.is_end)
    assert not node.terminal
    assert "end_gate_min_depth" in inspect_node(search.tree, node.id)


def test_the_experiments_iterations_field_is_blank_or_a_named_whole_number():
    assert optional_count("", "iterations") is None and optional_count(None, "iterations") is None
    assert optional_count("3", "iterations") == 3 and optional_count(4.0, "iterations") == 4
    for bad in ("abc", "0", "2.5", "-1"):
        with pytest.raises(gr.Error, match="iterations"):
            optional_count(bad, "iterations")
    app = build_app(StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend())))
    box = next(
        c for c in app.get_config_file()["components"] if c["props"].get("elem_id") == "experiment-iterations"
    )
    assert box["type"] == "textbox" and box["props"]["value"] == ""  # blank, not 0
    assert experiments_tab.spec_from_form(
        "e", "HumanEval/0-1", "HumanEval/2-3", ["sra-mcts"], "quick demo", "", "CPU quick", 1.0, 1, 1, False
    )


def test_the_train_preview_shows_arrows_as_typed(tmp_path):
    record = {
        "messages": [
            {"role": "user", "content": "def f(x: int) -> int:"},
            {"role": "assistant", "content": "```python\ndef f(x: int) -> int:\n    return x\n```"},
        ]
    }
    (tmp_path / "sft.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    shown = finetune_actions.dataset_preview(tmp_path)
    assert "<pre>def f(x: int) -&gt; int:</pre>" in shown  # in a <pre> the entity reads as "->"
    outside = shown.replace("<pre>", "\x00").split("\x00")
    assert all(
        "&gt;" not in part.split("</pre>")[-1] for part in outside
    )  # never in markdown, where it shows


def test_a_refused_slow_action_puts_the_status_back_and_a_closed_page_stops_it_quietly():
    import threading

    from ui import search_actions as act

    def refuse() -> None:
        raise ValueError("no")

    shown = []
    with pytest.raises(ValueError):
        for line in act.busy("editing", refuse, lambda s: s, lambda: "as it was"):
            shown.append(line)
    assert shown[0].startswith("▶ editing") and shown[-1] == "as it was"

    release = threading.Event()
    running = act.busy("editing", lambda: release.wait(10), lambda s: s, lambda: "as it was")
    next(running)  # the starting line
    next(running)  # a progress line, from inside the action
    running.close()  # the page went away mid-action: no "generator ignored GeneratorExit"
    release.set()
