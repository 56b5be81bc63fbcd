"""A "repairs what fails" search in a real Chromium, with a scripted model: the inspector reads, for a
node whose code failed, the failing call with what it returned and the reward's parts, and for the
answer, the candidates it was chosen from, the inputs they ran on and why it won.
"""

from __future__ import annotations

import pytest

from core.store.runs import Store
from tests.browser.conftest import serve_studio
from tests.browser.test_studio_page import field, shown_text, type_problem
from tests.scripted import ScriptedBackend
from ui.context import StudioContext
from ui.sessions import BackendPool

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PROBLEM = 'def inc(x: int) -> int:\n    """Add one to x."""\n\nassert inc(1) == 2\n'
HEAD = "```python\ndef inc(x: int) -> int:\n    return "
STEPS = ["Add one to x.", "Return one plus x.", "Add two to x."]


def code_for(step: str) -> str:
    """The direct program (no step) and "Add two" are off by one; the other two steps are right."""
    if "Add one" in step:
        return HEAD + "x + 1"
    if "one plus" in step:
        return HEAD + "1 + x"
    return HEAD + "x + 2"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    def backend(kind, model):
        return ScriptedBackend(proposals=[STEPS], code_for=code_for, inputs="inc(5)\ninc(-1)", delay_s=0.2)

    ctx = StudioContext(
        backends=BackendPool(loader=backend), store=Store(tmp_path_factory.mktemp("r") / "s.db")
    )
    with serve_studio(ctx) as url:
        yield url, ctx


def inspect(pg, node_id: int) -> str:
    from playwright.sync_api import expect

    node = field(pg, "node-id")
    node.fill(str(node_id))
    node.dispatch_event("input")
    expect(pg.locator("#inspector")).to_contain_text(f"Node #{node_id} ·", timeout=15_000)
    return shown_text(pg, "#inspector")


def test_the_inspector_reads_the_failing_call_the_reward_parts_and_the_answer_choice(studio, page):
    from playwright.sync_api import expect

    url, ctx = studio
    pg, _log = page
    pg.goto(url)
    type_problem(pg, PROBLEM, "repairs what fails")
    field(pg, "iterations").fill("4")
    pg.click("#run-btn")
    expect(pg.locator("#status")).to_contain_text("stopped", timeout=90_000)
    tree = ctx.runs.get(field(pg, "run-id").input_value()).search.tree
    by_step = {tree.nodes[c].step: c for c in tree.root.children}
    wrong, right = by_step["Add two to x."], by_step["Add one to x."]

    shown = inspect(pg, wrong)
    assert "Execution feedback" in shown and "assert inc(1) == 2 — inc(1) returned 3" in shown
    assert "Reward" in shown and "× value" in shown and "visible pass rate 0.000 (0/1 passed)" in shown

    shown = inspect(pg, right)
    assert "Answer chosen by running the candidates" in shown
    assert "inc(5)" in shown and "inc(-1)" in shown  # the inputs the model wrote, as columns
    assert "agree" in shown  # why it won: the candidates' outputs agreed
    chosen = next(e for e in tree.events if e.kind.value == "answer").data
    assert set(chosen["candidates"]) == {by_step["Add one to x."], by_step["Return one plus x."]}
