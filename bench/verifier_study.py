"""Which cheap signal knows a correct program? Every signal the search can use, against the hidden tests.

Over every node with code in the stored trees of one ``bench/search_quality.py`` method (default: the
best search, "repair"), on the declared problems (HumanEval/0-81), each node's program is labelled by
the hidden tests (already on the node; they never entered its value) and scored by:

- ``critic_text``: the critic's sampled 0-10 score, / 10;
- ``critic_expected``: the expected score under the critic's distribution over the score tokens, / 10;
- ``p_yes``: the model's probability of "yes" to "is this program correct?" (one new call per node);
- ``visible``: the pass rate on the visible tests (the docstring examples);
- ``agreement``: the share of the tree's other programs that return the same outputs on inputs the
  model writes (one new call per tree; CodeT/S*-style agreement, never truth).

The search's own value of each node (the preset's fixed mix of critic and visible pass rate) is scored
the same way, as the line the learned combination has to beat.

Each signal's AUROC is over the nodes that have it, and over the nodes that have every signal (the
same nodes for all). A logistic combination of the signals is scored by 5-fold cross-validation with
the folds split by problem (no problem's nodes on both sides), so its AUROC is out of sample; its
weights fitted on every node are printed for the search's value. The new model calls are cached per
tree in ``--cache`` (a rerun goes on where it stopped).

    python bench/verifier_study.py                 # the repair trees of bench/results/search_quality.db
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends import engine_backend, load_backend  # noqa: E402
from core.config import REPAIR, preset  # noqa: E402
from core.evaluation.reward import rank_auroc as auroc  # noqa: E402
from core.problems.sources import split  # noqa: E402
from core.search.answer_choice import AnswerChoice  # noqa: E402
from core.search.grounding import run_inputs  # noqa: E402
from core.search.reasoner import Reasoner  # noqa: E402
from core.store.runs import Store  # noqa: E402
from core.tree.events import EventKind  # noqa: E402
from core.tree.nodes import Tree  # noqa: E402
from core.tree.queries import latest_run  # noqa: E402
from core.tree.records import Usage  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIGNALS = ("critic_text", "critic_expected", "p_yes", "visible", "agreement")
FOLDS = 5


@dataclass
class NodeSignals:
    problem: str
    run_id: str
    node: int
    hidden_pass: bool
    critic_text: float | None
    critic_expected: float | None
    p_yes: float | None
    visible: float | None
    agreement: float | None
    search_value: float | None = None  # the reward the search gave the node (its fixed mix)


def programs(tree: Tree) -> list[tuple[int, str, bool, float | None, float]]:
    """(node, code, hidden pass, visible rate, search reward) for each node whose code the search ran."""
    out = []
    for node in sorted(tree.nodes.values(), key=lambda n: n.id):
        ex = latest_run(node)
        if node.code is None or node.code.uploaded or ex is None or ex.hidden is None:
            continue
        visible = ex.visible.pass_rate if ex.visible else None
        out.append((node.id, node.code.code, ex.hidden.passed, visible, ex.reward))
    return out


def tree_inputs(tree: Tree) -> list[str] | None:
    """The inputs the search's own answer choice ran, when it made one."""
    for event in reversed(tree.events):
        if event.kind == EventKind.ANSWER:
            return AnswerChoice.from_data(event.data).inputs
    return None


def agreement(outputs: list[tuple]) -> list[float | None]:
    """For each program, the share of the others with the same outputs on every input all of them ran."""
    n = len(outputs)
    if n < 2:
        return [None] * n
    width = min(len(o) for o in outputs)
    usable = [i for i in range(width) if all(o[i] is not None for o in outputs)]
    if not usable:
        return [None] * n
    keys = [tuple(o[i] for i in usable) for o in outputs]
    return [(sum(k == other for other in keys) - 1) / (n - 1) for k in keys]


def study_tree(tree: Tree, run_id: str, backend) -> list[NodeSignals]:
    found = programs(tree)
    if not found:
        return []
    reasoner = Reasoner(backend, preset(REPAIR), tree.problem, Usage())
    codes = [code for _, code, _, _, _ in found]
    yes = reasoner.p_yes_many(codes)
    inputs = tree_inputs(tree)
    if inputs is None and len(found) > 1:
        inputs, _raw = reasoner.test_inputs()
    agree = agreement(run_inputs(tree.problem, codes, inputs)) if inputs else [None] * len(found)
    rows = []
    for (node_id, _code, hidden, visible, value), p, a in zip(found, yes, agree, strict=True):
        critic = tree.nodes[node_id].critic
        rows.append(
            NodeSignals(
                problem=tree.problem.id,
                run_id=run_id,
                node=node_id,
                hidden_pass=hidden,
                critic_text=critic.score / 10 if critic is not None and critic.score is not None else None,
                critic_expected=critic.expected / 10
                if critic is not None and critic.expected is not None
                else None,
                p_yes=p,
                visible=visible,
                agreement=a,
                search_value=value,
            )
        )
    return rows


def fit_logistic(x: list[list[float]], y: list[bool], steps: int = 3000, lr: float = 0.5, l2: float = 1e-3):
    """Weights (bias first) of an L2-regularised logistic regression, by plain gradient descent."""
    w = [0.0] * (len(x[0]) + 1)
    n = len(x)
    for _ in range(steps):
        grad = [0.0] * len(w)
        for row, label in zip(x, y, strict=True):
            z = w[0] + sum(wi * xi for wi, xi in zip(w[1:], row, strict=True))
            err = 1 / (1 + math.exp(-max(-30.0, min(30.0, z)))) - float(label)
            grad[0] += err
            for k, xi in enumerate(row, 1):
                grad[k] += err * xi
        w = [
            wi - lr * (g / n + (l2 * wi if k else 0.0)) for k, (wi, g) in enumerate(zip(w, grad, strict=True))
        ]
    return w


def score(w: list[float], row: list[float]) -> float:
    return w[0] + sum(wi * xi for wi, xi in zip(w[1:], row, strict=True))


def combined_auroc(
    rows: list[NodeSignals], names: tuple[str, ...], seed: int = 0
) -> tuple[float | None, list]:
    """Out-of-fold AUROC of the logistic combination (folds split by problem) and the weights fit on all rows."""
    problems = sorted({r.problem for r in rows})
    random.Random(seed).shuffle(problems)
    fold_of = {p: i % FOLDS for i, p in enumerate(problems)}
    scores, labels = [], []
    for f in range(FOLDS):
        train = [r for r in rows if fold_of[r.problem] != f]
        test = [r for r in rows if fold_of[r.problem] == f]
        if not test or len({r.hidden_pass for r in train}) < 2:
            continue
        w = fit_logistic([[getattr(r, s) for s in names] for r in train], [r.hidden_pass for r in train])
        scores += [score(w, [getattr(r, s) for s in names]) for r in test]
        labels += [r.hidden_pass for r in test]
    weights = fit_logistic([[getattr(r, s) for s in names] for r in rows], [r.hidden_pass for r in rows])
    return auroc(scores, labels), weights


def report(rows: list[NodeSignals], args) -> str:
    full = [r for r in rows if all(getattr(r, s) is not None for s in SIGNALS)]
    lines = [
        f"# Verifier signals against the hidden tests: {args.method} trees on {args.problems}",
        "",
        f"{len(rows)} programs (nodes with code the search ran) in {len({r.run_id for r in rows})} trees; "
        f"{sum(r.hidden_pass for r in rows)} pass the hidden tests. Model `{args.model}`.",
        "",
        "| signal | nodes with it | AUROC | AUROC on the nodes with every signal |",
        "|---|---|---|---|",
    ]
    for s in (*SIGNALS, "search_value"):
        have = [r for r in rows if getattr(r, s) is not None]
        a = auroc([getattr(r, s) for r in have], [r.hidden_pass for r in have])
        b = auroc([getattr(r, s) for r in full], [r.hidden_pass for r in full])
        label = "the search's own value (its fixed mix)" if s == "search_value" else s
        lines.append(f"| {label} | {len(have)} | {_num(a)} | {_num(b)} |")
    if full:
        cv, w = combined_auroc(full, SIGNALS)
        lines += [
            f"| logistic combination (5-fold by problem, out of fold) | {len(full)} | — | {_num(cv)} |",
            "",
            "Weights fit on every node (bias first, then "
            + ", ".join(SIGNALS)
            + "): "
            + ", ".join(f"{x:+.2f}" for x in w)
            + ".",
        ]
    lines += [
        "",
        f"{len(full)} of {len(rows)} programs have every signal (the direct program has no critic score; a "
        "tree with one program has no agreement).",
    ]
    return "\n".join(lines) + "\n"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default="HumanEval/0-81", help="declared (default %(default)s)")
    ap.add_argument("--method", default="repair", help="whose trees (a search_quality method)")
    ap.add_argument("--rows", type=Path, default=RESULTS / "search_quality.jsonl")
    ap.add_argument("--db", type=Path, default=RESULTS / "search_quality.db")
    ap.add_argument("--cache", type=Path, default=RESULTS / "verifier_study.jsonl")
    ap.add_argument("--table", type=Path, default=RESULTS / "verifier_study.md")
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--engine", default="in-process")
    args = ap.parse_args()
    declared = set(split(args.problems))
    runs: dict[str, str] = {}  # problem -> its newest stored tree of the method
    for line in args.rows.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if d.get("method") == args.method and d.get("run_id") and d["problem"] in declared:
            runs[d["problem"]] = d["run_id"]
    done: dict[str, list[NodeSignals]] = {}
    if args.cache.exists():
        for line in args.cache.read_text(encoding="utf-8").splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            done.setdefault(d["run_id"], []).append(NodeSignals(**d))
    todo = [rid for rid in runs.values() if rid not in done]
    store = Store(args.db)
    if todo:
        t0 = time.perf_counter()
        backend = load_backend(engine_backend(args.engine), args.model)
        print(f"model loaded in {time.perf_counter() - t0:.0f} s; {len(todo)} trees to study", flush=True)
        with args.cache.open("a", encoding="utf-8") as out:
            for i, rid in enumerate(todo, 1):
                rows = study_tree(store.load_tree(rid), rid, backend)
                for r in rows or [NodeSignals("", rid, -1, False, None, None, None, None, None)]:
                    out.write(json.dumps(asdict(r)) + "\n")  # a tree without programs is still done
                out.flush()
                done[rid] = rows
                print(f"[{i}/{len(todo)}] {rid}: {len(rows)} programs", flush=True)
    rows = [r for rid in runs.values() for r in done.get(rid, []) if r.node >= 0]
    text = report(rows, args)
    print(text)
    args.table.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
