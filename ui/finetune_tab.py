"""The Train tab: LoRA fine-tuning on an exported dataset, as a job that outlives the page.

The job runs in its own process and writes its progress to disk; this tab polls
it with a timer. A reload (or a restarted studio) re-attaches through the job id
kept in the browser.
"""

from __future__ import annotations

import gradio as gr

from core.training.config import PRESETS, FinetuneError, preview
from ui import finetune_actions as act
from ui.access import base_model as allowed_base_model
from ui.access import dataset_folder, may_see, require_owner
from ui.context import StudioContext, owner_of
from ui.errors import UserError
from ui.widgets import Number

JOB_COLUMNS = ["job", "state", "steps", "last loss", "adapter"]


def create_finetune_tab(ctx: StudioContext, app: gr.Blocks) -> None:
    jobs = ctx.finetune_jobs()
    exports_dir = ctx.exports_dir()
    defaults = next(iter(PRESETS))
    start = act.preset_values(defaults)
    with gr.Tab("Train", id="finetune") as tab:
        job_id = gr.Textbox(visible="hidden", elem_id="ft-job-id")
        saved_job = gr.BrowserState(None, storage_key="sra-studio-job")
        timer = gr.Timer(1.0, active=False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340, elem_classes=["side-panel"]):
                # Names, never paths: the handlers refuse a value not in the studio's own lists
                # (typed values stay allowed so that the refusal is the studio's one clear line).
                dataset = gr.Dropdown(
                    act.export_choices(exports_dir),
                    label="Dataset: one of this studio's exports",
                    allow_custom_value=True,
                    elem_id="ft-dataset",
                )
                base_model = gr.Dropdown(
                    ctx.base_model_choices(),
                    value=ctx.base_models()[0],
                    label="Base model (the operator adds more with --allow-model)",
                    allow_custom_value=True,
                    elem_id="ft-base-model",
                )
                with gr.Row():
                    preset_box = gr.Dropdown(list(PRESETS), value=defaults, label="Preset", min_width=120)
                    name = gr.Textbox(label="Adapter name (empty: generated)", min_width=140)
                with gr.Accordion("LoRA", open=False):
                    with gr.Row():
                        lora_r = Number(start["lora_r"], precision=0, label="r", min_width=70)
                        lora_alpha = Number(start["lora_alpha"], precision=0, label="alpha", min_width=70)
                        lora_dropout = Number(start["lora_dropout"], label="dropout", min_width=70)
                    modules = gr.Textbox(
                        start["target_modules"], label="Target modules", placeholder="q_proj v_proj"
                    )
                with gr.Accordion("Training", open=False):
                    with gr.Row():
                        learning_rate = Number(start["learning_rate"], label="learning rate", min_width=90)
                        epochs = Number(start["epochs"], label="epochs", min_width=70)
                        batch_size = Number(
                            start["batch_size"], precision=0, label="batch size", min_width=70
                        )
                    with gr.Row():
                        grad_accum = Number(
                            start["grad_accum"], precision=0, label="grad. accumulation", min_width=90
                        )
                        max_length = Number(
                            start["max_length"], precision=0, label="max length", min_width=80
                        )
                        seed = Number(start["seed"], precision=0, label="seed", min_width=70)
                with gr.Row():
                    preview_btn = gr.Button("Preview config", elem_id="ft-preview-btn")
                    start_btn = gr.Button("Start", variant="primary", elem_id="ft-start-btn")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="ft-stop-btn")
                data_preview = gr.Markdown(elem_id="ft-data-preview")
            with gr.Column(scale=5):
                status = gr.Markdown(act.status_markdown(None), elem_id="ft-status")
                progress = gr.HTML(act.progress_html(None), elem_id="ft-progress")
                curve = gr.Plot(act.loss_figure(None), label="Loss", elem_id="ft-loss")
                with gr.Tabs():
                    with gr.Tab("Log"):
                        log = gr.Code(label="Log tail", language=None, lines=12, elem_id="ft-log")
                    with gr.Tab("Config"):
                        config_view = gr.Code(language="json", label="Resolved config", elem_id="ft-config")
                    with gr.Tab("Jobs"):
                        table = gr.Dataframe(headers=JOB_COLUMNS, interactive=False, elem_id="ft-jobs")

    form = [preset_box, dataset, base_model, name, modules, lora_r, lora_alpha, lora_dropout]
    form += [learning_rate, epochs, batch_size, grad_accum, max_length, seed]
    view = [status, progress, curve, log]

    def config_from(preset_name, dataset_, base, name_, modules_, *numbers):
        """The form as a checked config; the dataset and base model are names from the studio's lists."""
        values = dict(zip(act.FIELDS, numbers, strict=True))
        folder = str(dataset_folder(ctx, dataset_))
        base = allowed_base_model(ctx, base)
        return act.build_config(preset_name, folder, base, name_, modules_, **values)

    def job_owner(jid) -> str:
        return ctx.owners.get("job", jid)

    def own_job(jid, caller):
        """The caller's job's status (None: no such job); another user's job is refused."""
        st = act.job_status(jobs, jid)
        if st is not None:
            require_owner(ctx, "job", jid, job_owner(jid), caller)
        return st

    def view_of(st):
        running = st is not None and st.state in act.ACTIVE
        return (
            act.status_markdown(st),
            act.progress_html(st),
            act.loss_figure(st),
            act.log_tail(st),
            gr.Timer(active=running),
        )

    def render(jid, request: gr.Request):
        return view_of(own_job(jid, owner_of(request)))

    def on_preview(*values):
        cfg = config_from(*values)
        try:
            return preview(cfg)
        except FinetuneError as exc:
            raise UserError(str(exc)) from None

    def on_start(request: gr.Request, *values):
        cfg = config_from(*values)
        try:
            jid = jobs.start(cfg)
        except FinetuneError as exc:
            raise UserError(str(exc)) from None
        ctx.owners.set("job", jid, owner_of(request))
        return (jid, jid, preview(cfg), *view_of(act.job_status(jobs, jid)))

    def on_stop(jid, request: gr.Request):
        if not jid:
            raise UserError("no training job to stop")
        st = own_job(jid, owner_of(request))
        if st is None:
            raise UserError(f"job {jid} is not known here")
        if st.state in act.ACTIVE:
            jobs.stop(jid)
        return view_of(act.job_status(jobs, jid))

    def on_load(saved, request: gr.Request):
        st = act.job_status(jobs, saved) if saved else None
        if st is None or not may_see(ctx, job_owner(saved), owner_of(request)):
            return gr.skip()
        return (saved, *view_of(st))

    def visible_jobs(caller):
        return lambda jid: may_see(ctx, job_owner(jid), caller)

    def on_tab(request: gr.Request):
        rows = act.jobs_table(jobs, visible=visible_jobs(owner_of(request)))
        return gr.update(choices=act.export_choices(exports_dir)), rows

    def on_pick_job(evt: gr.SelectData, request: gr.Request):
        row = getattr(evt, "row_value", None)
        if not row:
            return gr.skip()
        return (row[0], row[0], *view_of(own_job(row[0], owner_of(request))))

    def on_dataset(dataset_):
        """The picked export's records; a name not among the exports is refused, and nothing is read."""
        if not (dataset_ or "").strip():
            return act.NO_DATASET
        return act.dataset_preview(dataset_folder(ctx, dataset_))

    numbers = [
        lora_r,
        lora_alpha,
        lora_dropout,
        learning_rate,
        epochs,
        batch_size,
        grad_accum,
        max_length,
        seed,
    ]

    def on_preset(name_: str):
        values = act.preset_values(name_)
        return [values["target_modules"], *(values[f] for f in act.FIELDS)]

    preset_box.input(on_preset, preset_box, [modules, *numbers], api_name=False)
    preview_btn.click(on_preview, form, config_view, api_name="finetune_preview")
    start_btn.click(on_start, form, [job_id, saved_job, config_view, *view, timer], api_name="finetune_start")
    stop_btn.click(on_stop, job_id, [*view, timer], api_name="finetune_stop")
    timer.tick(render, job_id, [*view, timer], api_name=False, show_progress="hidden")
    with tab:  # an API-only endpoint must live in a tab when the tab sits in gr.Tabs

        def finetune_status(jid: str, request: gr.Request) -> str:
            """The job's status line (Markdown); another user's job is refused."""
            return act.status_markdown(own_job(jid, owner_of(request)))

        def finetune_jobs(request: gr.Request) -> list[list]:
            """The caller's jobs (an operator: every job), newest first: job, state, steps, last loss, adapter."""
            return act.jobs_table(jobs, visible=visible_jobs(owner_of(request)))

        gr.api(finetune_status, api_name="finetune_status")
        gr.api(finetune_jobs, api_name="finetune_jobs")
    # A dropdown's .change did not fire on a picked option here (Gradio 6.31): listen to what the user does.
    gr.on(
        [dataset.input, dataset.select],
        on_dataset,
        dataset,
        data_preview,
        api_name="finetune_dataset_preview",
    )
    tab.select(on_tab, None, [dataset, table], api_name=False)
    table.select(on_pick_job, None, [job_id, saved_job, *view, timer], api_name=False)
    # On load, and again when the tab is shown: a tab not yet on screen may miss the load's updates.
    app.load(on_load, saved_job, [job_id, *view, timer])
    tab.select(on_load, saved_job, [job_id, *view, timer], api_name=False)
