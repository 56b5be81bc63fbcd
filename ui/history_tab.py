"""The History tab: every stored run, filtered and searchable; open one in the Search tab to replay or resume it."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import gradio as gr

from core.store.filters import RunFilter
from core.store.runs import RunRow
from ui import search_actions as act
from ui.access import visible_facets, visible_runs
from ui.context import StudioContext, owner_label, owner_of
from ui.errors import UserError
from ui.search_tab import SearchTab
from ui.sessions import Run

COLUMNS = ["run", "problem", "model", "status", "iterations", "nodes", "owner", "created", "updated"]
SINCE = {"any time": None, "last 24 hours": 1.0, "last 7 days": 7.0, "last 30 days": 30.0}
NO_STORE = "_No database: runs are not being saved, so there is no history._"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def status_cell(status: str, run: Run | None) -> str:
    """What a stored status means now: a run not stopped is running only while an iteration is in flight."""
    if status != "running":
        return f"{status} · open" if run is not None else status
    if run is not None and run.search.activity is not None:
        return "running now"
    return "idle · open" if run is not None else "idle (Open in Search to go on)"


def run_rows(rows: list[RunRow], live: dict[str, Run]) -> list[list]:
    """One table row per run; ``live`` holds the runs open on this server."""
    return [
        [
            r.id,
            r.problem_id,
            r.model,
            status_cell(r.status, live.get(r.id)),
            r.iteration,
            r.nodes,
            owner_label(r.owner),
            _when(r.created_at),
            _when(r.updated_at),
        ]
        for r in rows
    ]


def _choices(values: list[str]) -> list[tuple[str, str]]:
    return [("(any)", ""), *((v, v) for v in values)]


def _filter_box(label: str, values: list[str], width: int) -> gr.Dropdown:
    """A filter dropdown; typed values are allowed, since runs saved later are not in its list yet."""
    return gr.Dropdown(_choices(values), value="", label=label, allow_custom_value=True, min_width=width)


def create_history_tab(ctx: StudioContext, search: SearchTab, tabs: gr.Tabs) -> gr.Tab:
    with gr.Tab("History", id="history") as tab:
        if ctx.store is None:
            gr.Markdown(NO_STORE)
            return tab
        gr.Markdown(
            f"Every run is saved after each iteration and each steering action to `{ctx.store.path}`. "
            "Click a row, then **Open in Search** to replay it or go on searching from where it stopped."
        )
        with gr.Row():
            f = visible_facets(ctx, "")  # filled per user when the tab is shown (empty with logins on)
            problem = _filter_box("Problem", f.problems, 140)
            model = _filter_box("Model", f.models, 140)
            status = _filter_box("Status", f.statuses, 110)
            annotator = _filter_box("Annotated by", f.annotators, 120)
            since = gr.Dropdown(list(SINCE), value="any time", label="Created", min_width=120)
            text = gr.Textbox(label="Search", placeholder="id, problem text or model", min_width=160)
        with gr.Row():
            refresh_btn = gr.Button("Refresh", elem_id="history-refresh-btn", min_width=80)
            chosen = gr.Textbox(label="Selected run", elem_id="history-run", scale=3)
            open_btn = gr.Button(
                "Open in Search", variant="primary", elem_id="history-open-btn", min_width=120
            )
        count = gr.Markdown(elem_id="history-count")
        table = gr.Dataframe(
            headers=COLUMNS, interactive=False, wrap=True, elem_id="history-table", max_height=520
        )

    filters = [problem, model, status, annotator, since, text]

    def on_refresh(problem_, model_, status_, annotator_, since_, text_, request: gr.Request):
        caller = owner_of(request)
        try:
            rows = visible_runs(
                ctx,
                RunFilter(problem_, model_, status_, annotator_, SINCE.get(since_ or "any time"), text_),
                caller,
            )
            f = visible_facets(ctx, caller)
        except (sqlite3.Error, ValueError) as exc:
            raise UserError(f"cannot read the run list: {exc}") from None
        live = {r.id: run for r in rows if (run := ctx.runs.get(r.id)) is not None}
        shown = f"**{len(rows)}** run{'s' if len(rows) != 1 else ''}"
        return (
            gr.update(choices=_choices(f.problems)),
            gr.update(choices=_choices(f.models)),
            gr.update(choices=_choices(f.statuses)),
            gr.update(choices=_choices(f.annotators)),
            shown,
            run_rows(rows, live),
        )

    def on_pick(evt: gr.SelectData):
        row = getattr(evt, "row_value", None)
        return row[0] if row else gr.skip()

    def on_open(rid: str, request: gr.Request):
        rid = (rid or "").strip()
        if not rid:
            raise UserError("pick a run first: click its row in the table")
        run = act.reopen_run(ctx, rid, owner_of(request))
        return (*act.render(run), *act.panel_values(run), *act.CLEARED, run.id, gr.Tabs(selected="search"))

    outputs = [problem, model, status, annotator, count, table]
    for trigger in (refresh_btn.click, tab.select):
        trigger(on_refresh, filters, outputs, api_name="list_runs" if trigger == refresh_btn.click else False)
    for box in (problem, model, status, annotator, since):
        box.input(on_refresh, filters, outputs, api_name=False)
    text.submit(on_refresh, filters, outputs, api_name=False)
    table.select(on_pick, None, chosen, api_name=False)
    open_btn.click(
        on_open,
        [chosen],
        [*search.view, *search.panel, *search.selection, search.saved_run, tabs],
        api_name="open_run",
        concurrency_id="model",
    )
    return tab
