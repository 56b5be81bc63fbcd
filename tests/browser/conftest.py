"""Browser fixtures: Debian's Chromium driven by Playwright, and a Gradio demo served on loopback.

Never download a browser (no ``playwright install``): the tests use ``/usr/bin/chromium`` from
``apt-get install -y chromium`` and fail, loudly, when it is missing.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.hostname or "") in LOOPBACK


@contextmanager
def serve(demo) -> Iterator[str]:
    """Launch a Gradio Blocks on a free loopback port in this process; close it afterwards."""
    port = free_port()
    demo.queue().launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, show_error=True
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def serve_studio(ctx) -> Iterator[str]:
    """The whole studio for ``ctx``, launched as ``launch.py studio`` does (look, scripts, queue)."""
    from ui.app import build_app, launch_options

    app = build_app(ctx)
    port = free_port()
    app.queue(default_concurrency_limit=4).launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options()
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@dataclass
class PageLog:
    """What the page did: requests it tried outside loopback, console errors, files it fetched."""

    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    responses: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.fail(
            "Chromium is not installed. Install Debian's build with "
            "`apt-get update && apt-get install -y chromium` (never `playwright install`).",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The playwright Python package is missing: pip install playwright", pytrace=False)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page that refuses (and records) any request leaving loopback; yields (page, log)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    log = PageLog()

    def guard(route) -> None:
        if is_loopback(route.request.url):
            route.continue_()
        else:
            log.external.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.on("console", lambda msg: msg.type == "error" and log.errors.append(msg.text))
    pg.on("pageerror", lambda exc: log.errors.append(f"pageerror: {exc}"))
    pg.on("response", lambda resp: log.responses.__setitem__(resp.url, resp.status))
    yield pg, log
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
