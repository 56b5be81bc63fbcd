"""Server-side cost of drawing a tree: layout (``snapshot``) and figure JSON, at 100, 500 and 2,000 nodes.

Run: ``.venv/bin/python bench/tree_view.py [--runs 5] [--sizes 100 500 2000]``

Prints, measured in this one run, the median of ``--runs`` for each size:
the snapshot time, the time to build the tree view's payload (the plotly figure as the
browser gets it), their total, the
JSON size and each total's ratio to the smallest tree's (target: total under
300 ms at 2,000 nodes; linear growth gives a ratio of 20 at 2,000 vs 100).

The trees are synthetic but shaped like searches: branching about 3 up to
depth 8, Q and visits set, a critic record per node (some unparsed), a pruned
subtree, an edited node with a stale subtree, terminal leaves, and a SELECTED
event for the last path. They are built directly (no LLM), so the numbers
measure only the view code.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import SearchConfig  # noqa: E402
from core.problems.problem import Problem  # noqa: E402
from core.tree.events import EventKind  # noqa: E402
from core.tree.nodes import Tree  # noqa: E402
from core.tree.records import BackpropEntry, CriticRecord  # noqa: E402
from core.tree.snapshot import snapshot  # noqa: E402
from ui.tree_plot import tree_figure  # noqa: E402
from ui.tree_view import tree_view_payload  # noqa: E402

PROBLEM = Problem(
    id="custom/bench",
    prompt='def add(a: int, b: int) -> int:\n    """Return a + b."""\n',
    entry_point="add",
    visible_tests=(),
    hidden_test=None,
    canonical_solution=None,
    source="custom",
)


def synthetic_tree(size: int, seed: int = 0) -> Tree:
    """A search-shaped tree of exactly ``size`` nodes (breadth-first growth, 2-4 children each)."""
    rng = random.Random(seed)
    tree = Tree.new(PROBLEM, SearchConfig(), {"backend": "bench", "model_id": "none"})
    frontier = [tree.root.id]
    while len(tree.nodes) < size:
        parent = tree.nodes[frontier.pop(rng.randrange(min(len(frontier), 4)))]
        for _ in range(min(rng.randint(2, 4), size - len(tree.nodes))):
            step = (
                f"Step {tree.next_id}: consider the case where the input is {rng.choice(['empty', 'long'])}."
            )
            child = tree.add_child(parent.id, step, origin="policy", iteration=len(tree.nodes))
            parsed = rng.random() > 0.1
            score = rng.randint(0, 10) if parsed else None
            value = score / 10 if score is not None else 0.0
            child.critic = CriticRecord(
                "prompt", f"Score: {score}", score, parsed, "labelled", "", value, 3, 0.01
            )
            child.value, child.visits = value, rng.randint(0, 6)
            child.history = [BackpropEntry(1, value, child.visits)]
            if child.depth < 8:
                frontier.append(child.id)
            else:
                child.terminal, child.terminal_reason = True, "max_depth"
    ids = [n.id for n in tree.nodes.values() if n.depth == 2]
    if len(ids) >= 2:
        tree.nodes[ids[0]].pruned = True
        edited = tree.nodes[ids[1]]
        edited.original_step, edited.step = edited.step, "An edited step."
        for n in tree.subtree(edited.id)[1:]:
            n.stale = True
    deepest = max(tree.nodes.values(), key=lambda n: (n.depth, n.id))
    tree.log(EventKind.SELECTED, deepest.id, 1, path=[n.id for n in tree.path(deepest.id)], forced=False)
    return tree


def time_ms(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure(size: int, runs: int) -> tuple[float, float, int]:
    tree = synthetic_tree(size)
    snap = snapshot(tree)
    layout_ms = time_ms(lambda: snapshot(tree), runs)
    figure_ms = time_ms(lambda: tree_view_payload(snap, None, scope="bench"), runs)
    return layout_ms, figure_ms, len(tree_view_payload(snap, None, scope="bench").encode("utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    args = parser.parse_args()
    tree_figure(snapshot(synthetic_tree(20))).to_json()  # warm up plotly's lazy imports
    print(f"median of {args.runs} runs; target: total < 300 ms at 2,000 nodes")
    print(
        f"{'nodes':>6} {'snapshot ms':>12} {'figure+json ms':>15} {'total ms':>9} {'JSON KB':>8} {'× smallest':>10}"
    )
    base = None
    for size in args.sizes:
        layout_ms, figure_ms, size_bytes = measure(size, args.runs)
        total = layout_ms + figure_ms
        base = base or total
        print(
            f"{size:>6} {layout_ms:>12.1f} {figure_ms:>15.1f} {total:>9.1f} "
            f"{size_bytes / 1024:>8.0f} {total / base:>10.1f}"
        )


if __name__ == "__main__":
    main()
