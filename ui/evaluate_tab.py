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
from core.evaluation.tables import EvalTables
from core.problems.problem import UnknownProblem
from core.problems.sources import split
from ui import search_actions as act
from ui.charts import themed
from ui.context import StudioContext

SPLITS = ["first-2", "first-5", "first-10", "first-40", "all"]  # or type a range: HumanEval/0-3
NO_STORE = "_No database: evaluations need one to keep their results._"


def build_spec(
    ctx: StudioContext, split_name, adapter, mode, samples, temperature, ks, iterations, preset_name
):
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
        raise gr.Error(f"bad evaluation setting: {str(exc).strip(chr(39))}") from None


def training_problems(ctx: StudioContext, adapter: str | None) -> set[str]:
    if not adapter:
        return set()
    try:
        return set(get_adapter(adapter, ctx.data_root() / "adapters").problems)
    except UnknownAdapter as exc:
        raise gr.Error(str(exc)) from None


def chart(ctx: StudioContext) -> go.Figure:
    points = [p for p in chart_points(EvalTables(ctx.store).evals()[:12]) if p["k"] == 1] if ctx.store else []
    fig = go.Figure()
    labels = [p["label"] for p in points]
    fig.add_trace(go.Bar(x=labels, y=[p["all"] for p in points], name="pass@1, all problems"))
    fig.add_trace(go.Bar(x=labels, y=[p["unseen"] for p in points], name="pass@1, not in training data"))
    fig.update_layout(
        barmode="group",
        height=320,
        margin={"l": 40, "r": 10, "t": 30, "b": 90},
        yaxis={"range": [0, 1], "tickformat": ".0%"},
        legend={"orientation": "h", "y": 1.12},
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
            samples = gr.Number(1, precision=0, minimum=1, label="samples (n)", min_width=80)
            temperature = gr.Number(0.0, minimum=0, maximum=2, label="temperature", min_width=80)
            ks = gr.Textbox("1", label="k (e.g. 1,5)", min_width=80)
            iterations = gr.Number(4, precision=0, minimum=1, label="MCTS iterations", min_width=80)
            preset = gr.Dropdown(list(PRESETS), value="quick demo", label="MCTS preset")
        with gr.Row():
            run_btn = gr.Button("Evaluate", variant="primary", elem_id="eval-run-btn")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="eval-stop-btn")
        progress = gr.Markdown(elem_id="eval-progress")
        problems = gr.Dataframe(headers=list(PROBLEM_COLUMNS), interactive=False, elem_id="eval-problems")
        with gr.Accordion("Stored evaluations", open=True):
            plot = gr.Plot(label="pass@1", elem_id="eval-chart")
            stored = gr.Dataframe(headers=list(EVAL_COLUMNS), interactive=False, elem_id="eval-stored")
    stop = threading.Event()
    form = [split_box, adapter, mode, samples, temperature, ks, iterations, preset]

    def listing():
        return chart(ctx), eval_rows(EvalTables(ctx.store).evals())

    def on_run(*values):
        spec = build_spec(ctx, *values)
        training = training_problems(ctx, spec.adapter)
        backend = act.backend(ctx, spec.adapter)
        stop.clear()
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
                    stop=stop,
                    training_problems=training,
                    store=ctx.store,
                    doing=doing,
                )
            except Exception as exc:  # shown in the tab; the worker must not die silently
                box["error"] = f"{type(exc).__name__}: {exc}"

        worker = threading.Thread(target=work, name="evaluate", daemon=True)
        worker.start()
        shown = -1
        while worker.is_alive():
            worker.join(1.0)
            line = progress_line("running", spec, list(done), started, doing)
            if len(done) == shown:  # only the line moves: elapsed time and what runs now
                yield line, gr.skip(), gr.skip(), gr.skip()
                continue
            shown = len(done)
            yield line, problem_rows(list(done)), *listing()
        if "error" in box:
            raise gr.Error(f"the evaluation failed: {box['error']}")
        result = box["result"]
        line = progress_line(result.status, spec, result.results, started)
        yield line, problem_rows(result.results), *listing()

    def on_pick(evt: gr.SelectData):
        row = getattr(evt, "row_value", None)
        if not row:
            return gr.skip()
        return problem_rows(EvalTables(ctx.store).eval_results(int(row[0])))

    run_btn.click(
        on_run, form, [progress, problems, plot, stored], api_name="evaluate", concurrency_id="model"
    )
    stop_btn.click(lambda: stop.set(), None, None, api_name="evaluate_stop", queue=False)
    tab.select(listing, None, [plot, stored], api_name=False)
    tab.select(lambda: gr.update(choices=ctx.adapter_choices()), None, adapter, api_name=False)
    stored.select(on_pick, None, problems, api_name=False)
