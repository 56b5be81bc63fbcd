"""The Evaluate tab: pass@k on HumanEval's hidden tests, base model against an adapter, greedy or MCTS.

The evaluation runs in a worker thread and saves every finished problem to the
database, so closing the page loses nothing: its result is in the stored list.
"""

from __future__ import annotations

import threading
import time

import gradio as gr
import plotly.graph_objects as go

from core.backends.adapters import UnknownAdapter, get_adapter
from core.config import PRESETS
from core.evaluation.report import EVAL_COLUMNS, PROBLEM_COLUMNS, chart_points, eval_rows, problem_rows, rates
from core.evaluation.run import evaluate
from core.evaluation.solvers import Doing
from core.evaluation.spec import EvalSpec, ProblemResult, pass_at
from core.evaluation.tables import EvalTables, UnknownEval
from core.problems.problem import UnknownProblem
from core.problems.sources import split
from core.store.schema import EvalRow
from ui import search_actions as act
from ui.access import adapter_name, may_see, owns, require_owner
from ui.charts import themed
from ui.context import StudioContext, owner_of
from ui.errors import UserError
from ui.widgets import Number

SPLITS = ["first-2", "first-5", "first-10", "first-40", "all"]  # or type a range: HumanEval/0-3
NO_STORE = "_No database: evaluations need one to keep their results._"
ID_WAIT_S = 30.0  # how long a started evaluation may take to write its first row
_starting = threading.Lock()  # one evaluation starts at a time: its new row is the one it wrote


def newest_eval_id(ctx: StudioContext) -> int:
    rows = EvalTables(ctx.store).evals()
    return rows[0].id if rows else 0


def started_eval_id(ctx: StudioContext, before: int, worker: threading.Thread) -> int | None:
    """The id of the row the evaluation just started in ``worker`` wrote (its first save), if it did.

    The studio starts evaluations one at a time (``_starting``), so the first row newer than
    ``before`` is this one's; None when the worker ended (a bad setting) before writing a row.
    """
    deadline = time.monotonic() + ID_WAIT_S
    while time.monotonic() < deadline:
        newest = newest_eval_id(ctx)
        if newest > before:
            return newest
        if not worker.is_alive():
            return None
        time.sleep(0.02)
    return None


def parse_eval_id(value: object) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise UserError(f"an evaluation id is a number, not {str(value)[:40]!r}") from None


def build_spec(
    ctx: StudioContext, split_name, adapter, mode, samples, temperature, ks, iterations, preset_name
):
    adapter = adapter_name(ctx, adapter)  # a registered adapter's name, never a path
    try:
        search = {"preset": preset_name, "max_iterations": int(iterations)} if mode == "mcts" else {}
        return EvalSpec(
            split((split_name or "").strip()),
            model=ctx.model,
            adapter=adapter or None,
            mode=mode,
            samples=int(samples or 1),
            temperature=float(temperature or 0),
            k=tuple(int(k) for k in str(ks or "1").replace(",", " ").split()),
            search=search,
            backend=ctx.backend,
        )
    except (ValueError, UnknownProblem, TypeError) as exc:
        raise UserError(f"bad evaluation setting: {str(exc).strip(chr(39))}") from None


def training_problems(ctx: StudioContext, adapter: str | None) -> set[str]:
    if not adapter:
        return set()
    try:
        return set(get_adapter(adapter, ctx.data_root() / "adapters").problems)
    except UnknownAdapter as exc:
        raise UserError(str(exc)) from None


def visible_evals(ctx: StudioContext, caller: str) -> list[EvalRow]:
    """The stored evaluations the caller may see (with logins on: the ones they started), newest first."""
    if ctx.store is None:
        return []
    return [r for r in EvalTables(ctx.store).evals() if may_see(ctx, ctx.owners.get("eval", r.id), caller)]


def chart(rows: list[EvalRow]) -> go.Figure:
    points = [p for p in chart_points(rows[:12]) if p["k"] == 1]
    fig = go.Figure()
    labels = [p["label"] for p in points]
    fig.add_trace(go.Bar(x=labels, y=[p["all"] for p in points], name="pass@1, all problems"))
    fig.add_trace(go.Bar(x=labels, y=[p["unseen"] for p in points], name="pass@1, not in training data"))
    fig.update_layout(
        barmode="group",
        height=320,
        margin={"l": 40, "r": 10, "t": 56, "b": 90},
        yaxis={"range": [0, 1], "tickformat": ".0%"},
        # top right, clear of the plot's own label ("pass@1") that Gradio draws over the top left
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    return themed(fig)


def progress_line(
    state: str, spec: EvalSpec, results: list[ProblemResult], started: float, doing: Doing | None = None
) -> str:
    """Counts, pass@k so far, elapsed time, an ETA (once a problem is done) and, while running, what runs now."""
    done, total = len(results), len(spec.problems)
    elapsed = time.monotonic() - started
    if 0 < done < total:
        eta = f" · about {elapsed / done * (total - done):.0f} s left"
    elif done == 0 and state == "running":
        eta = " · the time left is known after the first problem"
    else:
        eta = ""
    unseen = [r for r in results if not r.in_training_data]
    now = f"  \nnow: {doing.describe()}" if doing is not None and state == "running" else ""
    return (
        f"**{state}** · {done}/{total} problems · {rates(pass_at(results, spec.k))} "
        f"(not in training data: {rates(pass_at(unseen, spec.k))}) · "
        f"{done - len(unseen)} in the adapter's training data · {elapsed:.0f} s elapsed{eta}{now}"
    )


def create_evaluate_tab(ctx: StudioContext) -> None:
    with gr.Tab("Evaluate", id="evaluate") as tab:
        if ctx.store is None:
            gr.Markdown(NO_STORE)
            return
        gr.Markdown(
            "pass@k on HumanEval, judged by the **hidden** tests in the sandbox. Problems an adapter "
            "was trained on are flagged, and pass@k is shown over all problems and over the unseen ones."
        )
        eval_id = gr.Textbox(visible="hidden", elem_id="eval-id")  # the evaluation this page started
        with gr.Row():
            split_box = gr.Dropdown(
                SPLITS,
                value="first-10",
                label="Problems (or type e.g. HumanEval/3-7)",
                allow_custom_value=True,
                elem_id="eval-split",
            )
            adapter = gr.Dropdown(ctx.adapter_choices(), value="", label="Model", allow_custom_value=True)
            mode = gr.Radio(["greedy", "mcts"], value="greedy", label="Mode")
        with gr.Row():
            samples = Number(1, precision=0, minimum=1, label="samples (n)", min_width=80)
            temperature = Number(0.0, minimum=0, maximum=2, label="temperature", min_width=80)
            ks = gr.Textbox("1", label="k (e.g. 1,5)", min_width=80)
            iterations = Number(4, precision=0, minimum=1, label="MCTS iterations", min_width=80)
            preset = gr.Dropdown(list(PRESETS), value="quick demo", label="MCTS preset")
        with gr.Row():
            run_btn = gr.Button("Evaluate", variant="primary", elem_id="eval-run-btn")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="eval-stop-btn")
        progress = gr.Markdown(elem_id="eval-progress")
        problems = gr.Dataframe(headers=list(PROBLEM_COLUMNS), interactive=False, elem_id="eval-problems")
        with gr.Accordion("Stored evaluations", open=True):
            plot = gr.Plot(label="pass@1", elem_id="eval-chart")
            stored = gr.Dataframe(headers=list(EVAL_COLUMNS), interactive=False, elem_id="eval-stored")
    form = [split_box, adapter, mode, samples, temperature, ks, iterations, preset]

    def listing(caller: str):
        rows = visible_evals(ctx, caller)
        return chart(rows), eval_rows(rows)

    def on_run(request: gr.Request, *values):
        caller = owner_of(request)
        spec = build_spec(ctx, *values)
        training = training_problems(ctx, spec.adapter)
        backend = act.backend(ctx, spec.adapter)
        key, live = ctx.evals.add(caller)
        box: dict = {}
        done: list[ProblemResult] = []
        doing = Doing()
        started = time.monotonic()

        def work() -> None:
            try:
                box["result"] = evaluate(
                    spec,
                    backend,
                    progress=lambda i, n, r: done.append(r),
                    stop=live.stop,
                    training_problems=training,
                    store=ctx.store,
                    doing=doing,
                )
            except Exception as exc:  # shown in the tab; the worker must not die silently
                box["error"] = f"{type(exc).__name__}: {exc}"

        worker = threading.Thread(target=work, name="evaluate", daemon=True)
        try:
            with _starting:
                before = newest_eval_id(ctx)
                worker.start()
                live.eval_id = started_eval_id(ctx, before, worker)
            if live.eval_id is not None:
                ctx.owners.set("eval", live.eval_id, caller)
            shown_id = "" if live.eval_id is None else str(live.eval_id)
            yield shown_id, progress_line("running", spec, [], started, doing), gr.skip(), *listing(caller)
            shown, last_line = 0, ""
            while worker.is_alive():
                worker.join(0.25)  # short phases (a batch's tests) still reach the page
                line = progress_line("running", spec, list(done), started, doing)
                if len(done) == shown:  # only the line moves: elapsed time and what runs now
                    if line != last_line:
                        last_line = line
                        yield gr.skip(), line, gr.skip(), gr.skip(), gr.skip()
                    continue
                shown, last_line = len(done), line
                yield gr.skip(), line, problem_rows(list(done)), *listing(caller)
        finally:
            ctx.evals.remove(key)
        if "error" in box:
            raise UserError(f"the evaluation failed: {box['error']}")
        result = box["result"]
        line = progress_line(result.status, spec, result.results, started)
        yield shown_id, line, problem_rows(result.results), *listing(caller)

    def on_stop(eval_id_, request: gr.Request):
        """Stop the evaluation ``eval_id_`` (empty: every evaluation the caller started and that runs now)."""
        caller = owner_of(request)
        if not str(eval_id_ or "").strip():
            for live in ctx.evals.all():
                if owns(ctx, live.owner, caller):
                    live.stop.set()
            return
        eid = parse_eval_id(eval_id_)
        live = ctx.evals.by_id(eid)
        if live is None:
            if eid in {r.id for r in EvalTables(ctx.store).evals()}:
                require_owner(ctx, "evaluation", eid, ctx.owners.get("eval", eid), caller)
            raise UserError(f"evaluation {eid} is not running")
        require_owner(ctx, "evaluation", eid, live.owner, caller)
        live.stop.set()

    def results_of(eval_id_, caller: str) -> list[list]:
        eid = parse_eval_id(eval_id_)
        try:
            results = EvalTables(ctx.store).eval_results(eid)
        except UnknownEval as exc:
            raise UserError(str(exc)) from None
        require_owner(ctx, "evaluation", eid, ctx.owners.get("eval", eid), caller)
        return problem_rows(results)

    def on_pick(evt: gr.SelectData, request: gr.Request):
        row = getattr(evt, "row_value", None)
        if not row:
            return gr.skip()
        return results_of(row[0], owner_of(request))

    def on_tab(request: gr.Request):
        return *listing(owner_of(request)), gr.update(choices=ctx.adapter_choices())

    run_btn.click(
        on_run,
        form,
        [eval_id, progress, problems, plot, stored],
        api_name="evaluate",
        concurrency_id="model",
    )
    stop_btn.click(on_stop, [eval_id], None, api_name="evaluate_stop", queue=False)
    tab.select(on_tab, None, [plot, stored, adapter], api_name=False)
    stored.select(on_pick, None, problems, api_name=False)
    with tab:  # an API-only endpoint must live in a tab when the tab sits in gr.Tabs

        def evaluations(request: gr.Request) -> list[list]:
            """The stored evaluations the caller may see, newest first (the Stored evaluations table)."""
            return eval_rows(visible_evals(ctx, owner_of(request)))

        def evaluation(eval_id: str, request: gr.Request) -> list[list]:
            """One evaluation's problem rows; another user's evaluation is refused."""
            return results_of(eval_id, owner_of(request))

        gr.api(evaluations, api_name="evaluations")
        gr.api(evaluation, api_name="evaluation")
