"""Does searching help? Hidden-test pass@1 of each method on the same declared problems, in one run.

Methods, all on one model load, every problem in turn (so an interrupted run still has paired data):

- ``greedy``: code straight from the problem, greedy decoding (the baseline);
- ``repair``: MCTS with "repairs what fails" (the best search: the direct program first, accepted when
  it passes the docstring examples; else a tree grown from its failure, each new step's code run on
  the examples, a failing test fed back below it, the answer chosen by running the passing programs);
- ``best_of_n``: the greedy program, then programs sampled at temperature 0.8 (four per call) until a
  call brings one that passes the examples or the tokens spent reach what ``repair`` spent on that
  problem (the fair baseline at equal tokens); among passing programs the answer is chosen as the
  search chooses (run on inputs the model writes, the largest agreeing group); with none, the greedy
  program;
- ``paper``: MCTS with "paper defaults" (the SRA-MCTS reference), best path then code;
- with ``--methods`` only: ``grounded`` ("runs the examples"), ``grounded_examples`` (the same with a
  worked example per role), ``grounded_sequential`` (``grounded`` at width 1).

The hidden tests (HumanEval's ``check``) judge every answer and never feed any method. Each
problem's result is appended to a JSONL file as soon as it is known; a rerun with the same settings
skips what is there. The table (pass@1 with a 95% Wilson interval, tokens, wall time, McNemar exact
p against greedy and against best-of-N) goes to stdout and to ``--table`` with the commit; the
verifier signals' AUROC over the search's nodes comes from ``bench/verifier_study.py``.

The problems are declared before any run: HumanEval/0-81, the training half of the paper table
(``--problems all`` for the 164).

    python bench/search_quality.py                            # HumanEval/0-81, 4 iterations
    python bench/search_quality.py --methods greedy,repair,best_of_n
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends import engine_backend, load_backend  # noqa: E402
from core.backends.catalogue import key_of  # noqa: E402
from core.backends.counting import CountingBackend  # noqa: E402
from core.config import GROUNDED, REPAIR, SearchConfig, preset  # noqa: E402
from core.evaluation.intervals import wilson  # noqa: E402
from core.evaluation.paired import mcnemar_exact  # noqa: E402
from core.evaluation.reward import report  # noqa: E402
from core.evaluation.run import evaluate  # noqa: E402
from core.evaluation.solvers import code_from, code_request, hidden_job  # noqa: E402
from core.evaluation.spec import EvalSpec  # noqa: E402
from core.execution.sandbox import run_tests  # noqa: E402
from core.machine import cpu_name  # noqa: E402
from core.problems.problem import Problem, get_problem  # noqa: E402
from core.problems.sources import split  # noqa: E402
from core.search.answer_choice import Outcome, choose  # noqa: E402
from core.search.grounding import problem_imports, run_inputs  # noqa: E402
from core.search.reasoner import Reasoner  # noqa: E402
from core.store.runs import Store  # noqa: E402
from core.tree.records import Usage  # noqa: E402

DECLARED = "HumanEval/0-81"
METHODS = ("greedy", "repair", "best_of_n", "paper")
BUDGET_FROM = "repair"  # best-of-N spends what this search spent on the same problem
SEARCHES = {
    "repair": {"preset": REPAIR},
    "paper": {"preset": "paper defaults"},
    "grounded": {"preset": GROUNDED},
    "grounded_examples": {"preset": GROUNDED, "worked_examples": True},
    "grounded_sequential": {"preset": GROUNDED, "width": 1},
}
EXTRA_METHODS = ("grounded", "grounded_examples", "grounded_sequential")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    method: str
    problem: str
    passed: bool
    tokens: int
    seconds: float
    settings: str
    run_id: str | None = None  # the stored tree (MCTS methods)
    samples: int = 1  # best_of_n: programs drawn
    visible_passed: bool | None = None
    cpu: str = ""  # the CPU it ran on: fp32 samples can still differ a little between CPU kinds


def settings_key(args: argparse.Namespace, dtype: str, method: str = "greedy") -> str:
    """Results are reused only under the same settings and numerics (bf16 and fp32 sample differently)."""
    model = key_of(args.model) or args.model  # "embedded" named SmolLM2 before the catalogue: never mix them
    settings = {"model": model, "iterations": args.iterations, "max_tokens": args.max_tokens, "dtype": dtype}
    # v2: best-of-N starts from the greedy program and chooses by running (v1 took its first pass);
    # v3: every method's code loses the reply's own top-level tests (a wrong self-check failed a correct
    # function: core/search/code_extract.py)
    settings["version"] = 3
    if method != "greedy":  # how an answer is chosen among passing programs (greedy chooses nothing)
        # v2: inputs printed/asserted/assigned are read; a candidate that raises where others return is out
        settings["answer_choice"] = 2
    width = SearchConfig().width
    if width != 1:  # the default width of the searches (results before waves had none: they were width 1)
        settings["width"] = width
    blob = json.dumps(settings)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def hidden_pass(problem: Problem, code: str) -> bool:
    """Judged exactly as an evaluation judges (after the problem's prompt: its imports and helpers)."""
    job = hidden_job(problem, code)
    return run_tests(
        job.code, job.tests, timeout_s=job.timeout_s, setup=job.setup, entry_point=job.entry_point
    ).passed


def run_eval(method: str, problem: Problem, backend, store: Store, args, key: str) -> Row:
    search = {} if method == "greedy" else {**SEARCHES[method], "max_iterations": args.iterations}
    spec = EvalSpec(
        (problem.id,),
        model=args.model,
        mode="greedy" if method == "greedy" else "mcts",
        max_tokens=args.max_tokens,
        search=search,
    )
    t0 = time.perf_counter()
    [done] = evaluate(spec, backend, store=store).results
    return Row(
        method,
        problem.id,
        bool(done.passed),
        done.tokens,
        round(time.perf_counter() - t0, 1),
        key,
        done.run_id,
    )


def run_greedy(problems: list[str], backend, args, key: str) -> list[Row]:
    spec = EvalSpec(tuple(problems), model=args.model, max_tokens=args.max_tokens, batch=8)
    t0 = time.perf_counter()
    done = evaluate(spec, backend).results
    share = round((time.perf_counter() - t0) / len(problems), 1)
    return [Row("greedy", r.problem_id, bool(r.passed), r.tokens, share, key) for r in done]


WAVE = 4  # best-of-N samples drawn per call (one request, n=WAVE): the CPU decodes them in one batch


def run_best_of_n(problem: Problem, backend, budget: int, args, key: str) -> Row:
    """The greedy program, then samples until a call brings one that passes the examples or ``budget``
    tokens are spent; among the passing programs of that call the answer is chosen by running them.

    A call draws ``WAVE`` samples, fewer when the budget left holds fewer (at the mean length so far),
    so the tokens spent end near the budget. With no visible tests the greedy program is the answer.
    """
    setup = problem_imports(problem)
    usage = Usage()
    reasoner = Reasoner(backend, preset(REPAIR), problem, usage)
    t0 = time.perf_counter()
    tokens, codes, passing, chosen = 0, [], [], None
    while True:
        first = not codes
        n = 1 if first else max(1, min(WAVE, round((budget - tokens) / max(1, tokens / len(codes)))))
        spec = EvalSpec(
            (problem.id,),
            model=args.model,
            max_tokens=args.max_tokens,
            samples=n,
            temperature=0.0 if first else 0.8,
        )
        [res] = backend.generate([code_request(problem, spec, seed=args.seed * 7919 + len(codes))])
        drawn = [code_from(c, problem) for c in res.completions]
        tokens += sum(c.completion_tokens for c in res.completions)
        codes += drawn
        if problem.visible_tests:
            passing = [
                c
                for c in drawn
                if run_tests(c, problem.visible_tests, setup=setup, entry_point=problem.entry_point).passed
            ]
        if passing or tokens >= budget or not problem.visible_tests or len(codes) >= 64:
            break
    if len(set(passing)) > 1:  # the search's rule: run them on new inputs, the largest agreeing group wins
        distinct = list(dict.fromkeys(passing))
        inputs, _raw = reasoner.test_inputs()
        tokens += usage.completion_tokens
        outputs = run_inputs(problem, distinct, inputs)
        choice = choose([Outcome(i, 0.0, out) for i, out in enumerate(outputs)])
        chosen = distinct[choice.chosen]
    elif passing:
        chosen = passing[0]
    answer = chosen if chosen is not None else codes[0]
    return Row(
        "best_of_n",
        problem.id,
        hidden_pass(problem, answer),
        tokens,
        round(time.perf_counter() - t0, 1),
        key,
        samples=len(codes),
        visible_passed=chosen is not None,
    )


def load_rows(path: Path, keys: dict[str, str]) -> dict[tuple[str, str], Row]:
    rows: dict[tuple[str, str], Row] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a killed run
            if d.get("settings") == keys.get(d.get("method", "")):
                rows[(d["method"], d["problem"])] = Row(**d)
    return rows


def table(rows: dict[tuple[str, str], Row], problems: list[str], store: Store, args, key: str) -> str:
    methods = args.methods
    complete = [p for p in problems if all((m, p) in rows for m in methods)]
    lines = [
        f"# Search quality on {args.problems} (declared before the run)",
        "",
        f"Commit `{commit()}`, model `{args.model}`, MCTS budget {args.iterations} iterations, code max "
        f"{args.max_tokens} tokens, settings `{key}`; hidden tests judge every answer. "
        f"{len(complete)} of {len(problems)} problems have every method"
        + ("" if len(complete) == len(problems) else " (the run is incomplete: rerun to continue)")
        + ".",
        "",
        "| method | pass@1 (95% CI) | passed | tokens | seconds | McNemar p vs greedy "
        "| McNemar p vs best-of-N | proposals dropped |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        got = [rows[(m, p)] for p in complete]
        if not got:
            continue
        mine = [r.passed for r in got]
        cell = {}
        for other in ("greedy", "best_of_n"):
            if other == m or other not in methods:
                cell[other] = "—"
                continue
            v = mcnemar_exact(mine, [rows[(other, p)].passed for p in complete])
            cell[other] = f"{v.p_value:.3f} (+{v.a_only}/−{v.b_only})"
        lo, hi = wilson(sum(mine), len(mine))
        lines.append(
            f"| {m} | {sum(mine) / len(mine):.1%} ({lo:.0%}–{hi:.0%}) | {sum(mine)}/{len(mine)} | "
            f"{sum(r.tokens for r in got)} | {sum(r.seconds for r in got):.0f} | {cell['greedy']} | "
            f"{cell['best_of_n']} | {dropped_share([store.load_tree(r.run_id) for r in got if r.run_id])} |"
        )
    searched = BUDGET_FROM if BUDGET_FROM in methods else next((m for m in methods if m in SEARCHES), None)
    trees = [
        store.load_tree(rows[(searched, p)].run_id)
        for p in complete
        if searched is not None and rows[(searched, p)].run_id
    ]
    rep = report(trees)
    lines += [
        "",
        "(+a/−b: problems this method solves and the other does not / the other way round. "
        "CI: Wilson's score interval.)",
        "",
        f"Critic against hidden tests over every node of the {searched} trees ({len(rep.rows)} nodes, "
        f"{rep.distribution_rows} with a score distribution): AUROC of the sampled score "
        f"{_num(rep.auroc_text)}, of the distribution's expected score {_num(rep.auroc_distribution)}; "
        f"critic parse rate {_num(rep.parse_rate)}.",
        *verifier_section(args.table.with_name("verifier_study.md")),
        "",
        "Measured on: "
        + "; ".join(
            f"{cpu or 'AMD EPYC, AVX2 only (before rows named their CPU)'}: {n} rows"
            for cpu, n in Counter(
                rows[(m, p)].cpu for m in methods for p in problems if (m, p) in rows
            ).items()
        )
        + ".",
        "",
        "Solved: "
        + "; ".join(
            f"{m}: {', '.join(p.removeprefix('HumanEval/') for p in complete if rows[(m, p)].passed) or '-'}"
            for m in methods
        ),
    ]
    return "\n".join(lines) + "\n"


def verifier_section(study: Path) -> list[str]:
    """The verifier study's table (every signal's AUROC over the nodes of these trees), when it has run."""
    if not study.exists():
        return ["", "Verifier signals: not measured yet (`python bench/verifier_study.py`)."]
    body = study.read_text(encoding="utf-8").splitlines()[1:]  # its own title is replaced by this one
    return ["", "## Verifier signals against the hidden tests (`bench/verifier_study.py`)", *body]


def dropped_share(trees: list) -> str:
    """Of every proposal sampled in these trees, the share the engine dropped (and why, most common first)."""
    records = [n.expansion for t in trees for n in t.nodes.values() if n.expansion is not None]
    sampled = sum(len(r.raws) for r in records)
    if not sampled:
        return "—"
    reasons: dict[str, int] = {}
    for r in records:
        for d in r.dropped:
            reasons[d.reason] = reasons.get(d.reason, 0) + 1
    why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return f"{sum(reasons.values()) / sampled:.0%} of {sampled} ({why or 'none'})"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=DECLARED, help="a split or range (default %(default)s, declared)")
    ap.add_argument("--iterations", type=int, default=4, help="MCTS iteration budget (default 4)")
    ap.add_argument("--max-tokens", type=int, default=384, help="tokens of a code reply (default 384)")
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--engine", default="in-process", help="in-process (default) or vllm (the fast engine)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "search_quality.jsonl", help="per-problem results")
    ap.add_argument("--table", type=Path, default=RESULTS / "search_quality.md")
    ap.add_argument("--db", type=Path, default=RESULTS / "search_quality.db", help="the MCTS trees")
    ap.add_argument("--limit", type=int, help="only the first N problems (a smoke run; not for the table)")
    ap.add_argument(
        "--methods", type=lambda s: tuple(s.split(",")), default=METHODS, help="comma-separated, in run order"
    )
    args = ap.parse_args()
    unknown = sorted(set(args.methods) - {*METHODS, *EXTRA_METHODS})
    if unknown or ("best_of_n" in args.methods and BUDGET_FROM not in args.methods):
        ap.error(
            f"unknown methods {unknown}" if unknown else f"best_of_n needs {BUDGET_FROM} (its token budget)"
        )
    if "best_of_n" in args.methods and args.methods.index("best_of_n") < args.methods.index(BUDGET_FROM):
        ap.error(f"best_of_n runs after {BUDGET_FROM}: it spends what that search spent")
    problems = list(split(args.problems))[: args.limit]
    t0 = time.perf_counter()
    inner = load_backend(engine_backend(args.engine), args.model)
    backend = CountingBackend(inner)
    dtype = str(getattr(inner, "dtype", ""))
    keys = {m: settings_key(args, dtype, m) for m in args.methods}
    key = " / ".join(dict.fromkeys(keys.values()))  # greedy's, then the searches' (one answer rule)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = load_rows(args.out, keys)
    store = Store(args.db)
    print(
        f"{backend.model_id} loaded in {time.perf_counter() - t0:.1f}s; {len(rows)} results already in {args.out}"
    )
    cpu = cpu_name()
    with args.out.open("a", encoding="utf-8") as out:

        def keep(row: Row, i: int) -> None:
            row.cpu = cpu
            rows[(row.method, row.problem)] = row
            out.write(json.dumps(asdict(row)) + "\n")
            out.flush()
            n = f" n={row.samples}" if row.method == "best_of_n" else ""
            print(
                f"[{i}/{len(problems)}] {row.problem} {row.method:<10} {'PASS' if row.passed else 'fail'} "
                f"{row.tokens:>6} tok {row.seconds:>6.1f}s{n}",
                flush=True,
            )

        if "greedy" in args.methods:  # batched, as an evaluation runs it: 8 problems per call
            todo = [p for p in problems if ("greedy", p) not in rows]
            for start in range(0, len(todo), 8):
                for r in run_greedy(todo[start : start + 8], backend, args, keys["greedy"]):
                    keep(r, problems.index(r.problem) + 1)
        for i, pid in enumerate(problems, 1):
            problem = get_problem(pid)
            for m in args.methods:
                if (m, pid) in rows:
                    continue
                if m == "best_of_n":
                    keep(run_best_of_n(problem, backend, rows[(BUDGET_FROM, pid)].tokens, args, keys[m]), i)
                else:
                    keep(run_eval(m, problem, backend, store, args, keys[m]), i)
            if args.limit is None:  # a stopped run leaves the table of what it finished
                args.table.write_text(table(rows, problems, store, args, key), encoding="utf-8")
    text = table(rows, problems, store, args, key)
    print("\n" + text)
    if args.limit is None:
        args.table.write_text(text, encoding="utf-8")
        print(f"written to {args.table}")


if __name__ == "__main__":
    main()
