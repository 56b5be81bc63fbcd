"""Does searching help? Hidden-test pass@1 of greedy code against MCTS-best-path-then-code, in one run.

On a fixed HumanEval subset, with the same model loaded once: greedy code straight from
the problem; then a search per problem with the studio's default preset ("paper
defaults", at a small iteration budget), its best path turned into code. With an adapter
(``--adapter NAME``, else the newest registered one trained on the same base, if any) both
again on the adapter. Prints a table and the ratio MCTS / greedy. Nothing is stored.

The default subset is the contiguous block HumanEval/20-29. The embedded 135M model passes
4 of the first 40 problems greedily, 3 of them in this block, so a block where it solves
nothing (both modes at 0%) is avoided; either mode has room to win or lose here.

    python bench/search_quality.py                     # ~10-15 min on a 2-core CPU
    python bench/search_quality.py --iterations 8 --problems 20-24 --adapter v1-lora
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends import load_backend  # noqa: E402
from core.evaluation.run import evaluate
from core.evaluation.spec import EvalResult, EvalSpec  # noqa: E402
from core.problems.sources import split

DEFAULT_PROBLEMS = "HumanEval/20-29"


def newest_adapter(model: str) -> str | None:
    try:
        from core.backends.adapters import list_adapters, same_base
    except ImportError:
        return None
    return next((a.name for a in list_adapters() if same_base(a.base_model, model)), None)


def run(label: str, spec: EvalSpec, backend, training: set[str]) -> EvalResult:
    print(f"  {label} {spec.mode} ...", flush=True)
    result = evaluate(
        spec,
        backend,
        training_problems=training,
        progress=lambda i, n, r: print(
            f"    [{i}/{n}] {r.problem_id} {'PASS' if r.passed else 'fail'}", flush=True
        ),
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--problems", default=DEFAULT_PROBLEMS, help="a split name or range (default %(default)s)"
    )
    ap.add_argument("--preset", default="paper defaults", help="search preset (default: %(default)s)")
    ap.add_argument("--iterations", type=int, default=4, help="search iteration budget (default 4)")
    ap.add_argument("--adapter", help="adapter to evaluate too (default: the newest registered one)")
    ap.add_argument("--no-adapter", action="store_true", help="skip the adapter even if one is registered")
    ap.add_argument("--model", default="embedded")
    args = ap.parse_args()
    problems = split(args.problems)
    adapter = None if args.no_adapter else args.adapter or newest_adapter(args.model)
    search = {"preset": args.preset, "max_iterations": args.iterations}

    rows: list[tuple[str, EvalResult]] = []
    for name in [None, adapter] if adapter else [None]:
        t0 = time.perf_counter()
        backend = load_backend("transformers", args.model, **({"adapter": name} if name else {}))
        training: set[str] = set()
        if name:
            from core.backends.adapters import get_adapter

            training = set(get_adapter(name).problems)
        label = name or "base"
        print(f"{label}: {backend.model_id} loaded in {time.perf_counter() - t0:.1f}s", flush=True)
        greedy = EvalSpec(problems, model=args.model, adapter=name)
        mcts = EvalSpec(problems, model=args.model, adapter=name, mode="mcts", search=search)
        rows += [(label, run(label, greedy, backend, training)), (label, run(label, mcts, backend, training))]

    first = rows[0][1]
    print(
        f"\n{len(problems)} problems {problems[0]}..{problems[-1]}, {first.model_id}, hidden tests;"
        f" MCTS: preset {args.preset!r}, max_iterations {args.iterations}, best path -> code"
    )
    print(
        f"{'model':<20}{'mode':<8}{'pass@1':>8}{'unseen':>8}{'passed':>8}{'seconds':>9}{'tokens':>9}  passed"
    )
    for label, r in rows:
        ok = [p.problem_id.removeprefix("HumanEval/") for p in r.results if p.passed]
        unseen = r.pass_at_unseen.get(1)
        print(
            f"{label:<20}{r.spec.mode:<8}{r.pass_at[1]:>8.1%}{'n/a' if unseen is None else f'{unseen:.1%}':>8}"
            f"{sum(p.passed for p in r.results):>5}/{len(r.results):<2}{r.seconds:>9.1f}"
            f"{sum(p.tokens for p in r.results):>9}  {','.join(ok) or '-'}"
        )
    for i in range(0, len(rows), 2):
        (label, g), (_, m) = rows[i], rows[i + 1]
        ratio = f"{m.pass_at[1] / g.pass_at[1]:.2f}x" if g.pass_at[1] else "n/a (greedy solved none)"
        print(
            f"MCTS / greedy pass@1 ({label}): {ratio}; time {m.seconds / g.seconds:.1f}x (target: MCTS > greedy)"
        )


if __name__ == "__main__":
    main()
