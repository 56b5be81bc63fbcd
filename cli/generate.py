"""The headless batch generation: ``python launch.py generate --problems humaneval --out runs/gen1``.

A progress bar on stderr (redrawn with ``\\r`` on a terminal, one line per problem
otherwise), a summary on stdout. Bad input (an unknown problem source, a bad JSONL line,
a bad preset, an unreachable server) is one ``error:`` line and exit status 2; Ctrl-C
stops taking problems and exits 130 (rerun to continue); a failed problem makes it 1.

Example::

    python launch.py generate --problems HumanEval/0-7 --backend openai \\
        --base-url http://127.0.0.1:8000/v1 --concurrency 4 --out runs/gen1
    # [#####...............] 2/8 25%  3.1 nodes/s  140 tok/s  ETA 0:42  HumanEval/1 ok visible 1/1 hidden pass
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from cli.common import MODEL_HELP, UsageError, add_engine_arg, open_store
from cli.models import prepare
from core.backends import BACKENDS
from core.generation.output import OutputDir
from core.generation.run import OWNER, GenerateProgress, GenerateSpec, GenerateSummary, generate
from core.llm import BackendError, LLMBackend
from core.paths import data_dir
from core.problems.problem import Problem
from core.problems.sources import load_problems
from core.store.runs import StoreError

DEFAULT_CONCURRENCY = {"transformers": 1, "vllm": 8, "openai": 8, "vllm-server": 8}


NAME = "generate"
HELP = "SFT data for many problems: search, best path, code, check (resumable)"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--problems",
        required=True,
        help="humaneval (all 164), a split (first-40, HumanEval/0-7) or a JSONL file of "
        '{"prompt", "id"?, "entry_point"?, "tests"?: [assert lines]}',
    )
    p.add_argument("--backend", choices=BACKENDS, default="transformers", help="default: transformers")
    add_engine_arg(p)
    p.add_argument(
        "--model",
        default="embedded",
        help=f"{MODEL_HELP}; openai: the served name ('' or embedded: the server's only model)",
    )
    p.add_argument("--base-url", help="openai: the server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--api-key", help="openai: the API key (default: $OPENAI_API_KEY)")
    p.add_argument(
        "--concurrency", type=int, help="problems searched at once (default: 1 for transformers, else 8)"
    )
    p.add_argument("--out", required=True, help="folder of sft.jsonl, done.jsonl and spec.json")
    p.add_argument("--iterations", type=int, help="iteration budget of each search (default: the preset's)")
    p.add_argument("--preset", default="paper defaults", help="search preset (default: 'paper defaults')")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-check", action="store_true", help="skip running the code on the tests")
    p.add_argument("--limit", type=int, help="only the first N problems of the source")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command; the exit status: 0, 1 (some problems failed), 2 (bad input), 130 (interrupted)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        spec, problems = build(args)
        try:
            store = open_store()
        except StoreError as exc:
            raise UsageError(f"cannot open the studio database in {data_dir()}: {exc}") from None
        backend = load(args, spec.concurrency, err)
    except UsageError as exc:
        err.write(f"error: {exc}\n")
        return 2
    bar = ProgressBar(err)
    try:
        summary = generate(
            spec, backend, store, problems=problems, progress=bar, warn=lambda m: err.write(f"warning: {m}\n")
        )
    finally:
        bar.close()
        close = getattr(backend, "close", None) or getattr(getattr(backend, "inner", None), "close", None)
        if close is not None:
            close()
    out.write(summary_text(summary, str(store.path)))
    if summary.interrupted:
        err.write(f"interrupted: {summary.records_in_all} done, rerun to continue\n")
        return 130
    return 1 if summary.failed else 0


def build(args: argparse.Namespace) -> tuple[GenerateSpec, list[Problem]]:
    """The spec and its problems, checked before any model loads (and the output folder readable)."""
    if args.backend != "openai" and (args.base_url or args.api_key):
        raise UsageError("--base-url and --api-key apply only to --backend openai")
    concurrency = args.concurrency if args.concurrency is not None else DEFAULT_CONCURRENCY[args.backend]
    try:
        spec = GenerateSpec(
            problems=args.problems,
            out=args.out,
            concurrency=concurrency,
            preset=args.preset,
            iterations=args.iterations,
            seed=args.seed,
            check=not args.no_check,
            limit=args.limit,
        )
        problems = load_problems(spec.problems)
        OutputDir(spec.out).load()  # a damaged manifest fails now, not after minutes of model loading
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return spec, problems


def load(args: argparse.Namespace, concurrency: int, err: TextIO) -> LLMBackend:
    """The backend; an in-process engine is shared through a coalescing wrapper when concurrency > 1."""
    from core.backends import load_backend  # imported here: loading torch is slow
    from core.backends.coalescing import CoalescingBackend

    options = {}
    if args.backend == "openai":  # each search sends up to k requests at once
        options = {
            "base_url": args.base_url,
            "api_key": args.api_key,
            "concurrency": max(16, 4 * concurrency),
        }
    if args.backend != "openai":
        prepare(args.model, err)
    err.write(f"loading {args.backend} model {args.model!r} ...\n")
    try:
        backend = load_backend(args.backend, args.model, **options)
    except (BackendError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if concurrency > 1 and args.backend != "openai":  # HTTP concurrency already batches on the server
        backend = CoalescingBackend(backend)
    return backend


class ProgressBar:
    """Renders :class:`GenerateProgress` reports on ``stream``."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None, width: int = 20) -> None:
        self.stream, self.width = stream, width
        self.tty = tty if tty is not None else bool(getattr(stream, "isatty", lambda: False)())
        self._shown = 0  # length of the line on screen (tty)

    def __call__(self, p: GenerateProgress) -> None:
        if not p.problem_id:
            self.stream.write(
                f"{p.total} problems: {p.skipped} done before (skipped), {p.total - p.skipped} to go\n"
            )
        line = render(p, self.width)
        if self.tty:
            self.stream.write("\r" + line.ljust(self._shown))
            self._shown = len(line)
        elif p.problem_id:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\n")
            self._shown = 0


def render(p: GenerateProgress, width: int = 20) -> str:
    """``[#####.....] 5/8 62%  3.1 nodes/s  140 tok/s  ETA 0:42  HumanEval/4 ok``"""
    share = p.finished / p.total if p.total else 1.0
    filled = int(share * width)
    parts = [
        f"[{'#' * filled}{'.' * (width - filled)}] {p.finished}/{p.total} {share:.0%}",
        f"{_rate(p.nodes, p.elapsed)} nodes/s",
        f"{_rate(p.tokens, p.elapsed)} tok/s",
        f"ETA {clock(p.eta_s)}",
    ]
    if p.failed:
        parts.append(f"{p.failed} failed")
    if p.problem_id:
        parts.append(f"{p.problem_id} {p.outcome}")
    return "  ".join(parts)


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f}" if seconds > 0 else "0.0"


def clock(seconds: float | None) -> str:
    """0:42, 12:05, 1:02:03; ? when unknown."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def summary_text(s: GenerateSummary, db: str) -> str:
    lines = [
        f"done {s.done}, skipped {s.skipped} (done before), failed {len(s.failed)}, of {s.total} problems"
        f" in {clock(s.seconds)}" + (" (interrupted)" if s.interrupted else ""),
        f"records: {s.records} ({s.records_in_all} in all); trees in {db} (owner {OWNER!r})",
        f"throughput: {_rate(s.nodes, s.seconds)} nodes/s, {_rate(s.tokens, s.seconds)} tok/s,"
        f" {_rate(s.done, s.seconds / 60 if s.seconds else 0)} problems/min",
    ]
    if s.failed:
        lines.append("failed (a rerun retries them):")
        lines += [f"  {pid}: {reason}" for pid, reason in sorted(s.failed.items())]
    return "\n".join(lines) + "\n"
