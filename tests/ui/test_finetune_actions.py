"""Train-tab handlers: the form becomes a checked config; bad input is a clear gr.Error; status renders."""

from __future__ import annotations

import gradio as gr
import pytest

from core.training.jobs import FinetuneJobs
from tests.finetune_data import write_sft_export
from ui import finetune_actions as act


def test_form_to_config_and_preview(tmp_path):
    folder = write_sft_export(tmp_path / "exports" / "demo", records=4)
    cfg = act.build_config("CPU quick", str(folder), "", "mine", "q_proj, v_proj", epochs=2.0, batch_size=2.0)
    assert cfg.dataset == str(folder) and cfg.base_model == "embedded" and cfg.adapter_name == "mine"
    assert cfg.target_modules == ("q_proj", "v_proj") and cfg.epochs == 2.0 and cfg.batch_size == 2
    assert act.export_choices(tmp_path / "exports") == [("demo", "demo")]  # names, never paths
    assert "4 records" in act.dataset_preview(folder)
    assert "has no sft.jsonl" in act.dataset_preview(tmp_path / "nothing")
    assert act.dataset_preview(None) == act.NO_DATASET


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"batch_size": 0.0}, "batch_size"), ({"learning_rate": -1.0}, "learning_rate"), ({}, "dataset")],
)
def test_bad_settings_are_clear_errors(tmp_path, changes, message):
    dataset = "" if not changes else str(write_sft_export(tmp_path / "d", records=2))
    with pytest.raises(gr.Error, match=message):
        act.build_config("default", dataset, "embedded", "", "", **changes)


def test_an_empty_dataset_is_refused_before_any_process_starts(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "sft.jsonl").write_text("")
    jobs = FinetuneJobs(tmp_path / "jobs", adapters=tmp_path / "adapters")
    cfg = act.build_config("CPU quick", str(tmp_path / "empty"), "embedded", "", "")
    from core.training.config import FinetuneError

    with pytest.raises(FinetuneError, match="empty|no records"):
        jobs.start(cfg)
    assert jobs.jobs() == []


def test_status_rendering_without_a_job():
    assert "No training job" in act.status_markdown(None)
    assert 'data-state="idle"' in act.progress_html(None)
    assert act.loss_figure(None).data == ()
