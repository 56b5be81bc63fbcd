"""The Curate tab: judge candidate paths across stored runs (keys a / r / s, ← / →), edit, export."""

from __future__ import annotations

import gradio as gr

from core.curation.exports import FORMATS
from core.curation.queue import CandidateCache
from ui import curate_actions as act
from ui.access import may_see, visible_facets
from ui.context import StudioContext, owner_of
from ui.widgets import Number

DEFAULT_FORMATS = ["sft", "alpaca", "reference", "dpo", "prm"]  # hf needs the slow datasets import
KEYS = (
    "Keys: <kbd>a</kbd> accept · <kbd>r</kbd> reject · <kbd>s</kbd> skip · <kbd>←</kbd> / <kbd>→</kbd> "
    "previous / next (click outside the text boxes first)."
)


def _choices(values: list[str]) -> list[tuple[str, str]]:
    return [("(any)", ""), *((v, v) for v in values)]


def create_curate_tab(ctx: StudioContext) -> None:
    with gr.Tab("Curate", id="curate") as tab:
        if ctx.store is None:
            gr.Markdown(act.NO_STORE, elem_id="curate-no-store")
            return
        cur = act.Curator(ctx.store, CandidateCache())
        gr.Markdown(
            "Candidate paths of every saved run: the best path of each run and its finished paths. " + KEYS
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=360):  # wide enough for whole ids at 1400 px
                with gr.Row():
                    problem = gr.Dropdown(
                        _choices([]), value="", label="Problem", allow_custom_value=True, min_width=120
                    )
                    model = gr.Dropdown(
                        _choices([]), value="", label="Model", allow_custom_value=True, min_width=120
                    )
                    run_status = gr.Dropdown(
                        _choices([]), value="", label="Run status", allow_custom_value=True, min_width=110
                    )
                with gr.Row():
                    min_value = Number(None, label="Min value", minimum=0, maximum=1, min_width=80)
                    sort = gr.Dropdown(act.SORT_CHOICES, value="value", label="Sort by", min_width=120)
                    text = gr.Textbox(label="Search text", placeholder="steps, code, run id", min_width=140)
                queue = gr.Radio(act.QUEUES, value="pending", label="Queue", elem_id="curate-queue")
                with gr.Row():
                    counts = gr.Markdown(elem_id="curate-counts")
                    refresh_btn = gr.Button("Refresh", elem_id="curate-refresh-btn", min_width=80, scale=0)
                rows = gr.Dataframe(
                    headers=act.COLUMNS,
                    interactive=False,
                    wrap=False,
                    max_height=460,  # columns as wide as their content (ids whole, never "HumanEva…"); it scrolls
                    elem_id="curate-table",
                )
            with gr.Column(scale=6, min_width=420):
                key = gr.Textbox(visible="hidden", label="Path key (run#node)", elem_id="curate-key")
                seen = Number(
                    0, precision=0, visible="hidden", label="Latest decision shown", elem_id="curate-seen"
                )
                info = gr.Markdown(elem_id="curate-card")
                with gr.Accordion("Problem", open=False):
                    prompt = gr.Code(language="python", interactive=False, label="Problem", max_lines=14)
                steps = gr.Textbox(
                    label="Steps: one per line (the leading number is optional); edits keep the original",
                    lines=5,
                    max_lines=14,
                    elem_id="curate-steps",
                )
                code = gr.Code(
                    language="python", label="Code (editable)", max_lines=16, elem_id="curate-code"
                )
                with gr.Row():
                    comment = gr.Textbox(label="Comment", scale=3, elem_id="curate-comment")
                    annotator = gr.Textbox(
                        label="Annotator", placeholder="your name", scale=1, elem_id="curate-annotator"
                    )
                with gr.Row():
                    prev_btn = gr.Button("◀ Prev (←)", elem_id="curate-prev-btn", min_width=80)
                    accept_btn = gr.Button(
                        "Accept (a)", variant="primary", elem_id="curate-accept-btn", min_width=80
                    )
                    reject_btn = gr.Button(
                        "Reject (r)", variant="stop", elem_id="curate-reject-btn", min_width=80
                    )
                    skip_btn = gr.Button("Skip (s)", elem_id="curate-skip-btn", min_width=80)
                    next_btn = gr.Button("Next (→) ▶", elem_id="curate-next-btn", min_width=80)
                with gr.Accordion("Export accepted paths", open=False, elem_id="curate-export"):
                    with gr.Row():
                        name = gr.Textbox(
                            label="Export name", placeholder="e.g. curated-v1", elem_id="curate-export-name"
                        )
                        formats = gr.CheckboxGroup(list(FORMATS), value=DEFAULT_FORMATS, label="Formats")
                    with gr.Row():
                        export_min = Number(0.0, minimum=0, maximum=1, label="Min value", min_width=80)
                        visible_pass = gr.Checkbox(False, label="Require passing visible tests")
                        export_btn = gr.Button("Export", variant="primary", elem_id="curate-export-btn")
                    summary = gr.Markdown(elem_id="curate-export-summary")
                    download = gr.File(
                        label="Download (zip)", interactive=False, elem_id="curate-export-file"
                    )

    knobs = [problem, model, run_status, min_value, text, sort, queue, key]
    shown = [counts, rows, key, seen, info, prompt, steps, code, comment]
    # The handlers' parameters are named like the widgets: they name the API endpoints' parameters.

    def seen_by(request: gr.Request | None):
        """Whether the caller may see a run of a given owner (with logins on: their own runs only)."""
        caller = owner_of(request)
        return lambda owner: may_see(ctx, owner, caller)

    def on_refresh(problem, model, run_status, min_value, text, sort_by, queue, key, request: gr.Request):
        f = act.filters(problem, model, run_status, min_value, text)
        found = visible_facets(ctx, owner_of(request))
        user = getattr(request, "username", None)
        return (
            *act.view(cur, f, sort_by, queue, key, seen_by(request)),
            *(gr.update(choices=_choices(x)) for x in (found.problems, found.models, found.statuses)),
            gr.update(value=user, interactive=False) if user else gr.update(),
        )

    def on_show(problem, model, run_status, min_value, text, sort_by, queue, key, request: gr.Request):
        f = act.filters(problem, model, run_status, min_value, text)
        return act.view(cur, f, sort_by, queue, key, seen_by(request))

    def on_move(delta: int):
        def handler(problem, model, run_status, min_value, text, sort_by, queue, key, request: gr.Request):
            f = act.filters(problem, model, run_status, min_value, text)
            return act.move(cur, f, sort_by, queue, key, delta, seen_by(request))

        return handler

    def on_pick(
        problem, model, run_status, min_value, text, sort_by, queue, evt: gr.SelectData, request: gr.Request
    ):
        f = act.filters(problem, model, run_status, min_value, text)
        return act.pick_row(cur, f, sort_by, queue, getattr(evt, "row_value", None), seen_by(request))

    def on_decide(decision: str):
        def handler(
            problem, model, run_status, min_value, text, sort_by, queue, key, seen, steps, code, comment,
            annotator, request: gr.Request,
        ):  # fmt: skip
            f = act.filters(problem, model, run_status, min_value, text)
            who = act.annotator_of(request, annotator)
            return act.decide_and_next(
                cur, f, sort_by, queue, key, seen, decision, (steps, code, comment), who, seen_by(request)
            )

        return handler

    def on_export(name, formats, min_value, require_visible_pass):
        return act.export(cur, name, formats, min_value, require_visible_pass)

    refreshed = [*shown, problem, model, run_status, annotator]
    tab.select(on_refresh, knobs, refreshed, api_name=False)
    refresh_btn.click(on_refresh, knobs, refreshed, api_name="curate_refresh")
    for box in (problem, model, run_status, min_value, sort, queue):
        box.input(on_show, knobs, shown, api_name=False)
    text.submit(on_show, knobs, shown, api_name=False)
    prev_btn.click(on_move(-1), knobs, shown, api_name="curate_prev")
    next_btn.click(on_move(1), knobs, shown, api_name="curate_next")
    rows.select(on_pick, knobs[:-1], shown, api_name=False)
    for btn, decision in ((accept_btn, "accept"), (reject_btn, "reject"), (skip_btn, "skip")):
        btn.click(
            on_decide(decision),
            [*knobs, seen, steps, code, comment, annotator],
            shown,
            api_name=f"curate_{decision}",
            concurrency_id="curate-decide",
            concurrency_limit=1,
        )
    export_btn.click(
        on_export, [name, formats, export_min, visible_pass], [summary, download], api_name="curate_export"
    )
