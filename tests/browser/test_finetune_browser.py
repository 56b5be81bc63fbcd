"""The Train tab in a real Chromium: start a LoRA run, watch the loss curve grow, reload, stop.

The training job is a real subprocess (TRL + peft on the tiny embedded model, CPU). The studio runs
in-process on a loopback port; its data dir is a temp folder that the worker inherits.
"""

from __future__ import annotations

import pytest

from core.store.runs import Store
from core.training.jobs import FinetuneJobs
from tests.browser.conftest import serve_studio
from tests.conftest import TINY
from tests.finetune_data import write_sft_export
from ui.context import StudioContext

LOSS_POINTS = """() => {
  const gd = document.querySelector('#ft-loss .js-plotly-plot');
  return gd && gd.data && gd.data.length ? gd.data[0].x.length : 0;
}"""


@pytest.fixture
def studio(tmp_path, monkeypatch):
    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path))
    write_sft_export(tmp_path / "exports" / "demo")
    ctx = StudioContext(model=TINY, store=Store(tmp_path / "studio.db"))
    with serve_studio(ctx) as url:
        yield url, tmp_path


@pytest.mark.slow
@pytest.mark.browser
def test_train_watch_reload_and_stop(studio, page, artifacts):
    from playwright.sync_api import expect

    url, data = studio
    pg, log = page
    pg.goto(url)
    pg.get_by_role("tab", name="Train").click()
    dataset = pg.locator("#ft-dataset input").first
    dataset.click()
    pg.get_by_role("option", name="demo").click()
    expect(pg.locator("#ft-data-preview")).to_contain_text("16 records", timeout=20_000)
    pg.get_by_text("Training", exact=True).click()  # the accordion
    pg.get_by_label("epochs").fill("40")  # long enough to stop it midway
    pg.get_by_label("max length").fill("128")
    pg.locator("#ft-start-btn").click()

    status = pg.locator("#ft-status")
    expect(status).to_contain_text("running", timeout=120_000)
    pg.wait_for_function(f"({LOSS_POINTS})() >= 2", timeout=240_000)
    job_id = pg.locator("#ft-job-id textarea, #ft-job-id input").first.input_value()
    assert job_id

    pg.reload()  # the job goes on; the page re-attaches to it
    pg.get_by_role("tab", name="Train").click()
    expect(pg.locator("#ft-status")).to_contain_text(f"Job {job_id}", timeout=30_000)
    before = pg.evaluate(LOSS_POINTS)
    pg.wait_for_function(f"({LOSS_POINTS})() > {before}", timeout=120_000)

    pg.locator("#ft-stop-btn").click()
    expect(pg.locator("#ft-status")).to_contain_text("stopped", timeout=120_000)
    pg.screenshot(path=str(artifacts / "train.png"), full_page=True)

    st = FinetuneJobs(data / "jobs", adapters=data / "adapters").status(job_id)
    assert st.state == "stopped" and st.adapter, st
    assert 2 <= len(st.losses) < st.max_steps
    assert (data / "adapters" / st.adapter / "studio_adapter.json").is_file()
    assert not log.external and not log.errors, (log.external, log.errors)
