"""The Search tab: pick or type a problem, run the search, watch the tree grow."""

from __future__ import annotations

import html
from collections.abc import Iterator

import gradio as gr

from core.config import ConfigError, SearchConfig
from core.llm import BackendError
from core.problems import Problem, custom_problem, get_problem, load_humaneval
from core.search import Search
from core.snapshot import snapshot
from ui.context import StudioContext
from ui.tree_plot import tree_figure


def problem_choices() -> list[tuple[str, str]]:
    return [(f"{p.id} · {p.entry_point}", p.id) for p in load_humaneval()]


def pick_problem(problem_id: str | None) -> str:
    return get_problem(problem_id).prompt if problem_id else ""


def resolve_problem(problem_id: str | None, text: str) -> Problem:
    """The picked HumanEval problem if its text is unchanged (or empty), else a custom problem from the text."""
    if problem_id:
        picked = get_problem(problem_id)
        if not text.strip() or text.strip() == picked.prompt.strip():
            return picked
    return custom_problem(text)


def status_line(search: Search) -> str:
    tree = search.tree
    rate = tree.usage.parse_rate
    state = f"stopped: {tree.stopped}" if tree.stopped else "running"
    return (
        f"**{tree.problem.id}** · iteration {tree.iteration} · {len(tree.nodes)} nodes · "
        f"critic parse rate {'n/a' if rate is None else f'{rate:.0%}'} · "
        f"{tree.usage.completion_tokens} tokens in {tree.usage.llm_seconds:.1f}s · {state}"
    )


def best_path_markdown(search: Search) -> str:
    best = search.best_node()
    if best.depth == 0:
        return "_No steps yet._"
    lines = [f"**Best path** · node #{best.id} · Q={best.value:.3f} · {best.terminal_reason or 'open'}", ""]
    lines += [f"{i}. {html.escape(step)}" for i, step in enumerate(search.tree.steps(best.id), 1)]
    return "\n".join(lines)


def run_search(
    ctx: StudioContext, problem_id: str | None, text: str, iterations: float, seed: float, request: gr.Request
) -> Iterator[tuple]:
    """Start a search and stream the tree after each iteration."""
    try:
        problem = resolve_problem(problem_id, text or "")
        config = SearchConfig(max_iterations=int(iterations), seed=int(seed))
    except (ValueError, ConfigError, KeyError) as exc:
        raise gr.Error(str(exc).strip("'\"")) from None
    yield None, gr.skip(), "Loading the model (the first time takes ~20 s) ...", gr.skip(), gr.skip()
    try:
        backend = ctx.backends.get(ctx.backend, ctx.model)
    except (BackendError, ValueError) as exc:
        raise gr.Error(str(exc)) from None
    search = Search.start(problem, config, backend)
    run_id = ctx.runs.add(search, owner=getattr(request, "session_hash", "") or "")
    yield run_id, tree_figure(snapshot(search.tree)), status_line(search), "_Searching ..._", ""
    while not search.finished:
        search.step()
        yield (
            run_id,
            tree_figure(snapshot(search.tree)),
            status_line(search),
            best_path_markdown(search),
            gr.skip(),
        )
    best = search.best_node()
    code = search.write_code(best.id).code if best.depth > 0 else ""
    yield run_id, tree_figure(snapshot(search.tree)), status_line(search), best_path_markdown(search), code


def create_search_tab(ctx: StudioContext) -> None:
    with gr.Tab("Search"), gr.Row():
        with gr.Column(scale=2, min_width=320):
            picker = gr.Dropdown(
                choices=problem_choices(), value="HumanEval/0", label="HumanEval problem", filterable=True
            )
            text = gr.Code(
                value=pick_problem("HumanEval/0"),
                language="python",
                label="Problem (edit to make it your own)",
            )
            with gr.Row():
                iterations = gr.Number(value=4, minimum=1, maximum=500, precision=0, label="Iterations")
                seed = gr.Number(value=0, minimum=0, precision=0, label="Seed")
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="run-btn")
                stop = gr.Button("Stop", variant="stop")
        with gr.Column(scale=5):
            status = gr.Markdown("Pick a problem and press **Run**.", elem_id="status")
            plot = gr.Plot(label="Search tree", elem_id="tree-plot")
            with gr.Row():
                best = gr.Markdown(elem_id="best-path")
                code = gr.Code(language="python", label="Code from the best path", elem_id="best-code")
    run_id = gr.State(None)
    picker.change(pick_problem, picker, text, api_name="pick_problem")
    started = run.click(
        lambda pid, t, it, s, request: (yield from run_search(ctx, pid, t, it, s, request)),
        [picker, text, iterations, seed],
        [run_id, plot, status, best, code],
        api_name="run_search",
        concurrency_id="model",
        concurrency_limit=1,
    )
    stop.click(None, None, None, cancels=[started])
