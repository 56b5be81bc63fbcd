"""The Search tab: pick or type a problem, grow the tree, inspect and steer it, replay it."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from core.config import PRESETS, ConfigError, preset
from core.problems.problem import get_problem, load_humaneval
from core.search.mcts import Search
from core.search.rescore import rescore_subtree
from core.tree.files import distrust_code, load_tree_file
from core.tree.nodes import TreeFormatError
from core.tree.replay import tree_at
from core.tree.snapshot import snapshot
from ui import search_actions as act
from ui.access import adapter_name, require_run
from ui.context import StudioContext, owner_of
from ui.errors import UserError
from ui.inspector import execution_summary, inspect_node
from ui.tree_plot import COLOURINGS, DEFAULT_COLOURING
from ui.tree_view import create_tree_view, selected_node_id, tree_view_payload
from ui.widgets import Number

ADVANCED_HINT = '{"end_gate": 0.9, "rollout": false, "max_depth": 6, "unvisited_bonus": 0.8}'
DEFAULT_PRESET = "runs the examples"  # measured best of the searches (bench/results/search_quality.md)


def problem_choices() -> list[tuple[str, str]]:
    return [(f"{p.id} · {p.entry_point}", p.id) for p in load_humaneval()]


SERVER_SESSIONS = 8  # searches the studio runs at once against an OpenAI-compatible server


def pick_problem(problem_id: str | None) -> str:
    return get_problem(problem_id).prompt if problem_id else ""


def inspect(ctx: StudioContext, run_id: str | None, node: float | None, caller: str = "") -> str:
    run = act.find_run(ctx, run_id, caller)
    if run is None or node is None:
        return act.NO_NODE
    if int(node) not in run.search.tree.nodes:
        return f"_Node {int(node)} does not exist in this tree._"
    return inspect_node(run.search.tree, int(node))


@dataclass
class SearchTab:
    """What other tabs need of the Search tab: the run id, the outputs that show a run, the saved id."""

    run_id: gr.Textbox
    view: list[gr.components.Component]
    saved_run: gr.BrowserState
    panel: list[gr.components.Component]  # the left panel: follows a run when one is attached
    selection: list[gr.components.Component]  # the selected node, its step and the inspector


def create_search_tab(ctx: StudioContext, app: gr.Blocks) -> SearchTab:
    """Build the tab; every action that changes a run saves it to the store when it completes."""
    its0, k0, c0, temp0, seed0, width0 = act.knob_values(preset(DEFAULT_PRESET))
    with gr.Tab("Search", id="search") as tab:
        run_id = gr.Textbox(visible="hidden", elem_id="run-id")  # in the DOM (for tests), not shown
        saved_run = gr.BrowserState(None, storage_key="sra-studio-run")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340, elem_classes=["side-panel"]):
                picker = gr.Dropdown(
                    choices=problem_choices(),
                    value="HumanEval/0",
                    label="HumanEval problem",
                    filterable=True,
                    elem_id="problem-picker",
                )
                with gr.Row():
                    new_btn = gr.Button("New search", elem_id="new-btn")
                    step_btn = gr.Button("Step (s)", elem_id="step-btn")
                    run_btn = gr.Button("Run (r)", variant="primary", elem_id="run-btn")
                with gr.Row():
                    pause_btn = gr.Button("Pause", elem_id="pause-btn")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn")
                target = gr.Markdown(act.target_line(None, "no search is open"), elem_id="run-target")
                text = gr.Code(
                    value=pick_problem("HumanEval/0"),
                    language="python",
                    label="Problem (editable)",
                    max_lines=14,
                    elem_id="problem-text",
                )
                tests = gr.Textbox(
                    "",
                    label="Visible tests: assert lines (asserts typed under the function count too)",
                    placeholder="assert add(2, 2) == 4",
                    lines=2,
                    max_lines=8,
                    elem_id="problem-tests",
                )
                preset_box = gr.Dropdown(
                    list(PRESETS), value=DEFAULT_PRESET, label="Preset", elem_id="search-preset"
                )
                adapter = gr.Dropdown(
                    ctx.adapter_choices(),
                    value="",
                    label="Policy: base model or a LoRA adapter",
                    allow_custom_value=True,
                    elem_id="adapter-picker",
                )
                with gr.Row():
                    iterations = Number(
                        its0,
                        minimum=1,
                        maximum=500,
                        precision=0,
                        label="Iterations",
                        min_width=80,
                        elem_id="iterations",
                    )
                    k = Number(
                        k0,
                        minimum=1,
                        maximum=16,
                        precision=0,
                        label="k children",
                        min_width=80,
                        elem_id="search-k",
                    )
                    seed = Number(
                        seed0, minimum=0, precision=0, label="Seed", min_width=80, elem_id="search-seed"
                    )
                with gr.Row():
                    c = Number(c0, minimum=0, label="c (UCB)", min_width=80)
                    temperature = Number(temp0, minimum=0, maximum=2, label="Temperature", min_width=100)
                    width = Number(
                        width0,
                        minimum=1,
                        maximum=64,
                        precision=0,
                        label="Width",
                        info="nodes per wave (1: sequential)",
                        min_width=80,
                        elem_id="search-width",
                    )
                with gr.Accordion("More settings (JSON of config fields)", open=False):
                    advanced = gr.Code(value="", language="json", label="Overrides", lines=3)
                    gr.Markdown(
                        f"Example: `{ADVANCED_HINT}`. Fields: see `core/config.py`. {act.OVERRIDES_WIN}"
                    )
                with gr.Row():
                    download = gr.DownloadButton("Download tree", elem_id="download-btn")
                    upload = gr.UploadButton("Upload tree", file_types=[".json"], elem_id="upload-btn")
            with gr.Column(scale=5, min_width=560):  # below the side panel in narrow windows
                status = gr.Markdown(act.NO_RUN, elem_id="status")
                tree = create_tree_view(elem_id="tree-view")
                colour = gr.Radio(
                    list(COLOURINGS),
                    value=DEFAULT_COLOURING,
                    label="Colour nodes by (grey: not measured on that node)",
                    elem_id="tree-colour",
                )
                replay = gr.Slider(
                    0, 1, value=0, step=1, label="Replay: the tree after iteration", elem_id="replay"
                )
                with gr.Row():
                    node = Number(None, precision=0, label="Selected node", elem_id="node-id", min_width=100)
                    prune_btn = gr.Button("Prune (p)", elem_id="prune-btn", min_width=80)
                    unprune_btn = gr.Button("Unprune", elem_id="unprune-btn", min_width=80)
                    force_btn = gr.Button("Force", elem_id="force-btn", min_width=80)
                with gr.Row():
                    step_text = gr.Textbox(
                        label="Step text", placeholder="A reasoning step in plain English", scale=4
                    )
                    edit_btn = gr.Button("Edit step", elem_id="edit-btn", min_width=80)
                    add_btn = gr.Button("Add child step", elem_id="add-btn", min_width=80)
                with gr.Tabs():
                    with gr.Tab("Inspector"):
                        inspector = gr.Markdown(act.NO_NODE, elem_id="inspector")
                    with gr.Tab("Best path"):
                        best = gr.Markdown(elem_id="best-path")
                        code = gr.Code(
                            language="python", label="Code from the best path", elem_id="best-code"
                        )
                        code_btn = gr.Button("Write code for the selected node's path")
                    with gr.Tab("Timeline"):
                        timeline = gr.Markdown(elem_id="timeline")
                    with gr.Tab("Code & tests"):
                        exec_btn = gr.Button(
                            "Write code for the selected node and run its tests", elem_id="exec-btn"
                        )
                        exec_out = gr.Markdown(elem_id="exec-result")
                        with gr.Row():
                            rescore_prompt = gr.Textbox(
                                label="Another critic prompt (uses {problem} and {steps}; empty keeps the current)",
                                lines=3,
                                scale=4,
                            )
                            rescore_temp = Number(None, minimum=0, maximum=2, label="Critic temperature")
                        rescore_btn = gr.Button("Re-score the selected subtree", elem_id="rescore-btn")
                        rescore_out = gr.Markdown(elem_id="rescore-result")

    view = [run_id, tree, status, best, code, timeline, replay, download, target]
    knobs = [preset_box, iterations, k, c, temperature, seed, width, advanced, adapter]
    panel = [picker, text, tests, preset_box, iterations, k, c, temperature, seed, width, advanced, adapter]
    selection = [node, step_text, inspector]  # cleared when another run is attached

    def attached(run):
        """A run's view, the left panel set to the run (so Run continues it) and no node selected."""
        return (*act.render(run), *act.panel_values(run), *act.CLEARED)

    def config_from(preset_name, its, k_, c_, temp, seed_, width_, adv):
        try:
            return act.build_config(
                preset_name,
                {
                    "max_iterations": its,
                    "k": k_,
                    "c": c_,
                    "temperature": temp,
                    "seed": seed_,
                    "width": width_,
                },
                adv or "",
            )
        except (ConfigError, ValueError) as exc:
            raise UserError(f"bad setting: {exc}") from None

    def starting(line, outputs):
        """The status line alone, the moment an action is pressed (before the model queue or a load)."""
        return status_only(act.starting_line(line), outputs)

    def opened(
        ctx_request, pid, txt, tests_, preset_name, its, k_, c_, temp, seed_, width_, adv, adapter_, width
    ):
        """A new search from the panel (loading the model first, with its progress); yields status lines."""
        config = config_from(preset_name, its, k_, c_, temp, seed_, width_, adv)
        problem = act.panel_problem(pid, txt, tests_)
        for line in act.load_live(ctx, adapter_):
            yield status_only(line, width)
        return act.new_search(
            ctx, pid, txt, config, owner=owner_of(ctx_request), adapter=adapter_, tests=tests_
        ), problem

    def on_new(
        pid, txt, tests_, preset_name, its, k_, c_, temp, seed_, width_, adv, adapter_, request: gr.Request
    ):
        width = len(view) + len(panel) + len(selection) + 1
        yield starting("starting a new search", width)
        run, _ = yield from opened(
            request, pid, txt, tests_, preset_name, its, k_, c_, temp, seed_, width_, adv, adapter_, width
        )
        yield (*attached(run), run.id)

    def followed(run, n, clear=False):
        """After an iteration: the view, the saved id and the selection as it is now (cleared on a new search)."""
        if clear:
            return (*act.render(run), run.id, *act.CLEARED)
        chosen = _node_or_none(n)
        return (*act.render(run, chosen), run.id, chosen, gr.skip(), inspect(ctx, run.id, n, run.owner))

    def status_only(line, width):
        """Only the status line changes; every other of the ``width`` outputs keeps what it shows."""
        status_at = view.index(status)
        return (
            *(gr.skip() for _ in range(status_at)),
            line,
            *(gr.skip() for _ in range(width - status_at - 1)),
        )

    stepped = len(view) + 1 + len(selection)  # the outputs of Step and Run

    def progress(line):
        """Mid-iteration: only the status line changes (the tree is being written in another thread)."""
        return status_only(line, stepped)

    def continued(
        rid, pid, txt, tests_, preset_name, its, k_, c_, temp, seed_, width_, adv, adapter_, request
    ):
        """The run Step and Run continue, or a new one when the panel shows another problem or setting."""
        run = act.find_run(ctx, rid, owner_of(request))
        config = config_from(preset_name, its, k_, c_, temp, seed_, width_, adv)
        problem = act.panel_problem(pid, txt, tests_)
        if act.why_new_search(run, problem, config, adapter_name(ctx, adapter_)) is None:
            return run, False
        run, _ = yield from opened(
            request, pid, txt, tests_, preset_name, its, k_, c_, temp, seed_, width_, adv, adapter_, stepped
        )
        return run, True

    def on_step(
        rid,
        n,
        pid,
        txt,
        tests_,
        preset_name,
        its,
        k_,
        c_,
        temp,
        seed_,
        width_,
        adv,
        adapter_,
        request: gr.Request,
    ):
        yield starting("starting an iteration", stepped)
        run, fresh = yield from continued(
            rid, pid, txt, tests_, preset_name, its, k_, c_, temp, seed_, width_, adv, adapter_, request
        )
        if fresh:
            yield followed(run, n, clear=True)
            n = None
        for line in act.step_live(run):
            yield progress(line)
        act.save(ctx, run)
        yield followed(run, n)

    def on_run(
        rid,
        n,
        pid,
        txt,
        tests_,
        preset_name,
        its,
        k_,
        c_,
        temp,
        seed_,
        width_,
        adv,
        adapter_,
        request: gr.Request,
    ):
        yield starting("starting the run", stepped)
        run, fresh = yield from continued(
            rid, pid, txt, tests_, preset_name, its, k_, c_, temp, seed_, width_, adv, adapter_, request
        )
        yield followed(run, n, clear=fresh)
        n = None if fresh else n
        # a new search runs its whole budget (an override may have set it); a continued one runs the field's count
        count = run.search.config.max_iterations if fresh else int(its or 1)
        for line in act.run_iterations(run, count):
            if line is not None:
                yield progress(line)
                continue
            act.save(ctx, run)
            yield followed(run, n)

    def on_target(
        rid,
        pid,
        txt,
        tests_,
        preset_name,
        its,
        k_,
        c_,
        temp,
        seed_,
        width_,
        adv,
        adapter_,
        request: gr.Request,
    ):
        """What Step and Run will do with the panel as it is now (a line under the buttons)."""
        try:
            run = act.find_run(ctx, rid, owner_of(request))
            config = config_from(preset_name, its, k_, c_, temp, seed_, width_, adv)
            problem = act.panel_problem(pid, txt, tests_)
        except gr.Error as exc:
            return act.target_line(None, f"first fix this: {exc.message}")
        return act.target_line(run, act.why_new_search(run, problem, config, adapter_name(ctx, adapter_)))

    def on_colour(rid, choice, n, request: gr.Request):
        run = act.find_run(ctx, rid, owner_of(request))
        if run is None:
            return gr.skip()
        run.colour_by = choice if choice in COLOURINGS else DEFAULT_COLOURING
        return act.tree_value(run, _node_or_none(n))

    def on_pause(rid, request: gr.Request):
        """Pause takes effect when the wave in flight ends; the progress line says so meanwhile."""
        require_run(ctx, rid, owner_of(request))
        run = ctx.runs.get(rid)
        if run is None or run.search.finished:
            gr.Info("nothing is running: there is nothing to pause")
            return
        run.stop_requested.set()
        gr.Info("Pausing: the search stops when the wave in flight ends (the Timeline records it)")

    def on_stop(rid, request: gr.Request):
        run = act.get_run(ctx, rid, owner_of(request))
        run.stop_requested.set()
        run.search.stop()
        act.save(ctx, run)
        return act.render(run)

    STEER_LABELS = {
        "prune": "pruning node #{n}",
        "unprune": "unpruning node #{n}",
        "force": "forcing node #{n}",
        "edit": "editing node #{n}'s step and scoring it with the critic",
        "add": "adding a child step under node #{n} and scoring it with the critic",
    }
    steered = len(view) + len(selection)

    SLOW_STEERING = {"edit", "add"}  # they ask the critic about the new step

    def on_steer(action):
        def handler(rid, n, txt="", request: gr.Request = None):
            caller = owner_of(request)
            run = act.get_run(ctx, rid, caller)
            if action in SLOW_STEERING:
                chosen = yield from act.busy(
                    STEER_LABELS[action].format(n=_node_or_none(n)),
                    lambda: act.steer(run, action, n, txt),
                    lambda line: status_only(line, steered),
                    lambda: act.status_line(run.search),
                )
            else:
                chosen = act.steer(run, action, n, txt)
            act.save(ctx, run)
            yield (
                *act.render(run, chosen),
                chosen,
                act.step_text_of(run, chosen),
                inspect(ctx, rid, chosen, caller),
            )

        return handler

    def on_code(rid, n, request: gr.Request):
        caller = owner_of(request)
        run = act.get_run(ctx, rid, caller)
        record = yield from act.busy(
            "writing code for the selected node's path",
            lambda: run.search.write_code(_node_or_none(n)),
            lambda line: (gr.skip(), gr.skip(), line),
            lambda: act.status_line(run.search),
        )
        act.save(ctx, run)
        yield record.code, inspect(ctx, rid, n, caller), act.status_line(run.search)

    def on_replay(rid, it, request: gr.Request):
        """The tree after iteration ``it`` (slider or its number box), and a status line that says so."""
        run = act.find_run(ctx, rid, owner_of(request))
        if run is None:
            return gr.skip(), gr.skip()
        try:
            past = tree_at(run.search.tree, int(it or 0))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        payload = tree_view_payload(snapshot(past), None, scope=run.id, colour_by=run.colour_by)
        return payload, act.replay_line(run.search, int(it or 0))

    def on_upload(file, request: gr.Request):
        if file is None:
            return gr.skip()
        try:
            loaded = distrust_code(load_tree_file(file if isinstance(file, str) else file.name))
        except (TreeFormatError, OSError) as exc:
            raise UserError(f"cannot open that file: {exc}") from None
        owner = owner_of(request)
        rid = act.upload_id(loaded, owner)
        run = act.find_run(ctx, rid, owner)
        if run is not None:  # the same file again: the run it made, not a second copy (nor new candidates)
            gr.Info(f"this tree is already open as run {rid}")
        else:
            run = ctx.runs.get_or_add(rid, lambda: Search(loaded, act.backend(ctx)), owner=owner)
            act.save(ctx, run)
        return (*attached(run), run.id)

    def on_load(saved, request: gr.Request):
        try:
            run = act.find_run(ctx, saved, owner_of(request))
        except gr.Error:
            run = None  # a stored run that cannot be reopened now, or not this user's: start clean
        return attached(run) if run is not None else gr.skip()

    def get_tree(rid: str, request: gr.Request) -> str:
        """The whole tree as sra-tree/1 JSON."""
        return act.get_run(ctx, rid, owner_of(request)).search.tree.to_json()

    # An in-process model runs one call at a time; a model server batches what several sessions send.
    model_queue = {
        "concurrency_id": "model",
        "concurrency_limit": SERVER_SESSIONS if ctx.backend == "openai" else 1,
    }
    panel_in = [picker, text, tests, *knobs]
    new_btn.click(
        on_new, panel_in, [*view, *panel, *selection, saved_run], api_name="new_search", **model_queue
    )
    step_btn.click(
        on_step,
        [run_id, node, *panel_in],
        [*view, saved_run, *selection],
        api_name="step",
        **model_queue,
    )
    running = run_btn.click(
        on_run,
        [run_id, node, *panel_in],
        [*view, saved_run, *selection],
        api_name="run",
        **model_queue,
    )
    colour.input(on_colour, [run_id, colour, node], tree, api_name="colour_by")
    pause_btn.click(on_pause, [run_id], None, api_name="pause", queue=False)
    stop_btn.click(on_stop, [run_id], view, api_name="stop", cancels=[running])
    for btn, action in ((prune_btn, "prune"), (unprune_btn, "unprune"), (force_btn, "force")):
        btn.click(on_steer(action), [run_id, node], [*view, *selection], api_name=action)
    for btn, action in ((edit_btn, "edit"), (add_btn, "add_step")):
        btn.click(
            on_steer("edit" if action == "edit" else "add"),
            [run_id, node, step_text],
            [*view, *selection],
            api_name=action,
            **model_queue,
        )
    code_btn.click(on_code, [run_id, node], [code, inspector, status], api_name="write_code", **model_queue)

    def on_select(rid, evt: gr.EventData, request: gr.Request):
        chosen = selected_node_id(evt)
        if chosen is None:
            return gr.skip(), gr.skip(), gr.skip()
        return chosen, *selected(rid, chosen, owner_of(request))

    def selected(rid, n, caller):
        """(step text, inspector) of the selected node: its step fills the box, ready to edit."""
        run = act.find_run(ctx, rid, caller)
        return (act.step_text_of(run, _node_or_none(n)) if run else ""), inspect(ctx, rid, n, caller)

    def on_inspect(rid, n, request: gr.Request):
        return selected(rid, n, owner_of(request))

    tree.select(on_select, [run_id], [node, step_text, inspector], api_name=False)
    node.input(on_inspect, [run_id, node], [step_text, inspector], api_name="inspect")
    gr.on(
        [replay.release, replay.input],
        on_replay,
        [run_id, replay],
        [tree, status],
        api_name="replay",
        trigger_mode="always_last",
    )
    picker.input(lambda pid: (pick_problem(pid), ""), picker, [text, tests], api_name="pick_problem")
    # .select, not .input: the dropdown sends .input again when it loses focus, and that late second
    # answer put the preset's knobs back over a value the user had typed in the meantime
    preset_box.select(
        lambda name: act.knob_values(preset(name)),
        preset_box,
        [iterations, k, c, temperature, seed, width],
        api_name=False,
    )
    adapter.focus(lambda: gr.update(choices=ctx.adapter_choices()), None, adapter, api_name=False)
    upload.upload(on_upload, upload, [*view, *panel, *selection, saved_run], api_name="upload_tree")
    # the line under the buttons follows the panel: what Step and Run will do with it
    gr.on(
        [picker.input, text.input, tests.input, *(box.input for box in knobs)],
        on_target,
        [run_id, *panel_in],
        target,
        api_name=False,
        trigger_mode="always_last",
        queue=False,
    )
    with tab:  # an API-only endpoint must live in a tab when the tab sits in gr.Tabs
        gr.api(get_tree, api_name="get_tree")
    app.load(on_load, saved_run, [*view, *panel, *selection])

    def on_execute(rid, n, request: gr.Request):
        caller = owner_of(request)
        run = act.get_run(ctx, rid, caller)
        if n is None:
            raise UserError("select a node first (click it in the tree)")

        def work():
            try:
                run.search.execute(int(n))
            except (ValueError, KeyError) as exc:
                raise UserError(str(exc).strip("'\"")) from None

        yield from act.busy(
            f"writing code for node #{int(n)} and running its tests",
            work,
            lambda line: (line, gr.skip()),
            lambda: "_Nothing was run: see the message._",
        )
        act.save(ctx, run)
        node = run.search.tree.nodes[int(n)]
        yield execution_summary(node), inspect(ctx, rid, n, caller)

    def on_rescore(rid, n, prompt, temp, request: gr.Request):
        run = act.get_run(ctx, rid, owner_of(request))

        def work():
            try:
                return rescore_subtree(
                    run.search, int(n or 0), critic_prompt=prompt.strip() or None, temperature=temp
                )
            except (ValueError, KeyError) as exc:
                raise UserError(str(exc).strip("'\"")) from None

        rows = yield from act.busy(
            f"re-scoring the subtree of node #{int(n or 0)} with the critic",
            work,
            lambda line: line,
            lambda: "_Nothing was re-scored: see the message._",
        )
        act.save(ctx, run)
        yield act.rescore_markdown(rows)

    exec_btn.click(on_execute, [run_id, node], [exec_out, inspector], api_name="execute", **model_queue)
    rescore_btn.click(
        on_rescore,
        [run_id, node, rescore_prompt, rescore_temp],
        rescore_out,
        api_name="rescore",
        **model_queue,
    )
    return SearchTab(run_id, view, saved_run, panel, selection)


def _node_or_none(n: float | None) -> int | None:
    return int(n) if n is not None else None
