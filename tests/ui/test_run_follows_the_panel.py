"""The studio as a demo: Run does what the left panel shows, a custom problem's tests count,
the selection follows the run, replay's number box works, and the Reward tab reads every run.

Handler and API tests on the scripted LLM; the page-level parts are in tests/browser.
"""

from __future__ import annotations

import json
import re

import gradio as gr
import pytest
from gradio_client import Client

from core.search.mcts import Search
from core.store.runs import Store
from tests.scripted import ScriptedBackend
from ui import search_actions as act
from ui.app import build_app
from ui.context import StudioContext
from ui.reward_tab import trees_of
from ui.search_tab import pick_problem as prompt_of
from ui.sessions import BackendPool, save_run

KNOBS = [
    "paper defaults",
    2,
    3,
    0.5,
    0.7,
    0,
    1,
    "",
    "",
]  # preset, its, k, c, temp, seed, width, JSON, adapter
GROUNDED = ["runs the examples", 1, 2, 0.05, 0.7, 0, 1, '{"rollout": false}', ""]
CUSTOM = 'def add(a, b):\n    """Add two numbers."""\n\nassert add(2, 2) == 4\nassert add(0, 1) == 1\n'


@pytest.fixture(scope="module")
def studio():
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))
    app = build_app(ctx)
    app.queue(default_concurrency_limit=4)
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    yield Client(url, verbose=False), ctx
    app.close()


def tree_of(c: Client, run_id: str) -> dict:
    return json.loads(c.predict(run_id, api_name="/get_tree"))


# --- 1. Run does what the panel shows ---------------------------------------------------------
def test_run_starts_a_new_search_when_another_problem_is_picked(studio):
    c, _ = studio
    first = c.predict("HumanEval/10", prompt_of("HumanEval/10"), "", *KNOBS, api_name="/new_search")[0]
    c.predict(first, None, "HumanEval/10", prompt_of("HumanEval/10"), "", *KNOBS, api_name="/step")
    out = c.predict(first, None, "HumanEval/23", prompt_of("HumanEval/23"), "", *KNOBS, api_name="/run")
    run_id, status, target = out[0], out[2], out[8]
    assert run_id != first and tree_of(c, run_id)["problem"]["id"] == "HumanEval/23"
    assert "HumanEval/23" in status and "HumanEval/10" not in status
    assert "continue **HumanEval/23**" in target
    assert tree_of(c, first)["iteration"] == 1  # the old run was left as it was


def test_run_continues_the_open_search_when_only_iterations_change(studio):
    c, _ = studio
    rid = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
    more = [KNOBS[0], 1, *KNOBS[2:]]
    out = c.predict(rid, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *more, api_name="/run")
    assert out[0] == rid and tree_of(c, rid)["iteration"] == 1


def test_run_with_an_empty_editor_is_a_clear_error_not_the_old_run(studio):
    c, _ = studio
    rid = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
    with pytest.raises(Exception, match="problem text is empty"):
        c.predict(rid, None, None, "", "", *KNOBS, api_name="/run")
    assert tree_of(c, rid)["iteration"] == 0


def test_the_reason_for_a_new_search_names_what_differs():
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))
    config = act.build_config("paper defaults", {"max_iterations": 3})
    run = act.new_search(ctx, "HumanEval/0", prompt_of("HumanEval/0"), config, owner="a")
    problem = act.resolve_problem("HumanEval/0", prompt_of("HumanEval/0"))
    assert act.why_new_search(run, problem, config) is None
    assert act.why_new_search(run, problem, config.replace(max_iterations=9)) is None  # how many more
    assert "k" in act.why_new_search(run, problem, config.replace(k=5))
    assert "problem differs" in act.why_new_search(run, act.resolve_problem(None, "def g(): pass"), config)
    assert "policy" in act.why_new_search(run, problem, config, adapter="tuned")
    assert act.why_new_search(None, problem, config) == "no search is open"
    run.search.stop()  # a Stop ends the budget only: Run goes on from there
    assert act.why_new_search(run, problem, config) is None
    run.search.tree.stopped = "end_gate"  # the answer was found: Run starts afresh
    assert "ended" in act.why_new_search(run, problem, config)
    assert "new search" in act.target_line(run, act.why_new_search(run, problem, config))


# --- 2. a custom problem's tests run, and the reward line adds up -----------------------------
def test_asserts_typed_under_a_custom_problem_run_as_its_visible_tests(studio):
    c, _ = studio
    rid = c.predict(None, CUSTOM, "", *GROUNDED, api_name="/new_search")[0]
    tree = tree_of(c, rid)
    assert tree["problem"]["visible_tests"] == ["assert add(2, 2) == 4", "assert add(0, 1) == 1"]
    c.predict(rid, None, None, CUSTOM, "", *GROUNDED, api_name="/step")
    tree = tree_of(c, rid)
    child = tree["nodes"][0]["children"][0]
    node = {n["id"]: n for n in tree["nodes"]}[child]
    assert node["execution"]["visible"]["tests"] == 2  # the search ran the typed tests
    inspector = c.predict(rid, child, api_name="/inspect")[1]
    assert_reward_line_adds_up(inspector)


def assert_reward_line_adds_up(inspector: str) -> None:
    m = re.search(
        r"(?:\*\*)?Reward(?:\*\*)? ([\d.]+) = \(1 − ([\d.]+)\) × value ([\d.]+) \+ [\d.]+ × visible pass rate ([\d.]+)",
        inspector,
    )
    assert m, inspector
    reward, w, value, rate = map(float, m.groups())
    assert reward == pytest.approx((1 - w) * value + w * rate, abs=0.002)


def test_a_custom_problem_without_tests_says_its_reward_is_the_critics_alone(studio):
    c, _ = studio
    text = "def sub(a, b):\n    pass\n"
    rid = c.predict(None, text, "", *GROUNDED, api_name="/new_search")[0]
    c.predict(rid, None, None, text, "", *GROUNDED, api_name="/step")
    child = tree_of(c, rid)["nodes"][0]["children"][0]
    inspector = c.predict(rid, child, api_name="/inspect")[1]
    m = re.search(r"\*\*Reward\*\* ([\d.]+) = value ([\d.]+) \(no visible tests", inspector)
    assert m and m.group(1) == m.group(2), inspector


def test_the_tests_box_of_a_custom_run_is_restored_with_the_run(studio):
    c, ctx = studio
    rid = c.predict(None, CUSTOM, "assert add(3, 3) == 6", *GROUNDED, api_name="/new_search")[0]
    _picker, text, tests = act.panel_values(ctx.runs.get(rid))[:3]
    problem = act.resolve_problem(None, text, tests)
    assert act.why_new_search(ctx.runs.get(rid), problem, ctx.runs.get(rid).search.config) is None


# --- 6. the selection follows the run -----------------------------------------------------------
def test_a_new_search_clears_the_old_selection_and_selecting_fills_the_step_box(studio):
    c, _ = studio
    rid = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
    c.predict(rid, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/step")
    child = tree_of(c, rid)["nodes"][0]["children"][0]
    step_text, _inspector = c.predict(rid, child, api_name="/inspect")
    assert step_text and step_text == {n["id"]: n for n in tree_of(c, rid)["nodes"]}[child]["step"]
    out = c.predict("HumanEval/2", prompt_of("HumanEval/2"), "", *KNOBS, api_name="/new_search")
    node, text, inspector = out[-4:-1]
    assert node is None and text == "" and "Click a node" in inspector
    job = c.submit(rid, child, "HumanEval/23", prompt_of("HumanEval/23"), "", *KNOBS, api_name="/step")
    job.result()
    drawn = [out for out in job.outputs() if isinstance(out[0], str) and out[0] not in ("", rid)]
    assert drawn and drawn[0][-3] is None and drawn[0][-2] == ""  # no node, no step text of the old run


# --- 8. replay: the number box redraws, and the status says it is a replay -------------------------
def test_replay_listens_to_the_number_box_and_says_what_it_shows(studio):
    c, ctx = studio
    rid = c.predict("HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/new_search")[0]
    c.predict(rid, None, "HumanEval/0", prompt_of("HumanEval/0"), "", *KNOBS, api_name="/run")
    tree, status = c.predict(rid, 1, api_name="/replay")
    assert "replaying: the tree after iteration 1 of 2" in status
    assert json.loads(tree)["nodes"] < len(tree_of(c, rid)["nodes"])
    app = build_app(ctx)
    config = app.get_config_file()
    replay = next(d for d in config["dependencies"] if d.get("api_name") == "replay")
    assert "input" in {event for _target, event in replay["targets"]}  # typing a number, not only a drag


# --- 5. pause is recorded ---------------------------------------------------------------------------
def test_pause_names_when_it_takes_effect_and_the_timeline_records_it():
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))
    config = act.build_config("paper defaults", {"max_iterations": 4, "width": 1})
    run = act.new_search(ctx, "HumanEval/0", prompt_of("HumanEval/0"), config, owner="a")
    lines = []
    for line in act.run_iterations(run, 4):
        if line is None:
            run.stop_requested.set()
        else:
            lines.append(line)
    assert run.search.tree.iteration == 1
    assert "paused by the user" in act.timeline_markdown(run.search)
    run.stop_requested.set()
    assert "pausing when this wave ends" in act.pausing(run)


# --- 7. the Reward tab reads every run it says it reads ------------------------------------------
def test_the_reward_report_reads_every_run_open_or_stored(tmp_path):
    store = Store(tmp_path / "studio.db")
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()), store=store)
    config = act.build_config("paper defaults", {"max_iterations": 1})
    runs = [
        act.new_search(ctx, f"HumanEval/{i}", prompt_of(f"HumanEval/{i}"), config, owner=f"session:{i}")
        for i in range(3)
    ]
    for run in runs:
        run.search.step()
        save_run(store, run)
    ctx.runs.discard(runs[2])  # closed: only in the database now
    trees = trees_of(ctx, runs[0].id, "session:0", None)
    assert sorted(t.problem.id for t in trees) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert trees[0].problem.id == "HumanEval/0"  # the run on the page first


def test_bad_target_input_gives_the_line_not_a_traceback():
    with pytest.raises(gr.Error, match="problem text is empty"):
        act.panel_problem(None, "  ")


# --- 3. the status line counts what is drawn and names the direct program's phase ------------------
def test_the_progress_line_counts_the_nodes_drawn_not_those_in_flight():
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))
    run = act.new_search(
        ctx, "HumanEval/0", prompt_of("HumanEval/0"), act.build_config("paper defaults", {}), "a"
    )
    run.search.step()
    assert len(run.search.tree.nodes) > 1
    line = act.progress_line(run.search, 0.0, drawn=1)
    assert "1 nodes drawn" in line and "⏳" not in line  # a glyph the default fonts lack


def test_writing_the_direct_program_is_a_phase_of_its_own():
    seen: list[str] = []

    class Watching(ScriptedBackend):
        def generate(self, requests):
            if search.activity is not None:
                seen.append(search.activity.phase)
            return super().generate(requests)

    problem = act.resolve_problem("HumanEval/0", prompt_of("HumanEval/0"))
    config = act.build_config("runs the examples", {"width": 1, "rollout": False})
    search = Search.start(problem, config, Watching())
    search.step()
    assert seen[0] == "direct"  # not "select", which the status showed for a minute
