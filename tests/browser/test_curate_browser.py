"""The Curate tab in a real Chromium: accept (with an edited step) and reject by keyboard, then export.

The app runs in-process on a loopback port with the scripted LLM and a temp store holding two
scripted runs. Saves tests/artifacts/curate.png (git-ignored).
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from core.config import SearchConfig
from core.curation.accepted import exports_dir
from core.curation.formats import response_text
from core.curation.queue import build_queue
from core.search.mcts import Search
from core.store.runs import Store
from tests.browser.conftest import serve_studio
from tests.scripted import ScriptedBackend
from ui.context import StudioContext
from ui.sessions import BackendPool

EDITED = "Return a + b once both numbers are checked."
ANNOTATOR = "Ada Lovelace"


@pytest.fixture
def studio(tmp_path, problem):
    store = Store(tmp_path / "studio.db")
    for seed in (0, 1):
        cfg = SearchConfig(
            reflection=False, rollout=False, max_depth=2, max_iterations=8, end_gate=1.0, seed=seed
        )
        search = Search.start(problem, cfg, ScriptedBackend())
        search.run()
        store.save_tree(f"run-{seed}", search.tree)
    ctx = StudioContext(backends=BackendPool(loader=lambda kind, model: ScriptedBackend()), store=store)
    with serve_studio(ctx) as url:
        yield url, ctx, store


def press(pg, key: str) -> None:
    pg.locator("body").click(position={"x": 5, "y": 5})  # out of every field: the keys are for the page
    pg.keyboard.press(key)


@pytest.mark.slow
@pytest.mark.browser
def test_curate_by_keyboard_with_an_edit_then_export(studio, page, artifacts):
    from playwright.sync_api import expect

    url, ctx, store = studio
    pg, log = page
    pending = [i for i in build_queue(store) if i.status == "pending"]
    n = len(pending)
    assert n >= 6
    first, target = pending[0], pending[2]

    pg.goto(url)
    pg.get_by_role("tab", name="Curate").click()
    card, counts = pg.locator("#curate-card"), pg.locator("#curate-counts")
    expect(card).to_contain_text(f"1 of {n} pending", timeout=30_000)
    expect(card).to_contain_text(f"run {first.path.run_id} · node #{first.path.node_id}")
    pg.locator("#curate-annotator textarea, #curate-annotator input").first.fill(ANNOTATOR)

    steps = pg.locator("#curate-steps textarea")
    lines = steps.input_value().splitlines()
    assert lines == [f"{i}. {s}" for i, s in enumerate(first.path.steps, 1)]
    steps.fill("\n".join([*lines[:-1], f"{len(lines)}. {EDITED}"]))
    press(pg, "a")
    expect(counts).to_contain_text("accepted 1", timeout=30_000)
    expect(card).to_contain_text(f"1 of {n - 1} pending")  # on to the next pending path

    press(pg, "ArrowRight")
    expect(card).to_contain_text(f"2 of {n - 1} pending", timeout=30_000)
    press(pg, "ArrowRight")
    expect(card).to_contain_text(f"3 of {n - 1} pending", timeout=30_000)
    press(pg, "ArrowLeft")
    expect(card).to_contain_text(f"2 of {n - 1} pending", timeout=30_000)
    expect(card).to_contain_text(f"run {target.path.run_id} · node #{target.path.node_id}")
    press(pg, "r")
    expect(counts).to_contain_text("rejected 1", timeout=30_000)
    expect(counts).to_contain_text(f"pending {n - 2}")
    assert len(ctx.runs) == 0, "r and s on the Curate tab must not start a search"

    pg.get_by_text("Export accepted paths").click()
    pg.locator("#curate-export-name textarea, #curate-export-name input").first.fill("browser-v1")
    pg.click("#curate-export-btn")
    summary = pg.locator("#curate-export-summary")
    expect(summary).to_contain_text("sft 1", timeout=60_000)
    expect(summary).to_contain_text("every file reads back")
    link = pg.locator("#curate-export-file a[href$='/browser-v1.zip']")
    expect(link).to_have_count(1, timeout=30_000)
    zipped = zipfile.ZipFile(io.BytesIO(pg.request.get(link.get_attribute("href")).body()))
    assert {"browser-v1/sft.jsonl", "browser-v1/README.md"} <= set(zipped.namelist())
    pg.screenshot(path=str(artifacts / "curate.png"), full_page=True)

    out = exports_dir(store) / "browser-v1"
    (record,) = [json.loads(x) for x in (out / "sft.jsonl").read_text(encoding="utf-8").splitlines()]
    answer = record["messages"][-1]["content"]
    assert EDITED in answer and record["meta"]["annotator"] == ANNOTATOR and record["meta"]["edited"] is True
    assert (record["meta"]["run_id"], record["meta"]["node_id"]) == (first.path.run_id, first.path.node_id)
    assert response_text(target.path.steps, target.path.code) != answer
    decisions = [(a.decision, a.annotator, a.node_id) for a in store.annotations()]
    assert decisions == [
        ("accept", ANNOTATOR, first.path.node_id),
        ("reject", ANNOTATOR, target.path.node_id),
    ]
    assert store.datasets()[0].name == "browser-v1"
    assert not log.external, f"requests left loopback: {log.external}"
    assert not log.errors, f"console errors: {log.errors}"
