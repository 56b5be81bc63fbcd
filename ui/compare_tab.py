"""The Compare tab: two trees of the same problem side by side, e.g. the base model against an adapter."""

from __future__ import annotations

import html
import sqlite3

import gradio as gr

from core.prompts import format_steps
from core.store.runs import UnknownRun
from core.tree.nodes import Tree
from core.tree.queries import best_node, latest_run
from core.tree.snapshot import snapshot
from ui.access import may_see, require_run
from ui.context import StudioContext, owner_of
from ui.errors import UserError
from ui.tree_view import create_tree_view, tree_view_payload

NO_STORE = "_No database: only saved runs can be compared._"


def run_choices(ctx: StudioContext, problem: str | None = None, caller: str = "") -> list[tuple[str, str]]:
    """Stored runs the caller may see as (label, id), newest first; the label names problem, model, adapter."""
    rows = ctx.store.list_runs(problem=problem or None) if ctx.store is not None else []
    rows = [r for r in rows if may_see(ctx, r.owner, caller)]
    return [
        (
            f"{r.problem_id} · {r.model}{' + ' + r.adapter if r.adapter else ''} · {r.id} · {r.nodes} nodes",
            r.id,
        )
        for r in rows
    ]


def tree_of(ctx: StudioContext, run_id: str, caller: str = "") -> Tree:
    require_run(ctx, run_id, caller)
    live = ctx.runs.get(run_id)
    if live is not None:
        return live.search.tree
    if ctx.store is None:
        raise UserError("no database to read runs from")
    try:
        return ctx.store.load_tree(run_id)
    except (UnknownRun, sqlite3.Error) as exc:
        raise UserError(str(exc).strip("'\"")) from None


def summary(tree: Tree) -> str:
    best = best_node(tree)
    adapter = tree.model.get("adapter")
    rate = tree.usage.parse_rate
    lines = [
        f"**{html.escape(tree.problem.id)}** · {html.escape(tree.model.get('model_id', '?'))}"
        + (f" + **{html.escape(adapter)}**" if adapter else " (base)"),
        f"{tree.iteration} iterations · {len(tree.nodes)} nodes · critic parse rate "
        f"{'n/a' if rate is None else f'{rate:.0%}'} · {tree.usage.completion_tokens} tokens",
        f"Best node #{best.id} · Q={best.value:.3f} · {best.terminal_reason or 'open'}",
    ]
    ex = latest_run(best)
    if ex is not None and ex.visible is not None:
        v = ex.visible
        lines.append(f"visible tests {v.tests - v.failed}/{v.tests} ({'pass' if v.passed else 'fail'})")
    lines.append(format_steps([html.escape(s) for s in tree.steps(best.id)]))
    return "\n\n".join(lines)


def mismatch_note(tree: Tree, other: Tree | None) -> str:
    """A warning when the two runs are not on the same problem (their trees then compare nothing)."""
    if other is None or other.problem.prompt == tree.problem.prompt:
        return ""
    return (
        f"⚠ **Different problems**: {html.escape(tree.problem.id)} and {html.escape(other.problem.id)}. "
        "Side by side they say nothing about base model against adapter."
    )


def create_compare_tab(ctx: StudioContext) -> None:
    with gr.Tab("Compare", id="compare") as tab:
        if ctx.store is None:
            gr.Markdown(NO_STORE)
            return
        gr.Markdown(
            "Two saved runs side by side: the same problem searched with the base model and an adapter."
        )
        with gr.Row():
            problem = gr.Textbox(label="Problem filter (e.g. HumanEval/0; empty: all)", scale=2)
            refresh = gr.Button("Refresh", elem_id="compare-refresh-btn")
        sides = []
        with gr.Row(equal_height=False):
            for side in ("left", "right"):
                with gr.Column():
                    pick = gr.Dropdown(
                        run_choices(ctx, caller=""),  # filled per user when the tab is shown
                        value=None,
                        label=f"Run ({side}); or type a run id",
                        allow_custom_value=True,
                        elem_id=f"compare-{side}-run",
                    )
                    view = create_tree_view(elem_id=f"compare-{side}-tree")
                    text = gr.Markdown(elem_id=f"compare-{side}-summary")
                sides.append((pick, view, text))
        note = gr.Markdown(elem_id="compare-note")

    def on_refresh(problem_: str, request: gr.Request):
        choices = run_choices(ctx, (problem_ or "").strip(), owner_of(request))
        return [gr.update(choices=choices) for _ in sides]

    def on_pick(run_id: str | None, other_id: str | None, request: gr.Request):
        if not run_id:
            return gr.skip(), gr.skip(), gr.skip()
        caller = owner_of(request)
        tree = tree_of(ctx, run_id, caller)
        other = tree_of(ctx, other_id, caller) if other_id else None
        view = tree_view_payload(snapshot(tree), None, scope=f"compare-{run_id}")
        return view, summary(tree), mismatch_note(tree, other)

    pickers = [pick for pick, _, _ in sides]
    for trigger in (refresh.click, tab.select, problem.submit):
        trigger(on_refresh, problem, pickers, api_name=False)
    for i, (pick, view, text) in enumerate(sides):
        other = pickers[1 - i]
        pick.change(on_pick, [pick, other], [view, text, note], api_name="compare_run" if i == 0 else False)
