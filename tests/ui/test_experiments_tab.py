"""The Experiments tab's handlers on the scripted model: form to spec, start, follow, read, keep users apart."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import pytest

from core.store.runs import Store
from tests.experiments.test_experiment import FakeJobs, scripted
from ui import experiments_tab as tab
from ui.context import StudioContext
from ui.sessions import BackendPool

FORM = [
    "e1",
    "HumanEval/0-1",
    "HumanEval/2-3",
    ["cot", "sra-mcts"],
    "quick demo",
    1,
    "CPU quick",
    1.0,
    1,
    1,
    False,
]


@pytest.fixture
def ctx(tmp_path):
    pool = BackendPool(loader=lambda kind, model, adapter=None: scripted(adapter))
    return StudioContext(
        backend="transformers", backends=pool, store=Store(tmp_path / "studio.db"), jobs=FakeJobs()
    )


def wait(ctx, name, caller):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = tab.load_state(ctx, name, caller)
        if state.status in ("finished", "failed", "stopped"):
            return state
        time.sleep(0.1)
    raise AssertionError("the experiment did not finish")


def test_the_form_makes_a_spec_and_bad_input_is_one_message():
    spec = tab.spec_from_form(*FORM)
    assert [m.key for m in spec.methods] == ["cot", "sra-mcts.quick-demo.1it"]
    with pytest.raises(gr.Error, match="share 2 problem"):
        tab.spec_from_form(*FORM[:2], "HumanEval/0-1", *FORM[3:])
    with pytest.raises(gr.Error, match="at least one"):
        tab.spec_from_form(*FORM[:3], [], *FORM[4:])
    assert tab.preset_values("paper-style")[:3] == [
        "HumanEval/0-81",
        "HumanEval/82-163",
        ["cot", "cot+tests", "sra-mcts", "sra-mcts+tests"],
    ]


def test_start_follow_and_read_the_table(ctx):
    name = tab.start(ctx, tab.spec_from_form(*FORM), "")
    state = wait(ctx, name, "")
    assert state.status == "finished", state.message
    assert tab.visible_experiments(ctx, "") == [name]
    cells, rows = tab.table_values(ctx, state)
    assert [c[0] for c in cells] == ["base model", "+CoT data", "+SRA-MCTS data (quick demo)"]
    assert "finished, 9/9 stages done" in tab.status_line(ctx, name, state)
    assert [r[0] for r in tab.problem_table(ctx, state, "cot")] == ["HumanEval/2", "HumanEval/3"]
    assert [tab.row_key_at(state, i) for i in range(4)] == ["base", "cot", "sra-mcts.quick-demo.1it", None]
    curves = tab.loss_chart(state).data
    assert [c.name for c in curves] == ["+CoT data", "+SRA-MCTS data (quick demo)"]
    assert list(curves[0].y) == [2.5, 2.0, 1.75, 1.5]
    md, csv = tab.exports(ctx, name, state, rows)
    assert "| +CoT data |" in Path(md).read_text() and "records_kept" in Path(csv).read_text()
    with pytest.raises(gr.Error, match="running already|other settings"):
        tab.start(ctx, tab.spec_from_form(*FORM[:6], "CPU quick", 2.0, *FORM[8:]), "")


def test_with_logins_bob_neither_sees_nor_stops_alices_experiment(ctx):
    ctx.logins = True
    name = tab.start(ctx, tab.spec_from_form(*FORM), "alice")
    wait(ctx, name, "alice")
    assert tab.visible_experiments(ctx, "bob") == []
    for call in (lambda: tab.load_state(ctx, name, "bob"), lambda: tab.stop(ctx, name, "bob")):
        with pytest.raises(gr.Error, match="experiment e1 belongs to another user"):
            call()
    with pytest.raises(gr.Error, match="belongs to another user"):  # nor rerun it under its name
        tab.start(ctx, tab.spec_from_form(*FORM), "bob")


def test_a_name_that_is_a_path_reads_nothing(ctx):
    with pytest.raises(gr.Error, match="no experiment named"):
        tab.load_state(ctx, "../../etc", "")


@pytest.mark.parametrize(
    "mode, allowed, shown",
    [
        ("bubblewrap", "", None),
        ("namespaces", "", "fallback (unshare"),
        ("none", "", "model code was not run"),
        ("none", "1", "NO SANDBOX"),
    ],
)
def test_the_studio_shows_a_banner_unless_bubblewrap_runs_the_code(monkeypatch, mode, allowed, shown):
    from core.execution import modes
    from ui.app import sandbox_banner

    if mode != "none" and not (modes.bwrap_path() if mode == "bubblewrap" else modes.unshare_prefix()):
        pytest.skip(f"{mode} does not work here")
    monkeypatch.setenv(modes.ENV_MODE, mode)
    monkeypatch.setenv(modes.ENV_ALLOW, allowed)
    banner = sandbox_banner()
    assert (banner == "") if shown is None else (shown in banner)


def test_the_form_picks_the_model_by_name_from_the_allowed_list(tmp_path):
    """The Experiments tab offers the catalogue by name; what it runs is what was picked, canonical."""
    ctx = StudioContext(model="smollm2-135m", store=Store(tmp_path / "studio.db"))
    assert [value for _, value in ctx.base_model_choices()][:2] == ["smollm2-135m", "qwen2.5-coder-0.5b"]
    assert tab.spec_from_form(*FORM, model="qwen2.5-coder-1.5b").model == "qwen2.5-coder-1.5b"
    assert tab.allowed_base_model(ctx, "Qwen2.5-Coder-1.5B-Instruct") == "qwen2.5-coder-1.5b"
    with pytest.raises(gr.Error, match="base model '/etc/passwd' is not one this studio allows"):
        tab.allowed_base_model(ctx, "/etc/passwd")
