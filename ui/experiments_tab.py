"""The Experiments tab: the paper's comparison from a form, run in the background, read as its table.

An experiment runs in a worker thread (``core.experiments``) and writes its state after every
stage, so a reload re-attaches (the newest experiment the caller may see is picked on load) and a
restarted studio shows what finished. The table is the paper's: base, +CoT data, +SRA-MCTS data,
filtered and not; clicking a row (or picking it) shows that row's evaluation problem by problem, and
each adapter's loss curve is drawn beside the pass rates.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from core.backends.catalogue import EMBEDDED_MODEL
from core.config import PRESETS as SEARCH_PRESETS
from core.evaluation.tables import EvalTables
from core.experiments.run import BASE, STATE, ExperimentRun, ExperimentState, StageProgress
from core.experiments.spec import PRESETS, ExperimentError, ExperimentSpec
from core.experiments.table import HEADER, Row, cells, table_rows, to_csv, to_markdown
from core.training.config import PRESETS as FINETUNE_PRESETS
from ui.access import base_model as allowed_base_model
from ui.access import may_see, require_owner
from ui.charts import themed
from ui.context import StudioContext, owner_of
from ui.errors import UserError
from ui.widgets import Number, optional_count

METHOD_CHOICES = ["cot", "cot+tests", "sra-mcts", "sra-mcts+tests"]
OWNER_KIND = "experiment"
PROBLEM_COLUMNS = [
    "problem",
    "greedy passed",
    "sampled passed",
    "tokens",
    "seconds",
    "first failure (greedy)",
]


@dataclass
class LiveExperiment:
    owner: str
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    progress: StageProgress | None = None
    error: str = ""


_live: dict[str, LiveExperiment] = {}  # by folder: the experiments running in this process
_lock = threading.Lock()


def experiments_dir(ctx: StudioContext) -> Path:
    return ctx.data_root() / "experiments"


def spec_from_form(
    name,
    train,
    eval_,
    methods,
    search_preset,
    iterations,
    finetune_preset,
    epochs,
    samples,
    k,
    force,
    model: str = EMBEDDED_MODEL,
    backend: str = "transformers",
) -> ExperimentSpec:
    """The spec the form describes; ``model`` is a name the caller has checked against the allowed list."""
    chosen = []
    for key in methods or []:
        kind, _, filtered = key.partition("+")
        method = {"kind": kind, "filter": "tests" if filtered else "none"}
        if kind == "sra-mcts":
            method["preset"] = search_preset
            count = optional_count(iterations, "iterations")
            if count is not None:
                method["iterations"] = count
        chosen.append(method)
    data = {
        "name": (name or "").strip(),
        "train": (train or "").strip(),
        "eval": (eval_ or "").strip(),
        "methods": chosen,
        "finetune_preset": finetune_preset,
        "finetune": {"epochs": float(epochs)} if epochs else {},
        "samples": int(samples or 1),
        "k": int(k or 1),
        "force_overlap": bool(force),
        "model": model,
        "backend": backend,
    }
    try:
        return ExperimentSpec.from_dict(data)
    except (ExperimentError, ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None


def preset_values(preset_name: str) -> list:
    p = PRESETS.get(preset_name, {})
    methods = [m["kind"] + ("+tests" if m.get("filter") == "tests" else "") for m in p.get("methods", [])]
    search = next((m.get("preset") for m in p.get("methods", []) if m.get("preset")), "paper defaults")
    epochs = p.get("finetune", {}).get("epochs", 1.0)
    return [
        p.get("train", ""),
        p.get("eval", ""),
        methods,
        search,
        epochs,
        p.get("samples", 1),
        p.get("k", 1),
    ]


def start(ctx: StudioContext, spec: ExperimentSpec, owner: str) -> str:
    folder = experiments_dir(ctx) / spec.name
    with _lock:
        live = _live.get(str(folder))
        if live and live.thread and live.thread.is_alive():
            raise UserError(f"experiment {spec.name} is running already")
        if (folder / STATE).exists():
            require_owner(ctx, "experiment", spec.name, ctx.owners.get(OWNER_KIND, spec.name), owner)
        live = LiveExperiment(owner)

        def backend_for(adapter):
            return ctx.backends.get(spec.backend, spec.model, adapter)

        try:  # the spec is checked against a finished one of the same name before the thread starts
            run = ExperimentRun(
                spec,
                folder,
                ctx.store,
                backend_for,
                jobs=ctx.finetune_jobs(),
                progress=lambda p: setattr(live, "progress", p),
                stop=live.stop,
                close_backends=False,
            )
        except ExperimentError as exc:
            raise UserError(str(exc)) from None
        ctx.owners.set(OWNER_KIND, spec.name, owner)

        def work() -> None:
            try:
                run.run()
            except Exception as exc:  # shown in the status line; the state file says where it stood
                live.error = f"{type(exc).__name__}: {exc}"

        live.thread = threading.Thread(target=work, name=f"experiment-{spec.name}", daemon=True)
        _live[str(folder)] = live
        live.thread.start()
    return spec.name


def visible_experiments(ctx: StudioContext, caller: str) -> list[str]:
    """Names of the experiments the caller may see, newest first."""
    root = experiments_dir(ctx)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / STATE).is_file()]
    found.sort(key=lambda p: (p / STATE).stat().st_mtime, reverse=True)
    return [p.name for p in found if may_see(ctx, ctx.owners.get(OWNER_KIND, p.name), caller)]


def load_state(ctx: StudioContext, name: str, caller: str) -> ExperimentState:
    if not name:
        raise UserError("choose an experiment")
    require_owner(ctx, "experiment", name, ctx.owners.get(OWNER_KIND, name), caller)
    path = experiments_dir(ctx) / Path(name).name / STATE
    if Path(name).name != name or not path.is_file():
        raise UserError(f"no experiment named {name!r}")
    try:
        return ExperimentState.load(path)
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"experiment {name}: its state file is damaged ({exc})") from None


def status_line(ctx: StudioContext, name: str, state: ExperimentState) -> str:
    live = _live.get(str(experiments_dir(ctx) / name))
    running = bool(live and live.thread and live.thread.is_alive())
    done = len(state.stages)
    stages = len(ExperimentRun.plan(ExperimentSpec.from_dict(state.spec)))
    line = f"**{name}**: {'running' if running else state.status}, {done}/{stages} stages done"
    if running and live and live.progress:
        p = live.progress
        units = f" {p.done}/{p.total}" if p.total else ""
        eta = f", ETA {p.eta_s:.0f} s" if p.eta_s is not None else ""
        line += f" · now {p.stage}{units} ({p.elapsed_s:.0f} s{eta}) {p.note}"
    error = (live.error if live else "") or (state.message if state.status in ("failed", "stopped") else "")
    return line + (f" · {error}" if error else "")


def table_values(ctx: StudioContext, state: ExperimentState) -> tuple[list[list[str]], list[Row]]:
    rows = table_rows(state, ctx.store)
    return [cells(r) for r in rows], rows


def chart(rows: list[Row], k: int) -> go.Figure:
    fig = go.Figure()
    labels = [r.label for r in rows]
    fig.add_bar(name="pass@1", x=labels, y=[100 * (r.pass1 or 0) for r in rows])
    if any(r.passk is not None for r in rows):
        fig.add_bar(name=f"pass@{k}", x=labels, y=[100 * (r.passk or 0) for r in rows])
    fig.update_layout(barmode="group", yaxis_title="% of eval problems (hidden tests)", height=320)
    return themed(fig)


def loss_chart(state: ExperimentState) -> go.Figure:
    """Each adapter's training loss by step (kept with its train stage)."""
    spec = ExperimentSpec.from_dict(state.spec)
    fig = go.Figure()
    for m in spec.methods:
        curve = state.stages.get(f"train:{m.key}", {}).get("losses") or []
        if curve:
            fig.add_scatter(
                x=[s for s, _ in curve], y=[v for _, v in curve], mode="lines+markers", name=m.label
            )
    if not fig.data:
        fig.add_annotation(
            text="no adapter trained yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
    fig.update_layout(xaxis_title="training step", yaxis_title="loss", height=300)
    return themed(fig)


def row_key_at(state: ExperimentState, index: int) -> str | None:
    """The key of the table's ``index``-th row (the base first, then the methods in spec order)."""
    keys = [BASE] + [m.key for m in ExperimentSpec.from_dict(state.spec).methods]
    return keys[index] if 0 <= index < len(keys) else None


def problem_table(ctx: StudioContext, state: ExperimentState, row_key: str) -> list[list]:
    """One line per eval problem of a row: the greedy verdict, the sampled ones (c of n), and why it failed."""
    ids = state.stages.get(f"eval:{row_key or BASE}", {}).get("eval_ids", {})
    if "greedy" not in ids:
        return []
    tables = EvalTables(ctx.store)
    sampled = {r.problem_id: r for r in tables.eval_results(ids["sampled"])} if "sampled" in ids else {}
    out = []
    for r in tables.eval_results(ids["greedy"]):
        failure = next((v.first_failure for v in r.verdicts if not v.passed), "")
        more = sampled.get(r.problem_id)
        out.append(
            [
                r.problem_id,
                r.passed > 0,
                f"{more.passed}/{more.samples}" if more else "—",
                r.tokens,
                r.seconds,
                failure.splitlines()[0][:80] if failure else "",
            ]
        )
    return out


def exports(ctx: StudioContext, name: str, state: ExperimentState, rows: list[Row]) -> tuple[str, str]:
    """table.md and table.csv in the experiment's folder (rewritten only when they changed)."""
    folder = experiments_dir(ctx) / name
    for path, text in (
        (folder / "table.md", to_markdown(rows, state)),
        (folder / "table.csv", to_csv(rows, state)),
    ):
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return str(folder / "table.md"), str(folder / "table.csv")


def stop(ctx: StudioContext, name: str, caller: str) -> str:
    require_owner(ctx, "experiment", name, ctx.owners.get(OWNER_KIND, name), caller)
    live = _live.get(str(experiments_dir(ctx) / name))
    if not (live and live.thread and live.thread.is_alive()):
        return f"{name} is not running"
    live.stop.set()
    return f"stopping {name} (it stops between steps; start it again to continue)"


def create_experiments_tab(ctx: StudioContext, app: gr.Blocks) -> None:
    with gr.Tab("Experiments", id="experiments"):
        gr.Markdown(
            "The paper's comparison: training data made by one-shot CoT and by SRA-MCTS on the *train* problems, "
            "one LoRA per data set, all judged on the *eval* problems' hidden tests against the base model."
        )
        with gr.Row():
            preset = gr.Dropdown(list(PRESETS), value="CPU smoke", label="preset", elem_id="exp-preset")
            name = gr.Textbox("smoke", label="name", elem_id="exp-name")
            train = gr.Textbox(PRESETS["CPU smoke"]["train"], label="train problems", elem_id="exp-train")
            eval_ = gr.Textbox(PRESETS["CPU smoke"]["eval"], label="eval problems", elem_id="exp-eval")
        with gr.Row():
            methods = gr.CheckboxGroup(METHOD_CHOICES, value=["cot", "sra-mcts"], label="data methods")
            search_preset = gr.Dropdown(list(SEARCH_PRESETS), value="quick demo", label="search preset")
            iterations = gr.Textbox(
                "",
                label="iterations",
                placeholder="blank: the search preset's",
                elem_id="experiment-iterations",
            )
        with gr.Row():
            finetune_preset = gr.Dropdown(list(FINETUNE_PRESETS), value="CPU quick", label="fine-tune preset")
            epochs = Number(1.0, label="epochs")
            samples = Number(1, label="samples n (pass@k)", precision=0)
            k = Number(1, label="k", precision=0)
            force = gr.Checkbox(False, label="allow train/eval overlap (flagged)")
            model = gr.Dropdown(
                ctx.base_model_choices(),
                value=ctx.base_models()[0],
                label="model (base and policy)",
                elem_id="exp-model",
            )
        with gr.Row():
            start_btn = gr.Button("Start", variant="primary", elem_id="exp-start")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="exp-stop")
            picked = gr.Dropdown([], label="experiment", allow_custom_value=True, elem_id="exp-picked")
        status = gr.Markdown(elem_id="exp-status")
        table = gr.Dataframe(
            headers=HEADER,
            interactive=False,
            elem_id="exp-table",
            label="result (click a row for its problems)",
        )
        with gr.Row():
            plot = gr.Plot(label="pass rates")
            losses = gr.Plot(label="training loss of each adapter", elem_id="exp-losses")
        with gr.Row():
            row_pick = gr.Dropdown([], label="per-problem rows of", elem_id="exp-row")
            md_file = gr.DownloadButton("table.md", value=None)
            csv_file = gr.DownloadButton("table.csv", value=None)
        problems = gr.Dataframe(
            headers=PROBLEM_COLUMNS, interactive=False, label="problems", elem_id="exp-problems"
        )
        timer = gr.Timer(2.0)

    form = [
        name,
        train,
        eval_,
        methods,
        search_preset,
        iterations,
        finetune_preset,
        epochs,
        samples,
        k,
        force,
        model,
    ]

    def render(chosen: str, request: gr.Request):
        caller = owner_of(request)
        names = visible_experiments(ctx, caller)
        chosen = chosen if chosen in names else (names[0] if names else None)
        if not chosen:
            return (
                gr.Dropdown(choices=names, value=None),
                "_No experiment yet._",
                [],
                None,
                None,
                gr.Dropdown(),
                None,
                None,
            )
        state = load_state(ctx, chosen, caller)
        cells, rows = table_values(ctx, state)
        md, csv_path = exports(ctx, chosen, state, rows)
        spec = ExperimentSpec.from_dict(state.spec)
        return (
            gr.Dropdown(choices=names, value=chosen),
            status_line(ctx, chosen, state),
            cells,
            chart(rows, spec.k),
            loss_chart(state),
            gr.Dropdown(choices=[(r.label, r.key) for r in rows]),
            md,
            csv_path,
        )

    view = [picked, status, table, plot, losses, row_pick, md_file, csv_file]

    def on_start(request: gr.Request, *values):
        chosen_model = allowed_base_model(ctx, values[-1])  # a name from the list, never a server path
        spec = spec_from_form(*values[:-1], model=chosen_model, backend=ctx.backend)
        started = start(ctx, spec, owner_of(request))
        return render(started, request)

    def on_stop(chosen: str, request: gr.Request):
        gr.Info(stop(ctx, chosen, owner_of(request)))
        return render(chosen, request)

    def on_rows(chosen: str, row_key: str, request: gr.Request):
        if not chosen:
            return []
        return problem_table(ctx, load_state(ctx, chosen, owner_of(request)), row_key)

    def on_cell(chosen: str, evt: gr.SelectData, request: gr.Request):
        """A click on any cell of the table opens that row's problems."""
        if not chosen:
            return gr.Dropdown(), []
        state = load_state(ctx, chosen, owner_of(request))
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        key = row_key_at(state, int(index)) if isinstance(index, int) else None
        if key is None:
            return gr.Dropdown(), []
        return gr.Dropdown(value=key), problem_table(ctx, state, key)

    preset.input(
        preset_values, preset, [train, eval_, methods, search_preset, epochs, samples, k], api_name=False
    )
    start_btn.click(on_start, form, view, api_name="experiment_start")
    stop_btn.click(on_stop, picked, view, api_name="experiment_stop")
    picked.input(render, picked, view, api_name="experiment_view")
    row_pick.input(on_rows, [picked, row_pick], problems, api_name="experiment_problems")
    table.select(on_cell, picked, [row_pick, problems], api_name=False)
    timer.tick(render, picked, view, api_name=False, show_progress="hidden")
    app.load(render, picked, view, api_name=False)
