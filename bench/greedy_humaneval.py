"""Greedy pass@1 of the embedded models on all 164 HumanEval problems, judged by the hidden tests.

Declared before the run (issue "A real code model inside"): every HumanEval problem, n = 1,
temperature 0, the studio's own direct-code prompt and code extraction (``launch.py evaluate``'s
greedy mode, 8 problems a model call, 384 new tokens), one run per model. The default model and
the tiny one run in the same invocation, so their rows share the commit and the machine.

Each model's evaluation is stored in ``bench/results/greedy_humaneval.db`` after every problem; a
rerun goes on from the last whole batch of an unfinished one (commit the database to carry it
across sessions). The table, with per-problem rows, goes to ``bench/results/greedy_humaneval.md``.

    python bench/greedy_humaneval.py                                 # default and tiny model
    python bench/greedy_humaneval.py --models qwen2.5-coder-1.5b --split HumanEval/0-19
    python bench/greedy_humaneval.py --table                         # only rewrite the table
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends.catalogue import DEFAULT_KEY, TINY_KEY, resolve  # noqa: E402
from core.evaluation.run import evaluate  # noqa: E402
from core.evaluation.spec import EvalSpec, ProblemResult  # noqa: E402
from core.evaluation.tables import EvalTables  # noqa: E402
from core.machine import cpu_name  # noqa: E402
from core.problems.sources import split  # noqa: E402
from core.store.runs import Store  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DB = RESULTS / "greedy_humaneval.db"
TABLE = RESULTS / "greedy_humaneval.md"


def spec_for(model: str, problems: tuple[str, ...]) -> EvalSpec:
    return EvalSpec(problems, model=model)


def latest(tables: EvalTables, spec: EvalSpec):
    """The newest stored evaluation of exactly this spec, or None."""
    wanted = EvalSpec.from_dict(spec.to_dict()).to_dict()
    rows = [r for r in tables.evals() if r.spec == wanted]
    return max(rows, key=lambda r: r.id) if rows else None


def run_model(store: Store, model: str, problems: tuple[str, ...]) -> None:
    from core.backends import load_backend

    tables = EvalTables(store)
    spec = spec_for(model, problems)
    row = latest(tables, spec)
    if row is not None and row.status == "finished":
        print(f"{model}: finished before (evaluation {row.id})", file=sys.stderr)
        return
    print(f"{model}: loading ...", file=sys.stderr)
    backend = load_backend("transformers", model)
    started = time.monotonic()

    def show(done: int, total: int, result: ProblemResult) -> None:
        mark = "pass" if result.passed else "fail"
        print(
            f"{model}: {done}/{total} {result.problem_id} {mark} ({time.monotonic() - started:.0f} s)",
            file=sys.stderr,
        )

    evaluate(spec, backend, progress=show, store=store, resume=row.id if row is not None else None)


def write_table(store: Store, models: list[str], problems: tuple[str, ...], out: Path = TABLE) -> str:
    tables = EvalTables(store)
    done = {}
    for model in models:
        row = latest(tables, spec_for(model, problems))
        if row is not None:
            done[model] = (row, {r.problem_id: r for r in tables.eval_results(row.id)})
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Greedy pass@1 on HumanEval, hidden tests (`bench/greedy_humaneval.py`)",
        "",
        f"Commit {commit}; CPU: {cpu_name()}; n = 1, temperature 0, 384 new tokens, the studio's direct-code "
        "prompt, 8 problems a model call; the dtype the backend picks on this CPU (bf16 where native, else fp32).",
        "",
        "| model | status | passed | pass@1 | tokens | wall s (not a speed measure: shared, paused) |",
        "|---|---|---|---|---|---|",
    ]
    for model, (row, results) in done.items():
        passed = sum(1 for r in results.values() if r.passed)
        tokens = sum(r.tokens for r in results.values())
        share = f"{passed / len(results):.1%}" if results else "-"
        name = resolve(model).name if resolve(model) else model
        status = "finished" if row.status == "finished" else "partial: resumable"
        lines.append(
            f"| {name} | {status} ({len(results)}/{len(problems)}) | {passed} | {share} | {tokens} | {row.seconds:.0f} |"
        )
    lines += ["", "Per problem (✓ passed the hidden tests, ✗ failed, blank: not run yet):", ""]
    names = [resolve(m).name if resolve(m) else m for m in done]
    lines.append("| problem | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for pid in problems:
        marks = []
        for _, results in done.values():
            r = results.get(pid)
            marks.append("" if r is None else "✓" if r.passed else "✗")
        lines.append(f"| {pid} | " + " | ".join(marks) + " |")
    text = "\n".join(lines) + "\n"
    out.write_text(text, encoding="utf-8")
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=f"{DEFAULT_KEY},{TINY_KEY}", help="comma-separated catalogue keys")
    ap.add_argument("--split", default="all", help="all (the declared set), or a range for a smaller check")
    ap.add_argument("--table", action="store_true", help="only rewrite the table from the stored results")
    ap.add_argument("--db", type=Path, default=DB, help="where the evaluations are stored")
    ap.add_argument("--out", type=Path, default=TABLE, help="where the table goes")
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    problems = tuple(split(args.split))
    RESULTS.mkdir(parents=True, exist_ok=True)
    store = Store(args.db)
    if not args.table:
        for model in models:
            run_model(store, model, problems)
            write_table(store, models, problems, args.out)
    print(write_table(store, models, problems, args.out))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the committed .db then holds everything
    return 0


if __name__ == "__main__":
    sys.exit(main())
