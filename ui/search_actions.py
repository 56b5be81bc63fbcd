"""Search-tab handlers: plain functions from widget values to widget values.

They translate between the browser (ids and text) and the core objects that
live server-side in the run registry. No search logic lives here: every
action is one call into ``core``. Errors a user can fix become ``gr.Error``
with one clear line, and leave the run as it was.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from core.atomic import write_atomic
from core.config import PRESETS, ConfigError, SearchConfig, preset
from core.llm import BackendError
from core.problems.problem import Problem, custom_problem, get_problem
from core.prompts import format_steps
from core.search.mcts import Search, SearchEnded, SearchPaused
from core.search.steering import SteeringError
from core.store.runs import StaleRun, UnknownRun
from core.tree.events import STEERING, EventKind
from core.tree.nodes import Tree
from core.tree.snapshot import snapshot
from ui.access import adapter_name, require_run, run_owner
from ui.context import StudioContext
from ui.errors import UserError
from ui.sessions import Run, save_run
from ui.tree_view import tree_view_payload

T = TypeVar("T")

NO_NODE = "_Click a node in the tree to inspect it._"
CLEARED = (None, "", NO_NODE)  # (selected node, step text, inspector) when another run is attached
NO_RUN = "No search yet: pick a problem and press **New search**, **Step** or **Run**."


def resolve_problem(problem_id: str | None, text: str, tests: str = "") -> Problem:
    """The picked HumanEval problem if its text is unchanged and no test is typed, else a custom problem.

    An empty editor is an error, not the picked problem: what runs is always what the page shows.
    """
    if not text.strip():
        raise ValueError("the problem text is empty: pick a HumanEval problem or type one")
    if problem_id and not tests.strip():
        picked = get_problem(problem_id)
        if text.strip() == picked.prompt.strip():
            return picked
    return custom_problem(text, tests)


def panel_problem(problem_id: str | None, text: str, tests: str = "") -> Problem:
    """:func:`resolve_problem` with its errors as one line for the page."""
    try:
        return resolve_problem(problem_id, text or "", tests or "")
    except (ValueError, KeyError) as exc:
        raise UserError(str(exc).strip("'\"")) from None


def why_new_search(run: Run | None, problem: Problem, config: SearchConfig, adapter: str = "") -> str | None:
    """Why Step and Run start a new search rather than continue ``run``; None when they continue it.

    They continue only the search the left panel shows: the same problem, tests, settings and policy.
    The Iterations field is not compared: for an open search it is how many more to run.
    """
    if run is None:
        return "no search is open"
    search = run.search
    if not search.can_continue():
        return f"the open search has ended ({search.tree.stopped})"
    tree = search.tree
    same_problem = (
        problem.source == tree.problem.source
        and problem.prompt.strip() == tree.problem.prompt.strip()
        and set(problem.visible_tests) == set(tree.problem.visible_tests)
    )
    if not same_problem:
        return f"the problem differs from the open search's ({tree.problem.id})"
    ours, theirs = config.to_dict(), tree.config.to_dict()
    changed = [k for k, v in ours.items() if k != "max_iterations" and theirs.get(k) != v]
    if changed:
        return "settings differ from the open search's: " + ", ".join(changed)
    if (tree.model.get("adapter") or "") != (adapter or ""):
        return "the policy differs from the open search's"
    return None


def target_line(run: Run | None, reason: str | None) -> str:
    """What Step and Run will do, shown under the buttons."""
    if reason is None and run is not None:
        tree = run.search.tree
        return (
            f"Step and Run continue **{tree.problem.id}** (run {run.id}, after iteration {tree.iteration})."
        )
    return f"Step and Run start a **new search**: {reason}."


KNOBS = ("max_iterations", "k", "c", "temperature", "seed", "width")  # the fields with a control of their own


def knob_values(config: SearchConfig) -> tuple:
    return tuple(getattr(config, name) for name in KNOBS)


def panel_values(run: Run) -> tuple:
    """(picker, problem text, tests, preset, *knobs, overrides, adapter) that rebuild this run's problem,
    config and policy.

    The preset is the one the config differs least from; every other difference goes to the overrides.
    """
    tree = run.search.tree
    config = tree.config.to_dict()

    def differences(name: str, knobs: bool = False) -> dict[str, Any]:
        base = PRESETS[name].to_dict()
        return {k: v for k, v in config.items() if (knobs or k not in KNOBS) and base.get(k) != v}

    name = min(PRESETS, key=lambda n: (len(differences(n)), len(differences(n, knobs=True))))
    extra = differences(name)
    humaneval = tree.problem.source == "humaneval"
    return (
        tree.problem.id if humaneval else None,
        tree.problem.prompt,
        "" if humaneval else "\n".join(tree.problem.visible_tests),
        name,
        *knob_values(tree.config),
        json.dumps(extra) if extra else "",
        tree.model.get("adapter") or "",
    )


OVERRIDES_WIN = "A field set here wins over its control above (k, c, temperature, seed, width, iterations)."


def build_config(preset_name: str, knobs: dict[str, Any], advanced: str = "") -> SearchConfig:
    """A preset, overridden by the visible knobs, then by the JSON overrides (which win on a shared field)."""
    extra: dict[str, Any] = {}
    if advanced and advanced.strip():
        try:
            extra = json.loads(advanced)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"advanced settings are not valid JSON: {exc.msg} (line {exc.lineno})"
            ) from None
        if not isinstance(extra, dict):
            raise ConfigError("advanced settings must be a JSON object of config fields")
    changes = {k: v for k, v in knobs.items() if v is not None} | extra
    for key in ("k", "max_iterations", "seed", "max_depth", "width"):
        if isinstance(changes.get(key), float) and changes[key].is_integer():
            changes[key] = int(changes[key])
    return preset(preset_name).replace(**changes)


# --- rendering --------------------------------------------------------------------------
def tree_value(run: Run, selected: int | None) -> str:
    """The clickable tree view's value; its scope (the run id) keeps zoom across redraws."""
    return tree_view_payload(snapshot(run.search.tree), selected, scope=run.id, colour_by=run.colour_by)


def status_line(search: Search) -> str:
    tree = search.tree
    rate = tree.usage.parse_rate
    state = f"stopped: {tree.stopped}" if tree.stopped else "ready"
    if tree.config.exec_hidden_in_reward:
        state += " · ⚠ LEAKY run: hidden tests are in the reward"
    return (
        f"**{tree.problem.id}** · iteration {tree.iteration} · {len(tree.nodes)} nodes · "
        f"critic parse rate {'n/a' if rate is None else f'{rate:.0%}'} · "
        f"{tree.usage.completion_tokens} tokens in {tree.usage.llm_seconds:.1f}s · {state}"
    )


def replay_line(search: Search, iteration: int) -> str:
    """The status line while the replay shows a past tree."""
    tree = search.tree
    return (
        f"**{tree.problem.id}** · ◀ replaying: the tree after iteration {iteration} of {tree.iteration} · "
        "Step or Run shows the live tree again"
    )


def step_text_of(run: Run, node_id: int | None) -> str:
    """The selected node's step, for the step box (so that editing does not mean retyping)."""
    node = run.search.tree.nodes.get(node_id) if node_id is not None else None
    return node.step if node is not None and node.depth > 0 else ""


def best_path_markdown(search: Search) -> str:
    best = search.best_node()
    if best.depth == 0:
        return "_No steps yet._"
    lines = [f"**Best path** · node #{best.id} · Q={best.value:.3f} · {best.terminal_reason or 'open'}", ""]
    lines.append(format_steps([html.escape(step) for step in search.tree.steps(best.id)]))
    return "\n".join(lines)


def best_code(search: Search) -> str:
    best = search.best_node()
    if best.code:
        return best.code.code
    if best.depth == 0:
        return "# No steps yet: press Step or Run."
    return f"# No code written for node #{best.id} yet: press “Write code for the selected node's path”."


def timeline_markdown(search: Search, limit: int = 40) -> str:
    """Steering actions and stops, newest first."""
    shown = (EventKind.STOPPED, EventKind.PAUSED, EventKind.RESUMED)
    rows = [e for e in search.tree.events if e.kind in STEERING or e.kind in shown][-limit:]
    if not rows:
        return "_No steering yet._"
    out = ["| event | after iteration | action | node | detail |", "|---|---|---|---|---|"]
    for e in reversed(rows):
        detail = ", ".join(f"{k}={v}" for k, v in e.data.items() if k not in ("old_step", "new_step", "step"))
        if "new_step" in e.data:
            detail = f"“{html.escape(str(e.data['new_step']))[:60]}” " + detail
        out.append(
            f"| {e.seq} | {e.iteration} | {e.kind.value} | {e.node if e.node is not None else ''} | {detail} |"
        )
    return "\n".join(out)


def render(run: Run | None, selected: int | None = None) -> tuple:
    """(run id, tree, status, best path, code, timeline, replay slider, download file, target) for one run.

    The download button always holds the current tree, so one click downloads it. The target line
    says what Step and Run will do next (the left panel shows this run's settings after a render).
    """
    if run is None:
        return (
            "",
            "",
            NO_RUN,
            "",
            "",
            "",
            gr.update(maximum=0, value=0),
            None,
            target_line(None, "no search is open"),
        )
    s = run.search
    slider = gr.update(maximum=max(s.tree.iteration, 1), value=s.tree.iteration)
    return (
        run.id,
        tree_value(run, selected),
        status_line(s),
        best_path_markdown(s),
        best_code(s),
        timeline_markdown(s),
        slider,
        tree_file(run),
        target_line(run, None if s.can_continue() else f"the open search has ended ({s.tree.stopped})"),
    )


# --- lifecycle ----------------------------------------------------------------------------
def find_run(ctx: StudioContext, run_id: str | None, caller: str = "") -> Run | None:
    """The live run, else the stored run of that id reopened (after a restart), else None.

    Another user's run is refused (:func:`ui.access.require_run`), never returned.
    """
    require_run(ctx, run_id, caller)
    run = ctx.runs.get(run_id)
    if run is not None or not run_id or ctx.store is None or not ctx.store.has_run(run_id):
        return run
    owner = run_owner(ctx, run_id) or ""

    def reopen() -> Search:
        try:
            tree = ctx.store.load_tree(run_id)
        except (UnknownRun, sqlite3.Error, ValueError, KeyError) as exc:
            raise UserError(f"cannot reopen run {run_id} from the database: {exc}") from None
        return Search(tree, backend(ctx, tree.model.get("adapter")))

    return ctx.runs.get_or_add(run_id, reopen, owner=owner)


def reopen_run(ctx: StudioContext, run_id: str | None, caller: str = "") -> Run:
    """``get_run``, but a live copy another process saved over is dropped and reloaded from the store."""
    live = find_run(ctx, run_id, caller)
    if live is not None and live.stale:
        ctx.runs.discard(live)
    return get_run(ctx, run_id, caller)


def get_run(ctx: StudioContext, run_id: str | None, caller: str = "") -> Run:
    run = find_run(ctx, run_id, caller)
    if run is None:
        if run_id:
            raise UserError(f"run {run_id} is neither open nor in the database")
        raise UserError("no search yet: press New search first")
    return run


def backend(ctx: StudioContext, adapter: str | None = None):
    """The studio's model, with a registered LoRA adapter on top when one is named."""
    try:
        return ctx.backends.get(ctx.backend, ctx.model, adapter or None)
    except (BackendError, ValueError, KeyError) as exc:
        raise UserError(str(exc).strip("'\"")) from None


def load_live(ctx: StudioContext, adapter: str | None = None) -> Iterator[str]:
    """Load the studio's model (and adapter) if it is not loaded yet, yielding what the load is doing.

    The first load of an embedded model includes its one-time conversion (a minute or more), which
    the status line shows with its progress instead of the page standing still.
    """
    adapter = adapter_name(ctx, adapter)
    if ctx.backends.is_loaded(ctx.backend, ctx.model, adapter):
        return
    yield from live(lambda: backend(ctx, adapter), lambda: ctx.backends.preparing or "loading the model ...")


def save(ctx: StudioContext, run: Run) -> None:
    """Autosave after an action; a failed save warns (the run stays in memory) instead of failing it."""
    try:
        save_run(ctx.store, run)
    except StaleRun as exc:
        run.stale = True
        gr.Warning(
            f"{exc}. This studio's copy was not saved: download its tree to keep it, "
            "then open the run again from History to go on from the stored version."
        )
    except (sqlite3.Error, OSError) as exc:
        gr.Warning(f"autosave failed ({exc}); run {run.id} is still open here: download its tree to keep it")


def new_search(
    ctx: StudioContext,
    problem_id: str | None,
    text: str,
    config: SearchConfig,
    owner: str,
    adapter: str | None = None,
    tests: str = "",
) -> Run:
    adapter = adapter_name(ctx, adapter)  # a registered adapter's name, never a path
    problem = panel_problem(problem_id, text, tests)
    search = Search.start(problem, config, backend(ctx, adapter))
    run = ctx.runs.get(ctx.runs.add(search, owner=owner))
    save(ctx, run)
    if config.exec_weight > 0 and not problem.visible_tests:
        gr.Warning(NO_TESTS)
    return run


NO_TESTS = (
    "this problem has no visible tests, so the search cannot run its code: the reward is the critic's "
    "alone. Type assert lines in the tests box or under the function to ground it."
)


POLL_S = 0.5  # how often a running action refreshes its progress line
FIRST_LINE_S = 0.1  # how soon it shows its first


def step(run: Run) -> None:
    search = run.search
    if search.finished:
        _resume(search, 1)
    _step_or_pause(search)


def live(work: Callable[[], None], line: Callable[[], str], every: float = POLL_S) -> Iterator[str]:
    """Run ``work`` in a thread, yielding ``line()`` every ``every`` seconds until it ends; its error is raised here."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the caller's thread, which shows it
            failure.append(exc)

    worker = threading.Thread(target=target, name="search-action", daemon=True)
    worker.start()
    wait = min(FIRST_LINE_S, every)  # the first line soon: the phase shows as soon as it starts
    while True:
        worker.join(wait)
        if not worker.is_alive():
            break
        yield line()
        wait = every
    if failure:
        raise failure[0]


def live_value(
    work: Callable[[], T], line: Callable[[], str], every: float = POLL_S
) -> Generator[str, None, T]:
    """:func:`live` for work that returns a value: ``result = yield from live_value(...)``."""
    box: list[T] = []
    yield from live(lambda: box.append(work()), line, every)
    return box[0]


def relay(lines: Generator[str, None, T], wrap: Callable[[str], Any]) -> Generator[Any, None, T]:
    """Each progress line of a live action as the outputs ``wrap`` builds from it; returns its result."""
    while True:
        try:
            line = next(lines)
        except StopIteration as done:
            return done.value
        yield wrap(line)


def busy(
    label: str, work: Callable[[], T], wrap: Callable[[str], Any], restore: Callable[[], str]
) -> Generator[Any, None, T]:
    """Run a slow action in a thread, its line ("▶ <label> · N s") shown through ``wrap``; ``work``'s result.

    On an error the line ``restore()`` gives is shown again before the error is raised, so a refused
    action leaves the page as it was.
    """
    started = time.monotonic()
    yield wrap(starting_line(label))
    try:
        return (yield from relay(live_value(work, lambda: busy_line(label, started)), wrap))
    except GeneratorExit:  # the page went away: nothing to show, and a generator may not yield now
        raise
    except BaseException:
        yield wrap(restore())
        raise


def busy_line(label: str, started: float) -> str:
    """The status line of a slow action other than Step and Run (writing code, editing a step ...)."""
    return f"▶ {label} · {time.monotonic() - started:.0f} s"


def progress_line(
    search: Search,
    started: float,
    done: int = 0,
    total: int = 1,
    *,
    done_at: float | None = None,
    drawn: int | None = None,
) -> str:
    """What a running Step or Run shows: the phase now, time spent, and an ETA once an iteration is done.

    ``done`` and ``total`` count iterations (a wave runs several); ``done_at`` is the elapsed time when
    the last of them finished, so the ETA is the pace so far minus the time since: it only falls while
    an iteration runs. ``drawn`` is the node count of the tree on the page (new nodes are drawn when
    their wave ends), so the line counts what the user sees.
    """
    now = search.activity
    elapsed = time.monotonic() - started
    eta = ""
    if 0 < done < total:
        left = (done_at if done_at is not None else elapsed) / done * total - elapsed
        eta = f" · about {left:.0f} s left" if left >= 1 else " · finishing"
    of = f" ({done} of {total} done this run)" if total > 1 else ""
    doing = now.describe() if now is not None else f"iteration {search.tree.iteration + 1} · starting"
    nodes = len(search.tree.nodes) if drawn is None else drawn
    return (
        f"**{search.tree.problem.id}** · ▶ running {doing}{of} · {nodes} nodes drawn · "
        f"{elapsed:.0f} s elapsed{eta}"
    )


def starting_line(what: str) -> str:
    """The status line from the moment an action is pressed until it reports its own progress."""
    return f"▶ {what} …"


def step_live(run: Run) -> Iterator[str]:
    """:func:`step`, yielding a progress line while the iteration runs."""
    started, drawn = time.monotonic(), len(run.search.tree.nodes)
    yield from live(lambda: step(run), lambda: progress_line(run.search, started, drawn=drawn))


def _resume(search: Search, n: int) -> None:
    try:
        search.resume(n)
    except SearchEnded as exc:
        raise UserError(str(exc)) from None


def _step_or_pause(search: Search) -> None:
    try:
        search.step()
    except SearchPaused as exc:
        raise UserError(
            f"{exc}. Nothing was lost: the tree is as it was before this iteration. "
            "Press Step or Run to resume once the model is reachable again."
        ) from None
    except BackendError as exc:  # waiting will not help: say what the model refused
        raise UserError(
            f"the model cannot run this iteration: {exc}. The tree is as it was before it."
        ) from None


def run_iterations(run: Run, n: int) -> Iterator[str | None]:
    """Run ``n`` iterations, a wave at a time: a progress line while a wave runs, None after each one.

    Pause (the run's flag) ends the loop after the wave in flight, with a PAUSED event and one more None.
    """
    search = run.search
    if n < 1:
        raise UserError("iterations must be at least 1")
    run.stop_requested.clear()
    _resume(search, n)
    started, first = time.monotonic(), search.tree.iteration
    done_at: float | None = None
    while not search.finished and not run.stop_requested.is_set():
        line = functools.partial(
            progress_line,
            search,
            started,
            search.tree.iteration - first,
            n,
            done_at=done_at,
            drawn=len(search.tree.nodes),
        )
        yield from live(lambda: _step_or_pause(search), lambda line=line: line() + pausing(run))
        done_at = time.monotonic() - started
        yield None
    if run.stop_requested.is_set() and not search.finished:
        search.note_paused("paused by the user")  # a Timeline row, drawn by one more render
        yield None


def pausing(run: Run) -> str:
    """What the progress line adds once Pause is pressed: when the pause takes effect."""
    return " · ‖ pausing when this wave ends" if run.stop_requested.is_set() else ""


def steer(run: Run, action: str, node: float | None, text: str = "") -> int | None:
    """Apply one steering action; returns the node to select afterwards."""
    if node is None:
        raise UserError("select a node first (click it in the tree)")
    node_id = int(node)
    s = run.search
    try:
        if action == "prune":
            s.prune(node_id)
        elif action == "unprune":
            s.unprune(node_id)
        elif action == "force":
            s.force(node_id)
        elif action == "edit":
            s.edit(node_id, text)
        elif action == "add":
            return s.add_step(node_id, text).node
        else:
            raise UserError(f"unknown action {action!r}")
    except (SteeringError, KeyError) as exc:
        raise UserError(str(exc).strip("'\"")) from None
    return node_id


def upload_id(tree: Tree, owner: str) -> str:
    """The run id of an uploaded tree: the same file from the same person is the same run."""
    digest = hashlib.sha256(f"{owner}\n{tree.to_json()}".encode()).hexdigest()
    return f"up{digest[:10]}"


_download_dir: Path | None = None


def tree_file(run: Run) -> str:
    """The tree as a JSON file for the download button (one file per run, rewritten on each change)."""
    global _download_dir
    if _download_dir is None:
        _download_dir = Path(tempfile.mkdtemp(prefix="sra-trees-"))  # 0700, this process's own
    path = _download_dir / f"{run.search.tree.problem.id.replace('/', '_')}-{run.id}.json"
    with run.search.lock:
        text = run.search.tree.to_json()
    write_atomic(path, text)
    return str(path)


def rescore_markdown(rows) -> str:
    if not rows:
        return "_No scored node in that subtree._"
    out = ["| node | step | old score | new score | Δ value |", "|---|---|---|---|---|"]
    for r in rows:
        old = "UNPARSED" if r.old_score is None else f"{r.old_score:g}"
        new = "UNPARSED" if r.new_score is None else f"{r.new_score:g}"
        out.append(f"| #{r.node_id} | {html.escape(r.step[:70])} | {old} | {new} | {r.delta:+.3f} |")
    return "\n".join(out)
