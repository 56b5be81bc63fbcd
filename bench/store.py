"""What saving a run to the studio database costs: the per-iteration autosave, a first save, a reopen.

Run: ``.venv/bin/python bench/store.py [--runs 15] [--sizes 100 500 2000]``

Trees are grown by the real engine (``core.search.mcts.Search``) with a seeded stand-in
backend, so they carry every record a search writes, and no model is loaded.
For each size (the tree is grown to at least that many nodes), measured in this one
run, in a temporary folder, the median of ``--runs``:

- autosave: ``Store.save_tree`` after one more iteration (only the changed nodes
  and the new events are written; target: under 10 ms at 2,000 nodes), over
  ``--runs`` further iterations (about 3 new nodes each);
- first save: the whole tree into the database, as for a new run;
- reopen: a fresh ``Store`` (a new connection, the open-time checks) and ``load_tree``;
- baseline: the whole tree as JSON to a file (``tree.to_json()``), and back
  (``Tree.from_json``); the ratios compare each store operation with it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import SyntheticBackend  # noqa: E402
from core.config import SearchConfig  # noqa: E402
from core.problems.problem import get_problem  # noqa: E402
from core.search.mcts import Search  # noqa: E402
from core.store.runs import Store  # noqa: E402
from core.tree.nodes import Tree  # noqa: E402

TARGET_MS = 10.0


def grow(size: int) -> Search:
    """A search run until its tree has at least ``size`` nodes (about 3 new nodes per iteration)."""
    search = Search.start(
        get_problem("HumanEval/0"),
        SearchConfig(seed=0, end_gate=1.0, max_iterations=size * 4),
        SyntheticBackend(),
    )
    while len(search.tree.nodes) < size and not search.finished:
        search.step()
    return search


def median_ms(fn: Callable[[int], object], runs: int) -> float:
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure(size: int, runs: int, folder: Path) -> dict[str, float]:
    search = grow(size)
    nodes = len(search.tree.nodes)
    db = folder / f"studio-{size}.db"
    store = Store(db)
    first = median_ms(lambda i: store.save_tree(f"first-{i}", search.tree), runs)
    store.save_tree("run", search.tree)
    reopen = median_ms(lambda i: Store(db).load_tree("run"), runs)
    assert Store(db).load_tree("run").to_json() == search.tree.to_json()  # what was timed is right

    json_path = folder / f"tree-{size}.json"
    json_write = median_ms(lambda i: json_path.write_text(search.tree.to_json()), runs)
    json_read = median_ms(lambda i: Tree.from_json(json_path.read_text()), runs)

    autosave = []
    for _ in range(runs):  # what the studio does: one iteration, then the save (only the save is timed)
        search.step()
        start = time.perf_counter()
        store.save_tree("run", search.tree)
        autosave.append((time.perf_counter() - start) * 1000)
    assert Store(db).load_tree("run").to_json() == search.tree.to_json()
    return {
        "nodes": nodes,
        "autosave": statistics.median(autosave),
        "first": first,
        "reopen": reopen,
        "json_write": json_write,
        "json_read": json_read,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    args = parser.parse_args()
    print(f"median of {args.runs} runs, milliseconds; target: autosave < {TARGET_MS:.0f} ms at 2,000 nodes")
    print(
        f"{'nodes':>6} {'autosave':>9} {'first save':>11} {'reopen':>8} {'JSON write':>11} {'JSON read':>10}"
        f" {'autosave/JSON':>14} {'first/JSON':>11} {'reopen/JSON read':>17}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        for size in args.sizes:
            r = measure(size, args.runs, Path(tmp))
            results.append(r)
            print(
                f"{r['nodes']:>6} {r['autosave']:>9.2f} {r['first']:>11.2f} {r['reopen']:>8.2f}"
                f" {r['json_write']:>11.2f} {r['json_read']:>10.2f}"
                f" {r['autosave'] / r['json_write']:>14.2f} {r['first'] / r['json_write']:>11.2f}"
                f" {r['reopen'] / r['json_read']:>17.2f}"
            )
    big = max(results, key=lambda r: r["nodes"])
    verdict = "PASS" if big["autosave"] < TARGET_MS else "MISS"
    print(
        f"{verdict}: autosave of one iteration at {big['nodes']} nodes takes {big['autosave']:.2f} ms"
        f" (target < {TARGET_MS:.0f} ms); reopening that run takes {big['reopen']:.1f} ms"
    )


if __name__ == "__main__":
    main()
