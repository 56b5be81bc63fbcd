"""The Experiments tab in a real Chromium: create a small experiment, reload mid-run, read the table, open a
row's problems by clicking it, and see each adapter's loss curve."""

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
        assert "base model" in text and "+CoT data" in text and "vs +CoT" in text
        # a click on a row's cell opens that row's problems, judged one by one
        table.get_by_text("+CoT data", exact=True).first.click()
        problems = pg.locator("#exp-problems")
        expect(problems).to_contain_text("HumanEval/2", timeout=30_000)
        expect(problems).to_contain_text("HumanEval/3")
        # each adapter's loss curve is drawn
        expect(pg.locator("#exp-losses .js-plotly-plot")).to_have_count(1, timeout=30_000)
        assert "+CoT data" in pg.locator("#exp-losses").inner_text()
        assert not log.external and not log.errors, (log.external, log.errors)
