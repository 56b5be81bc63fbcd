"""Search-tab handlers as plain functions, driven by the scripted LLM (no browser)."""

from __future__ import annotations

import gradio as gr
import pytest

from core.registry import BackendPool
from tests.scripted import ScriptedBackend
from ui.context import StudioContext
from ui.search_tab import pick_problem, resolve_problem, run_search


class FakeRequest:
    session_hash = "session-a"


def test_picked_problem_is_used_unless_edited():
    text = pick_problem("HumanEval/3")
    assert resolve_problem("HumanEval/3", text).id == "HumanEval/3"
    edited = resolve_problem("HumanEval/3", text + "\n# my twist\n")
    assert edited.source == "custom"


def test_run_streams_the_tree_and_ends_with_code():
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))
    updates = list(run_search(ctx, "HumanEval/0", pick_problem("HumanEval/0"), 3, 0, FakeRequest()))
    run_id = updates[-1][0]
    run = ctx.runs.get(run_id)
    assert run is not None and run.owner == "session-a"
    assert run.search.tree.iteration == 3
    assert "iteration 3" in updates[-1][2]
    assert "def solution" in updates[-1][4]
    assert len(updates) >= 5  # loading, start, one per iteration, final


def test_bad_input_is_a_clear_ui_error():
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()))
    with pytest.raises(gr.Error, match="problem text is empty"):
        list(run_search(ctx, None, "  ", 3, 0, FakeRequest()))
    with pytest.raises(gr.Error, match="max_iterations"):
        list(run_search(ctx, "HumanEval/0", pick_problem("HumanEval/0"), 0, 0, FakeRequest()))
