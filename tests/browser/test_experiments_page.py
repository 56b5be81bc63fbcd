"""The Experiments tab in a real Chromium: create a small experiment, reload mid-run, read the table."""

from __future__ import annotations

import pytest

from core.store.runs import Store
from tests.browser.conftest import serve_studio
from tests.experiments.test_experiment import FakeJobs, scripted
from ui.context import StudioContext
from ui.sessions import BackendPool

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_create_reload_mid_run_and_read_the_finished_table(tmp_path, page):
    from playwright.sync_api import expect

    jobs = FakeJobs(hold=True)  # training 'runs' until released: the experiment is mid-run for sure
    pool = BackendPool(loader=lambda kind, model, adapter=None: scripted(adapter))
    ctx = StudioContext(backends=pool, store=Store(tmp_path / "studio.db"), jobs=jobs)
    pg, log = page
    with serve_studio(ctx) as url:
        pg.goto(url)
        pg.get_by_role("tab", name="Experiments").click()
        pg.locator("#exp-name input, #exp-name textarea").first.fill("browser1")
        pg.locator("#exp-train input, #exp-train textarea").first.fill("HumanEval/0-1")
        pg.locator("#exp-eval input, #exp-eval textarea").first.fill("HumanEval/2-3")
        pg.locator("#exp-start").click()
        status = pg.locator("#exp-status")
        expect(status).to_contain_text("running", timeout=60_000)
        expect(status).to_contain_text("now train:", timeout=60_000)

        pg.reload()
        pg.get_by_role("tab", name="Experiments").click()
        expect(status).to_contain_text("browser1", timeout=30_000)  # re-attached on load
        expect(status).to_contain_text("now train:", timeout=30_000)
        assert "stages done" in status.inner_text()

        jobs.release.set()
        expect(status).to_contain_text("finished", timeout=90_000)
        table = pg.locator("#exp-table")
        expect(table).to_contain_text("+SRA-MCTS data (quick demo)", timeout=30_000)
        text = table.inner_text()
        assert "base model" in text and "+CoT data" in text
        assert not log.external and not log.errors, (log.external, log.errors)
