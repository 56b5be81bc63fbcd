"""The studio as a person meets it, in a real Chromium, with the scripted LLM (slowed down a little).

An error leaves the page as it was; long work shows what it is doing while it runs; the inspector
and the left panel follow the run; one click downloads a tree; and every tab is screenshot in light
and dark mode at 1400 and 800 px into tests/artifacts/ (the README's pictures come from there).
"""

from __future__ import annotations

import json
import time

import pytest

from core.config import SearchConfig
from core.problems.problem import get_problem
from core.search.mcts import Search
from core.store.runs import Store
from tests.browser.conftest import serve_studio
from tests.scripted import ScriptedBackend
from ui.context import StudioContext
from ui.sessions import BackendPool

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TABS = ["Search", "History", "Curate", "Train", "Evaluate", "Experiments", "Compare", "Reward"]
DELAY_S = 0.7  # each scripted model call: long enough to watch progress, short enough for CI
NODE_COUNT = "() => Number(document.querySelector('#tree-view .sra-tree')?.dataset.nodeCount || 0)"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("page") / "studio.db")
    cfg = SearchConfig(reflection=False, rollout=False, max_depth=2, max_iterations=6, end_gate=1.0)
    search = Search.start(get_problem("HumanEval/0"), cfg, ScriptedBackend())
    search.run()
    store.save_tree("stored-run", search.tree)  # something to curate, list and compare
    pool = BackendPool(loader=lambda kind, model: ScriptedBackend(delay_s=DELAY_S))
    ctx = StudioContext(backends=pool, store=store)
    with serve_studio(ctx) as url:
        yield url, ctx


def field(pg, elem_id: str):
    return pg.locator(f"#{elem_id} input, #{elem_id} textarea").first


def type_problem(pg, text: str, preset: str) -> None:
    """Replace the problem editor's text with ``text`` (as typed) and choose the search ``preset``."""
    pg.locator("#problem-text .cm-content").first.click()
    pg.keyboard.press("Control+A")
    pg.keyboard.press("Delete")
    pg.keyboard.insert_text(text)
    pg.locator("#search-preset input").first.fill(preset)
    pg.keyboard.press("Enter")


def new_search(pg, iterations: str = "2") -> None:

    field(pg, "iterations").fill(iterations)
    pg.click("#new-btn")
    wait_iteration(pg, 0, 30_000)


def wait_iteration(pg, n: int, timeout_ms: int = 60_000) -> None:
    """Until the status line (not a progress line: that says "running iteration n") shows iteration ``n``."""
    from playwright.sync_api import expect

    expect(pg.locator("#status")).to_contain_text(f"· iteration {n} ·", timeout=timeout_ms)
    pg.wait_for_function(f"() => {NODE_COUNT}() > 0 || {n} === 0")


SHOWN_TEXT = """(sel) => {
  const copy = document.querySelector(sel).cloneNode(true);
  copy.querySelectorAll('[data-testid=status-tracker]').forEach((t) => t.remove());
  return copy.textContent.trim();
}"""


def shown_text(pg, selector: str) -> str:
    """The text a component shows, without Gradio's (hidden) status tracker inside it."""
    return pg.evaluate(SHOWN_TEXT, selector)


def watch_text(pg, selector: str, until: str, timeout_s: float = 90) -> list[str]:
    """Every distinct text ``selector`` shows, sampled every 0.2 s, until one contains ``until``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = shown_text(pg, selector)
        if not seen or seen[-1] != text:
            seen.append(text)
        if until in text:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"{selector} never showed {until!r}; it showed {seen[-3:]}")


def error_overlays(pg, selector: str) -> int:
    """Gradio's red status pills showing inside ``selector`` (what used to cover and blank the outputs)."""
    return pg.locator(f"{selector} [data-testid=status-tracker]").evaluate_all(
        """els => els.filter(t => t.querySelector('.error') && !t.classList.contains('hide')
                                 && getComputedStyle(t).opacity !== '0').length"""
    )


def test_an_error_leaves_the_tree_the_slider_and_the_editor_as_they_were(studio, page):
    from playwright.sync_api import expect

    url, _ = studio
    pg, log = page
    pg.goto(url)
    new_search(pg, "1")
    pg.click("#step-btn")
    wait_iteration(pg, 1)
    pg.wait_for_function(f"() => {NODE_COUNT}() > 1")
    nodes = pg.evaluate(NODE_COUNT)
    slider = field(pg, "replay").input_value()
    assert nodes > 1

    field(pg, "node-id").fill("0")
    pg.click("#prune-btn")  # the root: an error
    expect(pg.get_by_text("cannot prune the root").first).to_be_visible(timeout=15_000)
    time.sleep(0.5)
    assert pg.evaluate(NODE_COUNT) == nodes and field(pg, "replay").input_value() == slider
    assert error_overlays(pg, "#tree-view") == 0 and error_overlays(pg, "#status") == 0
    assert "iteration 1" in pg.inner_text("#status")

    pg.get_by_role("tab", name="Curate").click()
    steps = pg.locator("#curate-steps textarea")
    expect(steps).not_to_have_value("", timeout=30_000)
    before = steps.input_value()
    pg.click("#curate-accept-btn")  # no annotator name: an error
    expect(pg.get_by_text("annotator").first).to_be_visible(timeout=15_000)
    time.sleep(0.5)
    assert steps.input_value() == before and error_overlays(pg, "#curate-steps") == 0
    assert not log.external


def test_progress_moves_while_a_run_and_an_evaluation_are_in_flight(studio, page):
    url, _ = studio
    pg, _log = page
    pg.goto(url)
    new_search(pg, "2")
    pg.click("#run-btn")
    shown = watch_text(pg, "#status", "stopped: max_iterations")
    running = [t for t in shown if "running" in t]
    assert len(running) >= 3, shown  # phase and elapsed time change while the model works
    assert any("proposing next steps" in t for t in running) and any("scoring" in t for t in running)

    pg.get_by_role("tab", name="Evaluate").click()
    box = pg.locator("#eval-progress")
    split = pg.locator("#eval-split input").first
    split.fill("first-40")  # five batches of eight: long enough to watch
    split.press("Enter")
    pg.locator("#eval-run-btn").click()
    shown = watch_text(pg, "#eval-progress", "finished", timeout_s=120)
    running = [t for t in shown if t.startswith("running")]
    assert len(running) >= 3 and any("now: writing code for" in t for t in running), shown
    assert any("s left" in t for t in running), shown  # an ETA once a batch is done
    assert "finished" in box.inner_text() and "40/40 problems" in shown[-1]


def test_the_inspector_shows_new_children_after_step(studio, page):
    from playwright.sync_api import expect

    url, ctx = studio
    pg, _log = page
    pg.goto(url)
    new_search(pg, "1")
    node = field(pg, "node-id")
    node.fill("0")
    node.dispatch_event("input")
    expect(pg.locator("#inspector")).to_contain_text("#0", timeout=15_000)
    pg.click("#step-btn")
    wait_iteration(pg, 1)
    run = ctx.runs.get(field(pg, "run-id").input_value())
    children = run.search.tree.root.children
    assert children
    expect(pg.locator("#inspector")).to_contain_text(", ".join(f"#{c}" for c in children), timeout=15_000)


def test_after_a_reload_the_left_panel_matches_the_attached_run(studio, page):

    url, ctx = studio
    pg, _log = page
    pg.goto(url)
    field(pg, "iterations").fill("3")
    pg.locator("#search-k input").first.fill("2")
    pg.locator("#search-seed input").first.fill("7")
    pg.click("#new-btn")
    wait_iteration(pg, 0, 30_000)
    run_id = field(pg, "run-id").input_value()
    for name, value in (("iterations", "1"), ("search-k", "4"), ("search-seed", "0")):
        pg.locator(f"#{name} input").first.fill(value)  # changed after New search, then the page reloads
    pg.reload()
    wait_iteration(pg, 0, 30_000)
    assert field(pg, "run-id").input_value() == run_id
    config = ctx.runs.get(run_id).search.tree.config
    assert pg.locator("#iterations input").first.input_value() == str(config.max_iterations) == "3"
    assert pg.locator("#search-k input").first.input_value() == "2"
    assert pg.locator("#search-seed input").first.input_value() == "7"


def test_one_click_downloads_the_tree(studio, page, tmp_path):
    url, _ = studio
    pg, _log = page
    pg.goto(url)
    new_search(pg, "1")
    run_id = field(pg, "run-id").input_value()
    with pg.expect_download(timeout=15_000) as caught:
        pg.click("#download-btn")
    path = tmp_path / "tree.json"
    caught.value.save_as(path)
    tree = json.loads(path.read_text(encoding="utf-8"))
    assert tree["schema"] == "sra-tree/1" and run_id in caught.value.suggested_filename


# each theme once and each width once (all four pairs cost CI a minute and a half more)
@pytest.mark.parametrize(("theme", "width"), [("light", 1400), ("dark", 800)])
def test_every_tab_is_screenshot_and_nothing_hides_at_this_width(studio, browser, artifacts, theme, width):
    from playwright.sync_api import expect

    url, _ = studio
    context = browser.new_context(viewport={"width": width, "height": 1000})
    try:
        pg = context.new_page()
        pg.goto(f"{url}?__theme={theme}")
        new_search(pg, "1")
        pg.click("#step-btn")
        wait_iteration(pg, 1)
        dark = pg.evaluate("() => document.body.classList.contains('dark')")
        assert dark == (theme == "dark")
        ink = pg.evaluate("() => document.querySelector('#tree-view .sra-tree-plot')._fullLayout.font.color")
        assert ink == ("#e5e7eb" if dark else "#1f2937")  # labels and colour bar read on the background
        for sub in ("Inspector", "Best path", "Timeline", "Code & tests"):  # not folded into "…"
            expect(pg.get_by_role("tab", name=sub, exact=True)).to_be_visible()
        for tab in TABS:
            pg.get_by_role("tab", name=tab, exact=True).click()
            time.sleep(1.0)
            pg.screenshot(path=str(artifacts / f"tab-{tab.lower()}-{theme}-{width}.png"), full_page=True)
    finally:
        context.close()
