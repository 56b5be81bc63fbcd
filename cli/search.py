"""The headless search command: ``python launch.py search ...``.

Bad input (an empty problem, an unknown id, a missing model, a bad config
value) raises :class:`UsageError`, which ``launch.py`` prints as one line before
exiting with status 2. The tree is written after every iteration, atomically,
so an interrupted run keeps what it finished: to ``--out`` as JSON, and with
``--save`` to the studio database (``core/store/runs.py``), from which
``--resume RUN_ID --iterations N`` continues it until it has run N iterations.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cli.common import BACKEND_HELP, MODEL_HELP, UsageError, add_engine_arg, open_store
from cli.models import prepare
from core.atomic import write_atomic
from core.backends import BACKENDS
from core.config import ConfigError, SearchConfig
from core.llm import BackendError
from core.problems.problem import Problem, UnknownProblem, custom_problem, get_problem
from core.prompts import format_steps
from core.search.mcts import Search
from core.store.runs import Store, UnknownRun
from core.tree.nodes import Tree
from core.tree.queries import latest_run
from core.tree.records import ExecutionRecord, VerdictSummary


@dataclass(frozen=True)
class SearchArgs:
    problem: str | None = None
    problem_text: str | None = None
    tests: str = ""
    backend: str = "transformers"
    model: str = "embedded"
    adapter: str | None = None  # a registered LoRA adapter on top of the model (policy and critic)
    config: str | None = None
    iterations: int | None = None
    seed: int | None = None
    width: int | None = None
    exec_weight: float | None = None
    out: str | None = None
    code: bool = True
    save: bool = False  # autosave to the store after every iteration
    run_id: str | None = None  # the new run's id in the store (default: a random one)
    resume: str | None = None  # continue this stored run (implies save)


def resolve_problem(args: SearchArgs) -> Problem:
    if args.problem and args.problem_text is not None:
        raise UsageError("give either --problem or --problem-text, not both")
    if args.problem_text is not None:
        try:
            return custom_problem(args.problem_text, args.tests)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if not args.problem:
        raise UsageError("no problem given: use --problem HumanEval/<n> or --problem-text TEXT")
    try:
        return get_problem(args.problem)
    except UnknownProblem as exc:
        raise UsageError(exc.args[0] if exc.args else str(exc)) from None


def resolve_config(args: SearchArgs) -> SearchConfig:
    try:
        cfg = SearchConfig.from_file(args.config) if args.config else SearchConfig()
        changes = {}
        if args.iterations is not None:
            changes["max_iterations"] = args.iterations
        if args.seed is not None:
            changes["seed"] = args.seed
        if args.width is not None:
            changes["width"] = args.width
        if args.exec_weight is not None:
            changes["exec_weight"] = args.exec_weight
        return cfg.replace(**changes) if changes else cfg
    except ConfigError as exc:
        raise UsageError(f"bad config: {exc}") from None


def store_for(args: SearchArgs) -> Store | None:
    return open_store() if args.save or args.resume or args.run_id else None


def resumed_tree(args: SearchArgs, store: Store) -> Tree:
    given = [flag for flag, value in RUN_FIXED_FLAGS if getattr(args, value) is not None]
    if given:
        raise UsageError(f"--resume continues a saved run as it was; drop {', '.join(given)}")
    try:
        return store.load_tree(args.resume)
    except UnknownRun as exc:
        raise UsageError(f"{exc}; see the runs in {store.path}") from None


RUN_FIXED_FLAGS = (
    ("--problem", "problem"),
    ("--problem-text", "problem_text"),
    ("--config", "config"),
    ("--seed", "seed"),
    ("--width", "width"),
    ("--exec-weight", "exec_weight"),
    ("--run-id", "run_id"),
    ("--adapter", "adapter"),
)


def run_search(args: SearchArgs, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> Search:
    store = store_for(args)
    tree = resumed_tree(args, store) if args.resume and store is not None else None
    if tree is None:
        problem, config = resolve_problem(args), resolve_config(args)
    else:
        problem, config = tree.problem, tree.config
    run_id = args.resume or args.run_id or uuid.uuid4().hex[:12]
    if tree is None and store is not None and store.has_run(run_id):
        raise UsageError(f"run {run_id!r} already exists in the store; continue it with --resume {run_id}")
    out_path = Path(args.out) if args.out else None
    if out_path is not None and not out_path.parent.exists():
        raise UsageError(f"cannot write {out_path}: folder {out_path.parent} does not exist")
    from core.backends import load_backend  # imported here: loading torch is slow

    try:
        if args.backend != "openai":
            prepare(args.model, err)
        err.write(f"loading {args.backend} model {args.model!r} ...\n")
        adapter = args.adapter or (tree.model.get("adapter") if tree is not None else None)
        backend = load_backend(args.backend, args.model, **({"adapter": adapter} if adapter else {}))
    except (BackendError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if tree is None:
        search, target = Search.start(problem, config, backend), config.max_iterations
    else:
        search, target = Search(tree, backend), args.iterations or config.max_iterations
        if tree.model.get("model_id") != backend.model_id:
            err.write(f"note: run {run_id} was searched with {tree.model.get('model_id')!r}\n")
        if target > tree.iteration:
            search.extend_budget(target - tree.iteration)

    def save() -> None:
        if store is not None:
            store.save_tree(run_id, search.tree)
        if out_path is not None:
            write_atomic(out_path, search.tree.to_json())

    if store is not None:
        err.write(f"run id: {run_id} (saved to {store.path})\n")
        save()
    started = time.perf_counter()
    verb = "searching" if tree is None else f"resuming at iteration {tree.iteration}:"
    err.write(
        f"{verb} {problem.id} for up to {target} iterations (seed {config.seed}, width {config.width})\n"
    )
    while not search.finished and search.tree.iteration < target:
        events = search.step(target - search.tree.iteration)
        best = search.best_node()
        chosen = ",".join(f"#{e.node}" for e in events if e.kind.value == "selected") or "-"
        err.write(
            f"iter {search.tree.iteration:>3}/{target}  nodes {len(search.tree.nodes):>4}  "
            f"selected {chosen}  best #{best.id} V={best.value:.2f}  "
            f"{time.perf_counter() - started:6.1f}s\n"
        )
        save()
    err.write(f"stopped: {search.tree.stopped or f'at iteration {search.tree.iteration}'}\n")
    best = search.best_node()
    if args.code and best.depth > 0 and (tree is None or best.code is None):
        search.write_code(best.id)
    save()
    print_summary(search, out)
    if store is not None:
        out.write(f"Run id: {run_id} (continue with: launch.py search --resume {run_id} --iterations N)\n")
    return search


def print_summary(search: Search, out: TextIO) -> None:
    tree = search.tree
    best = search.best_node()
    rate = tree.usage.parse_rate
    out.write(f"\nProblem {tree.problem.id}: {len(tree.nodes)} nodes, {tree.iteration} iterations\n")
    out.write(f"Critic parse rate: {'n/a' if rate is None else f'{rate:.0%}'}\n")
    out.write(f"Best path (node #{best.id}, V={best.value:.3f}, {best.terminal_reason or 'not terminal'}):\n")
    out.write(textwrap.indent(format_steps(tree.steps(best.id)), "  ") + "\n")
    if best.code is not None:
        flag = " (truncated)" if best.code.truncated else ""
        out.write(f"Code{flag}:\n{best.code.code or '(no code found in the reply)'}\n")
    for node in tree.nodes.values():
        if (ex := latest_run(node)) is not None:
            out.write(f"Node #{node.id}: {reward_breakdown(ex)}\n")


def reward_breakdown(ex: ExecutionRecord) -> str:
    def verdict(v: VerdictSummary | None) -> str:
        return (
            "n/a"
            if v is None
            else f"{v.tests - v.failed}/{v.tests} passed" + (f" ({v.error_kind})" if v.error_kind else "")
        )

    leak = " LEAKY (hidden tests in the reward)" if ex.leaky else ""
    return (
        f"reward {ex.reward:.3f} = (1-{ex.weight:g})*critic {ex.critic_value:.3f} + {ex.weight:g}*"
        f"{'hidden' if ex.leaky else 'visible'} pass rate; visible {verdict(ex.visible)}; "
        f"hidden {verdict(ex.hidden)}{leak}"
    )


NAME = "search"
HELP = "run one search headless and print the best path and its code"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--problem", help="a HumanEval id such as HumanEval/0")
    p.add_argument("--problem-text", help="a custom problem, as text")
    p.add_argument("--tests", default="", help="assert lines for a custom problem (visible tests)")
    p.add_argument("--backend", choices=BACKENDS, default="transformers", help=BACKEND_HELP)
    add_engine_arg(p)
    p.add_argument("--model", default="embedded", help=MODEL_HELP)
    p.add_argument(
        "--adapter", help="a registered LoRA adapter (name or folder) on top of --model, as policy and critic"
    )
    p.add_argument("--config", help="a JSON file of config fields")
    p.add_argument("--iterations", type=int, help="iteration budget (config max_iterations)")
    p.add_argument("--seed", type=int, help="random seed (config seed)")
    p.add_argument(
        "--width",
        type=int,
        help="nodes selected and expanded together per wave, one batched call per role (config width; 1: sequential)",
    )
    p.add_argument(
        "--exec-weight",
        type=float,
        help="w: V = (1-w)*critic + w*pass rate of the docstring examples, for every new step (0: the paper)",
    )
    p.add_argument("--out", help="write the tree JSON here (after every iteration)")
    p.add_argument(
        "--no-code", dest="code", action="store_false", help="skip turning the best path into code"
    )
    p.add_argument(
        "--save", action="store_true", help="save the run to the studio database after every iteration"
    )
    p.add_argument("--run-id", help="id of the new run in the database (implies --save)")
    p.add_argument(
        "--resume", metavar="RUN_ID", help="continue a saved run until it has run --iterations in all"
    )


def run(args: argparse.Namespace) -> int:
    run_search(SearchArgs(**{k: v for k, v in vars(args).items() if k in SearchArgs.__dataclass_fields__}))
    return 0
