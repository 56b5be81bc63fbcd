"""The Reward tab: does the critic tell the truth? Critic value against hidden-test pass, per node."""

from __future__ import annotations

import html
import sqlite3

import gradio as gr
import plotly.graph_objects as go

from core.evaluation.reward import RewardReport, report
from core.store.runs import UnknownRun
from core.tree.files import load_tree_file
from core.tree.nodes import Tree, TreeFormatError
from ui.access import may_see, require_run
from ui.charts import themed
from ui.context import StudioContext, owner_of
from ui.errors import UserError


def report_figure(rep: RewardReport) -> go.Figure:
    fig = go.Figure()
    for passed, color, name in (
        (True, "#16a34a", "hidden tests pass"),
        (False, "#dc2626", "hidden tests fail"),
    ):
        rows = [r for r in rep.rows if r.hidden_pass is passed]
        fig.add_trace(
            go.Scatter(
                x=[r.critic_value for r in rows],
                y=[1.0 if passed else 0.0 for _ in rows],
                mode="markers",
                marker={"color": color, "size": 11, "opacity": 0.75},
                name=name,
                hovertext=[f"{r.problem_id} #{r.node_id} · score {r.critic_score}" for r in rows],
                hoverinfo="text",
            )
        )
    fig.update_layout(
        height=320,
        margin={"l": 40, "r": 10, "t": 30, "b": 40},
        xaxis={"title": {"text": "critic value"}, "range": [-0.05, 1.05]},
        yaxis={
            "title": {"text": "hidden tests"},
            "tickvals": [0, 1],
            "ticktext": ["fail", "pass"],
            "range": [-0.5, 1.5],
        },
        title={"text": f"AUROC {rep.auroc:.2f}" if rep.auroc is not None else "AUROC n/a", "x": 0.5},
    )
    return themed(fig)


def report_markdown(rep: RewardReport) -> str:
    return f"<pre>{html.escape(rep.to_text())}</pre>"


STORED_TREES = 200  # the newest stored runs a report reads (each is a database load)


def trees_of(ctx: StudioContext, run_id: str | None, caller: str, files: list | None) -> list[Tree]:
    """Every run the caller may see, open or stored (the newest ``STORED_TREES``), and uploaded tree files.

    An open run counts once, as it is now (not as last saved); another user's run id is refused.
    """
    require_run(ctx, run_id, caller)
    live = [run for run in ctx.runs.all() if may_see(ctx, run.owner, caller)]
    current = ctx.runs.get(run_id)
    if current is not None and current in live:  # the run on the page first
        live.remove(current)
        live.insert(0, current)
    trees = [run.search.tree for run in live]
    if ctx.store is not None:
        seen = {run.id for run in live}
        stored = [r for r in ctx.store.list_runs() if r.id not in seen and may_see(ctx, r.owner, caller)]
        for row in stored[:STORED_TREES]:
            try:
                trees.append(ctx.store.load_tree(row.id))
            except (UnknownRun, sqlite3.Error, ValueError, KeyError):
                continue  # deleted meanwhile or unreadable: the report goes on without it
    for f in files or []:
        try:
            trees.append(load_tree_file(f if isinstance(f, str) else f.name))
        except TreeFormatError as exc:
            raise UserError(f"cannot use that file: {exc}") from None
    return trees


def create_reward_tab(ctx: StudioContext, run_id: gr.Textbox) -> None:
    with gr.Tab("Reward", id="reward"):
        gr.Markdown(
            "How well does the critic predict the **hidden** tests? Nodes count once they have hidden-test "
            'results: search with an exec weight above 0 (More settings: `{"exec_weight": 0.5}`) or run '
            f"code on a node. Every run you may see is included: the open ones and the newest {STORED_TREES} "
            "in the database (History lists them); add tree files below."
        )
        with gr.Row():
            files = gr.File(
                label="Stored trees (sra-tree/1 JSON)", file_count="multiple", file_types=[".json"]
            )
            go_btn = gr.Button("Build the report", variant="primary", elem_id="reward-btn")
        plot = gr.Plot(label="Critic value against hidden-test pass", elem_id="reward-plot")
        text = gr.Markdown(elem_id="reward-report")

    def build(rid, uploaded, request: gr.Request):
        rep = report(trees_of(ctx, rid, owner_of(request), uploaded))
        return report_figure(rep), report_markdown(rep)

    go_btn.click(build, [run_id, files], [plot, text], api_name="reward_report")
