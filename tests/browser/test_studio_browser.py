"""The studio in a real Chromium, on the tiny embedded model: pick, run, click, prune, step, reload.

Started by the test in-process on a loopback port with the real transformers backend.
Saves tests/artifacts/studio.png (git-ignored).
"""

from __future__ import annotations

import pytest

from core.config import preset
from core.tree.events import EventKind
from tests.browser.conftest import serve_studio
from tests.conftest import TINY
from ui.context import StudioContext

PLOT = "#tree-view .sra-tree-plot"
# Screen position of a node of the nodes trace by id.
NODE_AT = """([sel, id]) => {
  const gd = document.querySelector(sel);
  const fl = gd._fullLayout, box = gd.getBoundingClientRect();
  const tr = gd._fullData.find((t) => t.name === 'nodes');
  const i = tr.customdata.indexOf(id);
  if (i < 0) return null;
  return {x: box.left + fl._size.l + fl.xaxis.l2p(tr.x[i]), y: box.top + fl._size.t + fl.yaxis.l2p(tr.y[i])};
}"""
PRUNED_IDS = """(sel) => {
  const gd = document.querySelector(sel);
  const tr = gd.data.find((t) => t.name === 'pruned');
  return tr ? tr.customdata : [];
}"""


@pytest.fixture(scope="module")
def studio():
    ctx = StudioContext(model=TINY)
    with serve_studio(ctx) as url:
        yield url, ctx


def status_text(pg) -> str:
    return pg.inner_text("#status")


@pytest.mark.slow
@pytest.mark.browser
def test_search_click_prune_step_and_reload(studio, page, artifacts):
    from playwright.sync_api import expect

    url, ctx = studio
    pg, log = page
    pg.goto(url)
    # pick HumanEval/0 with type-to-search
    picker = pg.locator("#problem-picker input").first
    picker.click()
    picker.fill("has_close")
    pg.get_by_role("option", name="HumanEval/0 · has_close_elements").click()
    # the lightest preset: this test is about clicking, pruning and reloading, not the search's quality
    # chosen by a click on its option: typing it and pressing Enter can send the choice twice, and a
    # late second answer put the preset's iteration count back over the test's own
    pg.locator("#search-preset input").first.click()
    pg.get_by_role("option", name="quick demo", exact=True).click()
    iterations = pg.locator("#iterations input").first
    # the preset's knobs arrived; now set the test's own
    expect(iterations).to_have_value(str(preset("quick demo").max_iterations))
    iterations.fill("2")
    iterations.press("Tab")
    expect(iterations).to_have_value("2")
    pg.click("#run-btn")
    expect(pg.locator("#status")).to_contain_text("· iteration 2 ·", timeout=240_000)
    expect(pg.locator("#status")).to_contain_text("stopped: max_iterations", timeout=30_000)

    run_id = pg.locator("#run-id textarea, #run-id input").first.input_value() or None
    run = ctx.runs.get(run_id) if run_id else None
    assert run is not None, "the page holds no run id the server knows"
    tree = run.search.tree
    target = next(n for n in tree.nodes.values() if n.depth == 1 and n.critic is not None)
    pg.wait_for_function(
        f"() => Number(document.querySelector('#tree-view .sra-tree')?.dataset.nodeCount) === {len(tree.nodes)}"
    )
    pg.locator(PLOT).scroll_into_view_if_needed()
    pos = pg.evaluate(NODE_AT, [PLOT, target.id])
    pg.mouse.click(pos["x"], pos["y"])
    inspector = pg.locator("#inspector")
    expect(inspector).to_contain_text(f"#{target.id}", timeout=30_000)
    score = f"{target.critic.score:g} / 10" if target.critic.parsed else "UNPARSED"
    expect(inspector).to_contain_text(score)

    pg.locator("body").click(position={"x": 5, "y": 5})  # focus out of any field, then the shortcut
    pg.keyboard.press("p")
    pg.wait_for_function(f"() => ({PRUNED_IDS})('{PLOT}').includes({target.id})", timeout=30_000)
    assert tree.status(target.id) == "pruned"

    pg.click("#step-btn")
    expect(pg.locator("#status")).to_contain_text("· iteration 3 ·", timeout=240_000)
    last = [e for e in tree.events if e.kind is EventKind.SELECTED][-1]
    blocked = {n.id for n in tree.subtree(target.id)}
    assert not blocked & set(last.data["path"]), "the search selected a pruned node"
    pg.screenshot(path=str(artifacts / "studio.png"), full_page=True)

    pg.reload()  # the browser keeps the run id: the page re-attaches to the same search
    expect(pg.locator("#status")).to_contain_text("· iteration 3 ·", timeout=30_000)
    expect(pg.locator("#status")).to_contain_text("HumanEval/0")
    assert not log.external, f"requests left loopback: {log.external}"
