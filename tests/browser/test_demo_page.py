"""The Search tab as a demo, in a real Chromium with the scripted LLM slowed down: the status line
names the phase that runs within 2 s of Run and its ETA does not grow; Pause and slow steering say
what they do; tree labels never overlap or reach past the plot at 1400 and 800 px.
"""

from __future__ import annotations

import re
import time

import pytest

from core.config import SearchConfig
from core.problems.problem import get_problem
from core.search.activity import PHASES
from core.search.mcts import Search
from core.store.runs import Store
from core.tree.snapshot import snapshot
from tests.browser.conftest import serve, serve_studio
from tests.browser.test_studio_page import field, new_search, shown_text, type_problem, watch_text
from tests.scripted import ScriptedBackend
from ui.context import StudioContext
from ui.sessions import BackendPool
from ui.tree_view import create_tree_view, tree_view_payload

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DELAY_S = 0.6


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    pool = BackendPool(loader=lambda kind, model: ScriptedBackend(delay_s=DELAY_S))
    ctx = StudioContext(backends=pool, store=Store(tmp_path_factory.mktemp("demo") / "studio.db"))
    with serve_studio(ctx) as url:
        yield url, ctx


def sample_status(pg, seconds: float, every: float = 0.1) -> list[tuple[float, str]]:
    """(seconds since the start, status text) every ``every`` seconds for ``seconds``."""
    out, start = [], time.monotonic()
    while time.monotonic() - start < seconds:
        out.append((time.monotonic() - start, shown_text(pg, "#status")))
        time.sleep(every)
    return out


def test_the_status_names_the_running_phase_within_2_s_of_run(studio, page):
    from playwright.sync_api import expect

    url, _ = studio
    pg, _log = page
    pg.goto(url)
    new_search(pg, "2")
    pg.locator("#problem-picker input").first.fill("HumanEval/23")
    pg.keyboard.press("Enter")
    expect(pg.locator("#problem-text .cm-content").first).to_contain_text("def strlen")  # shown
    pg.click("#run-btn")
    seen = sample_status(pg, 2.0)
    phases = [t for _s, t in seen if "running" in t and any(p in t for p in PHASES.values())]
    assert phases, seen
    assert "HumanEval/23" in phases[-1]  # the run the panel shows, not the old one


def test_the_eta_never_rises_by_more_than_a_fifth_within_an_iteration(studio, page):
    url, _ = studio
    pg, _log = page
    pg.goto(url)
    field(pg, "search-width").fill("1")
    new_search(pg, "4")
    pg.click("#run-btn")
    shown = watch_text(pg, "#status", "stopped: max_iterations", timeout_s=180)
    readings = []
    for text in shown:
        done = re.search(r"\((\d+) of \d+ done this run\)", text)
        left = re.search(r"about (\d+) s left", text)
        if done and left:
            readings.append((int(done.group(1)), int(left.group(1))))
    assert len(readings) >= 3, shown
    for (d1, eta1), (d2, eta2) in zip(readings, readings[1:], strict=False):
        if d1 == d2:
            assert eta2 <= eta1 * 1.2 + 0.5, readings


def test_pause_says_when_it_takes_effect_and_the_timeline_records_it(studio, page):
    from playwright.sync_api import expect

    url, _ = studio
    pg, _log = page
    pg.goto(url)
    field(pg, "search-width").fill("1")
    new_search(pg, "6")
    pg.click("#run-btn")
    expect(pg.locator("#status")).to_contain_text("running", timeout=15_000)
    pg.click("#pause-btn")
    expect(pg.locator("#status")).to_contain_text("pausing when this wave ends", timeout=5_000)
    expect(pg.locator("#status")).not_to_contain_text("running", timeout=60_000)
    pg.get_by_role("tab", name="Timeline").click()
    expect(pg.locator("#timeline")).to_contain_text("paused by the user", timeout=10_000)


def test_a_slow_edit_says_what_it_is_doing_and_the_step_box_holds_the_node(studio, page):
    from playwright.sync_api import expect

    url, ctx = studio
    pg, _log = page
    pg.goto(url)
    new_search(pg, "1")
    pg.click("#step-btn")
    expect(pg.locator("#status")).to_contain_text("· iteration 1 ·", timeout=60_000)
    run = ctx.runs.get(field(pg, "run-id").input_value())
    child = run.search.tree.root.children[0]
    node = field(pg, "node-id")
    node.fill(str(child))
    node.dispatch_event("input")
    box = pg.locator("textarea[placeholder='A reasoning step in plain English']").first
    expect(box).to_have_value(run.search.tree.nodes[child].step, timeout=10_000)
    box.fill("Sort the numbers, then compare neighbours.")
    pg.click("#edit-btn")
    expect(pg.locator("#status")).to_contain_text("editing node", timeout=3_000)


# --- labels ---------------------------------------------------------------------------------------
LABELS = """() => {
  const area = document.querySelector('#labels-view .nsewdrag').getBoundingClientRect();
  const shown = [...document.querySelectorAll('#labels-view .scatterlayer .trace text')]
    .filter((t) => t.textContent && getComputedStyle(t).display !== 'none')
    .map((t) => { const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom, t.textContent]; });
  return { area: [area.left, area.top, area.right, area.bottom], shown: shown };
}"""


def grown_tree_payload() -> str:
    """A 12-iteration tree whose steps are long, alike and distinct, as a real model's are."""
    cfg = SearchConfig(reflection=False, rollout=False, end_gate=1.0, max_iterations=200, k=3)
    search = Search.start(get_problem("HumanEval/0"), cfg, ScriptedBackend())
    search.run(12)
    for node in search.tree.nodes.values():
        if node.depth:
            node.step = (
                f"We need to implement transformation{node.id} over permutations{node.id} of the values"
            )
    return tree_view_payload(snapshot(search.tree), scope="labels")


@pytest.mark.parametrize("width", [1400, 800])
def test_tree_labels_never_overlap_or_reach_past_the_plot(browser, width):
    import gradio as gr

    payload = grown_tree_payload()
    with gr.Blocks() as demo:
        create_tree_view(elem_id="labels-view", value=payload)
    with serve(demo) as url:
        context = browser.new_context(viewport={"width": width, "height": 900})
        try:
            pg = context.new_page()
            pg.goto(url)
            pg.wait_for_function(
                "() => document.querySelector('#labels-view .sra-tree')?.dataset.labelsShown"
            )
            got = pg.evaluate(LABELS)
        finally:
            context.close()
    left, top, right, bottom = got["area"]
    boxes = got["shown"]
    assert len(boxes) >= 3, got  # the best path's labels at least
    for x0, y0, x1, y1, text in boxes:
        assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, (text, got["area"])
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap = a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]
            assert not overlap, (a[4], b[4])


CLIPPED = """() => {
  const shown = (el) => el.offsetParent !== null;
  const cut = [...document.querySelectorAll('.side-panel [data-testid=block-info], .side-panel input')]
    .filter((el) => shown(el) && el.scrollWidth > el.clientWidth + 1)
    .map((el) => el.textContent || el.value);
  // a block's label whose text runs under the block's own buttons (copy, download) is cut as well
  for (const label of document.querySelectorAll('.side-panel [data-testid=block-label]')) {
    if (!shown(label)) continue;
    const range = document.createRange();
    range.selectNodeContents(label);
    const text = range.getBoundingClientRect();
    const block = label.closest('.block') || label.parentElement;
    for (const button of block.querySelectorAll('button')) {
      const r = button.getBoundingClientRect();
      if (r.width && r.left < text.right && r.right > text.left && r.top < text.bottom && r.bottom > text.top)
        cut.push(label.textContent.trim());
    }
  }
  return cut;
}"""


@pytest.mark.parametrize("width", [1400, 800])
def test_no_label_or_field_of_the_search_panel_is_cut(studio, browser, width):
    url, _ = studio
    context = browser.new_context(viewport={"width": width, "height": 1000})
    try:
        pg = context.new_page()
        pg.goto(url)
        new_search(pg, "1")
        assert pg.locator(".side-panel [data-testid=block-label]").count() >= 1  # the check sees the panel
        assert pg.evaluate(CLIPPED) == []
    finally:
        context.close()


def test_run_is_not_left_faded_after_it_finishes(studio, page):
    url, _ = studio
    pg, _log = page
    pg.goto(url)
    new_search(pg, "1")
    pg.click("#run-btn")
    watch_text(pg, "#status", "stopped: max_iterations", timeout_s=90)
    time.sleep(1.0)
    style = pg.evaluate(
        "() => { const b = document.querySelector('#run-btn');"
        " return [getComputedStyle(b).opacity, b.disabled, b.className]; }"
    )
    assert style[0] == "1" and not style[1], style


LEGEND_CLEAR = """() => {
  const chart = document.querySelector('#eval-chart');
  const legend = chart.querySelector('.legend');
  const label = chart.querySelector('[data-testid=block-label]');
  if (!legend || !label) return null;
  const a = legend.getBoundingClientRect(), b = label.getBoundingClientRect();
  return !(a.left < b.right && a.right > b.left && a.top < b.bottom && a.bottom > b.top);
}"""


def test_the_evaluation_chart_legend_is_clear_of_its_label(studio, page):
    url, _ = studio
    pg, _log = page
    pg.goto(url)
    pg.get_by_role("tab", name="Evaluate").click()
    split = pg.locator("#eval-split input").first
    split.fill("first-8")
    split.press("Enter")
    pg.locator("#eval-run-btn").click()
    watch_text(pg, "#eval-progress", "finished", timeout_s=120)
    pg.wait_for_function("() => document.querySelector('#eval-chart .legend') !== null", timeout=30_000)
    assert pg.evaluate(LEGEND_CLEAR) is True


def test_a_custom_problem_with_asserts_is_grounded_and_its_reward_line_adds_up(studio, page):
    from playwright.sync_api import expect

    from tests.ui.test_run_follows_the_panel import CUSTOM, assert_reward_line_adds_up

    url, ctx = studio
    pg, _log = page
    pg.goto(url)
    type_problem(pg, CUSTOM, "runs the examples")
    field(pg, "search-width").fill("1")
    field(pg, "iterations").fill("1")
    pg.click("#step-btn")
    expect(pg.locator("#status")).to_contain_text("· iteration 1 ·", timeout=90_000)
    run = ctx.runs.get(field(pg, "run-id").input_value())
    assert run.search.tree.problem.visible_tests == ("assert add(2, 2) == 4", "assert add(0, 1) == 1")
    child = run.search.tree.root.children[0]
    node = field(pg, "node-id")
    node.fill(str(child))
    node.dispatch_event("input")
    expect(pg.locator("#inspector")).to_contain_text("visible pass rate", timeout=15_000)
    assert_reward_line_adds_up(shown_text(pg, "#inspector"))
