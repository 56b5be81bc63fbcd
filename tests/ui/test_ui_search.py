"""Search-tab handlers as plain functions, driven by the scripted LLM (no browser)."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest

from tests.scripted import ScriptedBackend
from ui import search_actions as act
from ui.context import StudioContext
from ui.search_tab import pick_problem
from ui.sessions import BackendPool


@pytest.fixture
def ctx() -> StudioContext:
    return StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))


def make_run(ctx, **knobs):
    config = act.build_config("paper defaults", {"max_iterations": 3, **knobs})
    return act.new_search(ctx, "HumanEval/0", pick_problem("HumanEval/0"), config, owner="a")


def test_picked_problem_is_used_unless_edited():
    text = pick_problem("HumanEval/3")
    assert act.resolve_problem("HumanEval/3", text).id == "HumanEval/3"
    with pytest.raises(ValueError, match="problem text is empty"):  # never the picked problem unseen
        act.resolve_problem("HumanEval/3", "  ")
    assert act.resolve_problem("HumanEval/3", text + "\n# my twist\n").source == "custom"


def test_run_streams_each_iteration_and_pause_stops_it(ctx):
    run = make_run(ctx, width=1)
    steps = 0
    for line in act.run_iterations(run, 5):
        if line is not None:
            continue  # a progress line mid-iteration
        steps += 1
        if steps == 2:
            run.stop_requested.set()
    assert steps == 3 and run.search.tree.iteration == 2  # 2 iterations, then the render of the pause
    run_id, _tree, status, best, _code, timeline, _slider, download, target = act.render(run)
    assert json.loads(Path(download).read_text())["nodes"][0]["id"] == 0  # one click downloads it
    assert run_id == run.id and "iteration 2" in status and "Best path" in best
    assert "continue" in target and run.id in target
    assert "paused by the user" in timeline  # Pause is a Timeline row


def test_step_goes_past_the_budget_and_stop_ends_the_search(ctx):
    run = make_run(ctx, max_iterations=1)
    act.step(run)
    act.step(run)  # the budget of 1 was spent; Step extends it by one
    assert run.search.tree.iteration == 2
    run = make_run(ctx, max_iterations=5)
    act.step(run)
    run.search.stop()
    assert run.search.tree.stopped == "stopped by user"
    act.step(run)  # Step after Stop goes on
    assert run.search.tree.iteration == 2


def test_steering_through_the_handlers_and_clear_errors(ctx):
    run = make_run(ctx)
    act.step(run)
    child = run.search.tree.root.children[0]
    act.steer(run, "prune", child)
    assert run.search.tree.status(child) == "pruned"
    assert "pruned" in act.timeline_markdown(run.search)
    with pytest.raises(gr.Error, match="root"):
        act.steer(run, "prune", 0)
    with pytest.raises(gr.Error, match="select a node"):
        act.steer(run, "force", None)
    added = act.steer(run, "add", 0, "Use a set to find duplicates.")
    assert run.search.tree.nodes[added].origin == "human"


def test_bad_settings_are_clear_errors(ctx):
    with pytest.raises(ValueError, match="advanced settings are not valid JSON"):
        act.build_config("paper defaults", {}, "{oops")
    with pytest.raises(ValueError, match="k must be between"):
        act.build_config("paper defaults", {"k": 0})
    with pytest.raises(ValueError, match="unknown preset"):
        act.build_config("nope", {})
    with pytest.raises(gr.Error, match="problem text is empty"):
        act.new_search(ctx, None, "  ", act.build_config("paper defaults", {}), owner="a")
    with pytest.raises(gr.Error, match="neither open nor in the database"):
        act.get_run(ctx, "deadbeef")


CONTROLS = {"max_iterations": 4, "k": 3, "c": 0.5, "temperature": 0.7, "seed": 0}
OVERRIDDEN = {"max_iterations": 7, "k": 2, "c": 0.125, "temperature": 0.25, "seed": 11}


@pytest.mark.parametrize("field", sorted(CONTROLS))
def test_an_override_of_a_field_with_its_own_control_wins_over_the_control(field):
    import json

    config = act.build_config("paper defaults", CONTROLS, json.dumps({field: OVERRIDDEN[field]}))
    assert getattr(config, field) == OVERRIDDEN[field]
    others = {k: v for k, v in CONTROLS.items() if k != field}
    assert {k: getattr(config, k) for k in others} == others  # the other controls still apply


def test_a_bad_override_of_a_controlled_field_is_a_clear_error():
    with pytest.raises(ValueError, match="k must be between"):
        act.build_config("paper defaults", CONTROLS, '{"k": 0}')


@pytest.mark.parametrize("name", ["paper defaults", "quick demo", "wide", "runs the examples"])
def test_the_panel_rebuilds_an_attached_runs_config_exactly(ctx, name):
    config = act.build_config(name, {"k": 2, "seed": 5}, '{"end_gate": 0.5, "max_depth": 3}')
    run = act.new_search(ctx, "HumanEval/4", pick_problem("HumanEval/4"), config, owner="a")
    picker, text, tests, preset_name, *knobs, overrides, adapter = act.panel_values(run)
    assert picker == "HumanEval/4" and text == pick_problem("HumanEval/4") and tests == ""
    rebuilt = act.build_config(preset_name, dict(zip(act.KNOBS, knobs, strict=True)), overrides)
    assert rebuilt == run.search.tree.config and adapter == ""  # the base model


def test_the_panel_of_a_custom_problem_holds_its_text_and_no_pick(ctx):
    run = act.new_search(ctx, "HumanEval/4", "def f(x):\n    return x\n", act.build_config("wide", {}), "a")
    picker, text, tests, preset_name, *_ = act.panel_values(run)
    assert picker is None and "def f(x)" in text and tests == "" and preset_name == "wide"


def test_a_run_reports_its_phase_while_an_iteration_is_in_flight():
    slow = StudioContext(
        backends=BackendPool(loader=lambda kind, model: ScriptedBackend(delay_s=act.POLL_S * 1.5))
    )
    run = make_run(slow)
    lines = [line for line in act.run_iterations(run, 2) if line is not None]
    assert lines, "no progress line while the model was busy"
    assert any("proposing next steps" in line for line in lines)
    assert any("scoring the new steps" in line for line in lines)
    assert any("1 of 2 done this run" in line and "s left" in line for line in lines)  # an ETA after one


def test_a_problem_too_long_for_the_model_is_refused_at_new_search(ctx):
    huge = "def f(x):\n    " + "# padding\n    " * 5000 + "return x\n"
    with pytest.raises(gr.Error, match="characters; the studio takes up to 12,000"):
        act.new_search(ctx, None, huge, act.build_config("paper defaults", {}), owner="a")


def test_an_error_the_model_cannot_get_past_is_not_called_a_pause(ctx):
    from core.llm import BackendError

    run = make_run(ctx)
    run.search.backend.generate = lambda requests: (_ for _ in ()).throw(BackendError("prompt too long"))
    run.search.reasoner.backend = run.search.backend
    with pytest.raises(gr.Error) as caught:
        act.step(run)
    assert "cannot run this iteration: prompt too long" in str(caught.value)
    assert "resume" not in str(caught.value)


def test_the_first_search_shows_the_one_time_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The studio's own loader prepares an embedded model first, and the status line shows its progress."""
    import threading

    import core.backends
    from core.backends import embedded

    reported = threading.Event()

    def build(model=None, cache_dir=None, *, build=True, progress=None):
        progress(0.5, "converting Qwen2.5-Coder-0.5B-Instruct to safetensors, one time: 30 s of about 60 s")
        reported.wait(10)  # held until the status line has shown it
        return Path("/nowhere")

    monkeypatch.setattr(embedded, "is_converted", lambda model=None, cache_dir=None: False)
    monkeypatch.setattr(embedded, "embedded_model_dir", build)
    monkeypatch.setattr(core.backends, "load_backend", lambda kind, model, **options: ScriptedBackend())
    ctx = StudioContext(backends=BackendPool())
    lines = []
    for line in act.load_live(ctx):
        lines.append(line)
        reported.set()
    assert lines and lines[0].startswith("preparing the model, one time (50%): converting Qwen2.5-Coder")
    assert ctx.backends.is_loaded("transformers", "embedded") and ctx.backends.preparing == ""
    assert list(act.load_live(ctx)) == []  # loaded once: the next search says nothing of it


def test_the_header_names_the_model() -> None:
    assert "Qwen2.5-Coder-0.5B-Instruct (embedded: `qwen2.5-coder-0.5b`)" in StudioContext().model_label()
    assert "SmolLM2-135M-Instruct" in StudioContext(model="smollm2-135m").model_label()
    assert "`org/m`" in StudioContext(model="org/m").model_label()
