"""The headless evaluation: ``python launch.py evaluate --split first-40 --mode greedy``.

Prints one progress line per problem (stderr) and a summary table (stdout): pass@k
over all problems and over those not in the adapter's training data, then each
problem's verdict. The result is stored in the studio database (unless
``--no-save``) after every problem, so an interrupted run keeps what it finished.
Bad input (unknown split, problem or adapter, k > samples ...) is a one-line
:class:`~cli.common.UsageError`.

Example::

    python launch.py evaluate --split first-40                        # greedy pass@1, base model
    python launch.py evaluate --problems 0,2,7 --adapter v1-lora --mode mcts --iterations 4
    python launch.py evaluate --split first-10 --samples 5 --temperature 0.8 --k 1,5
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from cli.common import BACKEND_HELP, MODEL_HELP, UsageError, add_engine_arg, open_store
from cli.models import prepare
from core.backends import BACKENDS
from core.evaluation.report import rates
from core.evaluation.run import evaluate
from core.evaluation.spec import EvalResult, EvalSpec, ProblemResult
from core.llm import BackendError, LLMBackend
from core.problems.problem import UnknownProblem
from core.problems.sources import split


@dataclass(frozen=True)
class EvalArgs:
    split: str | None = None
    problems: str | None = None  # comma-separated ids ("HumanEval/0,7")
    model: str = "embedded"
    adapter: str | None = None
    backend: str = "transformers"
    mode: str = "greedy"
    samples: int = 1
    temperature: float = 0.0
    k: str = "1"
    max_tokens: int = 384
    iterations: int | None = None
    preset: str | None = None
    seed: int = 0
    batch: int | None = None  # None: 8 for transformers, 32 for vLLM (it batches what is in flight)
    save: bool = True


SMALL_BATCHES = ("transformers",)  # padded batches: past 8 rows a call gains little and holds memory


def build_spec(args: EvalArgs, adapter: str | None = None) -> EvalSpec:
    """The spec the arguments describe; ``adapter`` is the adapter's registry name."""
    if args.split and args.problems:
        raise UsageError("give either --split or --problems, not both")
    try:
        if args.problems:
            ids = tuple(p.strip() for p in args.problems.split(",") if p.strip())
        elif args.split:
            ids = split(args.split)
        else:
            raise UsageError("no problems given: use --split first-40 or --problems HumanEval/0,HumanEval/2")
        try:
            ks = tuple(int(k) for k in args.k.split(",") if k.strip())
        except ValueError:
            raise UsageError(f"--k must be comma-separated integers such as 1,5, got {args.k!r}") from None
        search = {}
        if args.preset is not None:
            search["preset"] = args.preset
        if args.iterations is not None:
            search["max_iterations"] = args.iterations
        if search and args.mode != "mcts":
            raise UsageError("--iterations and --preset apply only to --mode mcts")
        return EvalSpec(
            problems=ids,
            model=args.model,
            adapter=adapter,
            mode=args.mode,
            samples=args.samples,
            temperature=args.temperature,
            k=ks,
            max_tokens=args.max_tokens,
            search=search,
            seed=args.seed,
            backend=args.backend,
            batch=args.batch or (8 if args.backend in SMALL_BATCHES else 32),
        )
    except UnknownProblem as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def resolve_adapter(args: EvalArgs) -> tuple[str | None, set[str]]:
    """The adapter's registry name and the problems it was trained on (none without an adapter)."""
    if not args.adapter:
        return None, set()
    from core.backends.adapters import UnknownAdapter, get_adapter, same_base

    try:
        info = get_adapter(args.adapter)
    except UnknownAdapter as exc:
        raise UsageError(str(exc)) from None
    if not same_base(info.base_model, args.model):
        raise UsageError(f"adapter {info.name!r} was trained on {info.base_model!r}, not {args.model!r}")
    return info.name, set(info.problems)


def load(args: EvalArgs, err: TextIO) -> LLMBackend:
    from core.backends import load_backend  # imported here: loading torch is slow

    options = {"adapter": args.adapter} if args.adapter else {}
    if args.backend != "openai":
        prepare(args.model, err)
    err.write(
        f"loading {args.backend} model {args.model!r}{' + ' + args.adapter if args.adapter else ''} ...\n"
    )
    try:
        return load_backend(args.backend, args.model, **options)
    except (BackendError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def run_evaluate(args: EvalArgs, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> EvalResult:
    adapter, training = resolve_adapter(args)
    spec = build_spec(args, adapter)
    store = open_store() if args.save else None
    backend = load(args, err)
    overlap = sum(p in training for p in spec.problems)
    err.write(
        f"evaluating {len(spec.problems)} problems, {spec.mode}, {spec.samples} sample(s) each"
        + (f"; {overlap} of them in the adapter's training data" if adapter else "")
        + "\n"
    )
    started = time.monotonic()

    def progress(i: int, n: int, r: ProblemResult) -> None:
        err.write(f"[{i:>3}/{n}] {time.monotonic() - started:6.0f}s  {progress_line(r)}\n")

    result = evaluate(spec, backend, progress=progress, training_problems=training, store=store)
    out.write(summary(result))
    if store is not None:
        out.write(f"Stored as evaluation #{result.eval_id} in {store.path}\n")
    return result


def progress_line(r: ProblemResult) -> str:
    verdict = "PASS" if r.passed == r.samples else "part" if r.passed else "fail"
    failure = next((v.first_failure for v in r.verdicts if not v.passed), "")
    train = " [in training data]" if r.in_training_data else ""
    return (
        f"{r.problem_id:<14} {verdict} {r.passed}/{r.samples}  {r.tokens:>5} tok  {r.seconds:6.1f}s{train}"
        + (f"  {failure.splitlines()[0][:70]}" if failure else "")
    )


def summary(result: EvalResult) -> str:
    spec = result.spec
    unseen = [r for r in result.results if not r.in_training_data]
    lines = [
        "",
        f"{model_name(result.model_id, result.adapter)}, {spec.mode}, "
        f"{spec.samples} sample(s) at temperature {spec.temperature:g}: {result.status}, "
        f"{len(result.results)}/{len(spec.problems)} problems in {result.seconds:.1f}s",
        f"{'':<10}{f'all ({len(result.results)})':>14}{f'unseen ({len(unseen)})':>16}",
    ]
    for k in spec.k:
        a, u = result.pass_at.get(k), result.pass_at_unseen.get(k)
        lines.append(f"{f'pass@{k}':<10}{_pct(a):>14}{_pct(u):>16}")
    passed = [r.problem_id for r in result.results if r.passed]
    lines.append(f"Passed ({len(passed)}): {', '.join(passed) or 'none'}")
    lines += ["Problems:"] + [f"  {progress_line(r)}" for r in result.results]
    lines.append(f"Overall: {rates(result.pass_at)}")
    return "\n".join(lines) + "\n"


def model_name(model_id: str, adapter: str | None) -> str:
    """The model and its adapter, once (a backend's model id may already name its adapter)."""
    if not adapter:
        return f"{model_id} (base)"
    return model_id if adapter in model_id else f"{model_id} + {adapter}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


NAME = "evaluate"
HELP = "pass@k on HumanEval problems, judged by their hidden tests; stored in the database"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", help="all, first-N, last-N or a range such as HumanEval/0-39")
    p.add_argument(
        "--problems", help="comma-separated HumanEval ids instead of a split, e.g. 0,2,HumanEval/7"
    )
    p.add_argument("--backend", choices=BACKENDS, default="transformers", help=BACKEND_HELP)
    add_engine_arg(p)
    p.add_argument("--model", default="embedded", help=MODEL_HELP)
    p.add_argument("--adapter", help="a registered LoRA adapter on top of the model")
    p.add_argument(
        "--mode", choices=("greedy", "mcts"), default="greedy", help="code straight away, or MCTS then code"
    )
    p.add_argument("--samples", type=int, default=1, help="samples per problem (n; > 1 needs --temperature)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy decoding (default)")
    p.add_argument("--k", default="1", help="comma-separated k of pass@k, each at most --samples (default 1)")
    p.add_argument("--max-tokens", type=int, default=384, help="tokens for the code reply (default 384)")
    p.add_argument("--iterations", type=int, help="mcts: iteration budget of each search")
    p.add_argument("--preset", help="mcts: search preset (default: 'paper defaults')")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--batch",
        type=int,
        help="greedy: problems per model call (default 8 for transformers, 32 for vLLM and servers)",
    )
    p.add_argument(
        "--save", action=argparse.BooleanOptionalAction, default=True, help="store the result (default)"
    )


def run(args: argparse.Namespace) -> int:
    names = EvalArgs.__dataclass_fields__
    run_evaluate(EvalArgs(**{k: v for k, v in vars(args).items() if k in names}))
    return 0
