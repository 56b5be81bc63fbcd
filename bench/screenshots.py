"""The README's screenshots, taken on the default real model (not the test double).

Serves the studio on the embedded model with a throw-away database, drives Debian's Chromium
(light mode, 1400 px) through one search as a user would (pick a problem, Run, click a node),
and writes ``assets/screenshots/search.png`` and ``assets/screenshots/curate.png``.

    .venv/bin/python bench/screenshots.py                      # HumanEval/23, 2 iterations
    .venv/bin/python bench/screenshots.py --problem HumanEval/0 --iterations 3

Minutes on a 2-core CPU (the model's load and the search); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.store.runs import Store  # noqa: E402
from ui.app import build_app, launch_options  # noqa: E402
from ui.context import StudioContext  # noqa: E402
from ui.sessions import BackendPool  # noqa: E402

OUT = ROOT / "assets" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def field(pg, elem_id: str):
    return pg.locator(f"#{elem_id} input, #{elem_id} textarea").first


def shoot(
    ctx: StudioContext, url: str, problem: str, iterations: int, width: int, out: Path, timeout_s: float
) -> None:
    """Run the search in the page, inspect the best node, and take the two pictures."""
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("Chromium is missing: apt-get install -y chromium (never `playwright install`)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": width, "height": 1000})
        pg.goto(f"{url}?__theme=light")
        picker = pg.locator("#problem-picker input").first
        picker.fill(problem)
        picker.press("Enter")
        field(pg, "iterations").fill(str(iterations))
        field(pg, "iterations").press("Tab")
        pg.click("#run-btn")
        print(f"running {iterations} iterations of {problem} on the real model ...", flush=True)
        expect(pg.locator("#status")).to_contain_text("stopped", timeout=timeout_s * 1000)
        time.sleep(2)
        run_id = field(pg, "run-id").input_value()
        node = field(pg, "node-id")
        node.fill(str(ctx.runs.get(run_id).search.best_node().id))  # the node the answer comes from
        node.dispatch_event("input")
        expect(pg.locator("#inspector")).to_contain_text("Critic", timeout=30_000)
        pg.mouse.move(0, 0)  # no hover colour on the last button pressed
        time.sleep(1.5)
        pg.screenshot(path=str(out / "search.png"), full_page=True)
        pg.get_by_role("tab", name="Curate", exact=True).click()
        expect(pg.locator("#curate-steps textarea")).not_to_have_value("", timeout=60_000)
        time.sleep(1.5)
        pg.screenshot(path=str(out / "curate.png"), full_page=True)
        browser.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problem", default="HumanEval/23")
    p.add_argument("--iterations", type=int, default=2)
    p.add_argument("--width", type=int, default=1400, help="the window width in px")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds the search may take")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sra-shots-") as tmp:
        ctx = StudioContext(backends=BackendPool(), store=Store(Path(tmp) / "studio.db"))
        app = build_app(ctx)
        port = free_port()
        app.queue(default_concurrency_limit=4).launch(
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            **launch_options(),
        )
        try:
            shoot(
                ctx,
                f"http://127.0.0.1:{port}/",
                args.problem,
                args.iterations,
                args.width,
                args.out,
                args.timeout,
            )
        finally:
            app.close()
    print(f"wrote {args.out / 'search.png'} and {args.out / 'curate.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
