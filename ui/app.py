"""Assemble the studio from its tabs and launch it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import gradio as gr

from core.backends import FAST_ENGINE
from core.backends.catalogue import EMBEDDED_MODEL
from core.execution.modes import SandboxMode, SandboxUnavailable, mode_summary, sandbox_mode
from core.store.runs import Store
from ui.compare_tab import create_compare_tab
from ui.context import StudioContext
from ui.curate_tab import create_curate_tab
from ui.evaluate_tab import create_evaluate_tab
from ui.experiments_tab import create_experiments_tab
from ui.finetune_tab import create_finetune_tab
from ui.history_tab import create_history_tab
from ui.reward_tab import create_reward_tab
from ui.search_tab import create_search_tab
from ui.sessions import BackendPool

ASSETS = Path(__file__).resolve().parent.parent / "assets"
UPLOAD_LIMIT = "50mb"  # the tree-file limit (core.tree.files.DEFAULT_MAX_BYTES)
CACHE_SWEEP = (3600, 3600)  # every hour, Gradio deletes uploads and downloads older than an hour


def sandbox_banner() -> str:
    """A warning unless model code runs under bubblewrap: the fallback, no sandbox, or none and refused."""
    try:
        if sandbox_mode() is SandboxMode.BUBBLEWRAP:
            return ""
    except SandboxUnavailable:
        pass
    return f"**Sandbox:** {mode_summary()}"


def build_app(ctx: StudioContext | None = None) -> gr.Blocks:
    ctx = ctx or StudioContext()
    with gr.Blocks(title="SRA-MCTS Studio", analytics_enabled=False, delete_cache=CACHE_SWEEP) as app:
        gr.Markdown(
            "# SRA-MCTS Studio\nMonte Carlo Tree Search over natural-language reasoning steps for code · "
            "keys in Search: <kbd>s</kbd> step, <kbd>r</kbd> run, <kbd>p</kbd> prune the selected node · "
            "in Curate: <kbd>a</kbd> accept, <kbd>r</kbd> reject, <kbd>s</kbd> skip, <kbd>←</kbd>/<kbd>→</kbd> move",
            elem_id="studio-title",
        )
        header = gr.Markdown(ctx.model_label(), elem_id="studio-model")
        if ctx.backend == FAST_ENGINE:  # its start-up takes a minute or two: the header follows it
            gr.Timer(2.0).tick(ctx.model_label, None, header, api_name=False, show_progress="hidden")
        banner = sandbox_banner()
        if banner:
            gr.Markdown(banner, elem_id="sandbox-banner")
        with gr.Tabs() as tabs:
            search = create_search_tab(ctx, app)
            create_history_tab(ctx, search, tabs)
            create_curate_tab(ctx)
            create_finetune_tab(ctx, app)
            create_evaluate_tab(ctx)
            create_experiments_tab(ctx, app)
            create_compare_tab(ctx)
            create_reward_tab(ctx, search.run_id)
    keep_outputs_on_error(app)
    return app


def keep_outputs_on_error(app: gr.Blocks) -> None:
    """No event paints Gradio's status over its outputs.

    That overlay is what turns a failed handler into red "Error" pills over every output, hiding what
    they held; without it an error is the toast alone and every output keeps its value. Progress is
    each tab's own status line (phase, elapsed time, ETA), so the spinner is not missed.
    """
    for block_fn in app.fns.values():
        block_fn.show_progress = "hidden"


def read_auth(spec: str | None) -> list[tuple[str, str]] | None:
    """``user:pass``, or a file of such lines; None when no auth was asked for."""
    if not spec:
        return None
    path = Path(spec)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [spec]
    pairs = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise ValueError("--auth expects user:password (or a file of such lines)")
        pairs.append((user, password))
    return pairs


def page_head() -> str:
    """Scripts the page needs, inlined so that the studio works offline."""
    return f"<script>{(ASSETS / 'shortcuts.js').read_text(encoding='utf-8')}</script>"


def studio_theme() -> gr.themes.Base:
    return gr.themes.Soft(
        primary_hue="indigo",
        neutral_hue="slate",
        font=[
            "ui-sans-serif",
            "system-ui",
            "Segoe UI",
            "sans-serif",
        ],  # system fonts: no web-font fetch offline
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    ).set(block_radius="6px", button_large_radius="6px")


def _warm(pool: BackendPool, backend: str, model: str) -> None:
    try:
        pool.get(backend, model)
    except Exception:  # the first search shows the error; here it is only logged
        logging.getLogger(__name__).exception("the studio's model did not load")


def launch_options() -> dict:
    """What every launch passes besides the address: the look and the page scripts."""
    return {"css_paths": [ASSETS / "studio.css"], "theme": studio_theme(), "head": page_head()}


def launch_studio(
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth: str | None = None,
    model: str = EMBEDDED_MODEL,
    backend: str = "transformers",
    backend_options: dict | None = None,
    operators: tuple[str, ...] = (),
    allowed_models: tuple[str, ...] = (),
) -> None:
    """Serve the studio; with ``auth``, users are kept apart and ``operators`` see everything."""
    logins = read_auth(auth)
    store = Store()  # raises StoreError (one clear line) before anything is served
    pool = BackendPool(options=backend_options or {})
    ctx = StudioContext(
        backend=backend,
        model=model,
        backends=pool,
        store=store,
        logins=bool(logins),
        operators=frozenset(operators),
        allowed_models=allowed_models,
    )
    if backend == FAST_ENGINE:  # start the server now, so that it is up by the first search
        threading.Thread(target=_warm, args=(pool, backend, model), name="engine-start", daemon=True).start()
    app = build_app(ctx)
    app.queue(default_concurrency_limit=4).launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=logins,
        **launch_options(),
        show_error=True,
        max_file_size=UPLOAD_LIMIT,  # refused by the server before it is stored, not after
    )
