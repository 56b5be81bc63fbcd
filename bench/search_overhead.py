"""How much of a search's time is ours, and what batching the k children buys.

Run: ``.venv/bin/python bench/search_overhead.py [--iterations 3] [--rounds 3]``

Prints, measured in this one run on the default embedded model:
1. the share of search wall time spent outside backend calls (target: < 3%);
2. the speed-up of one batched expansion (k samples in one call, k critic
   prompts in one call) over one call per child, through the engine's own
   Reasoner with its default prompts, prefills and stops (target: >= 2x).
   Both wall time and tokens/s are shown, since sampled replies differ in length.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends import load_backend  # noqa: E402
from core.backends.counting import CountingBackend  # noqa: E402
from core.config import SearchConfig  # noqa: E402
from core.llm import ChatMessage, GenerationRequest
from core.problems.problem import get_problem  # noqa: E402
from core.search.mcts import Search  # noqa: E402
from core.search.reasoner import Reasoner  # noqa: E402
from core.tree.records import Usage  # noqa: E402


def search_overhead(backend, iterations: int) -> tuple[float, float, int]:
    counting = CountingBackend(backend)
    search = Search.start(
        get_problem("HumanEval/0"), SearchConfig(seed=0, max_iterations=iterations), counting
    )
    start = time.perf_counter()
    search.run()
    wall = time.perf_counter() - start
    return wall, counting.stats.seconds, len(search.tree.nodes)


PATH = ["Sort the numbers so that close values become neighbours."]


def batched(reasoner: Reasoner, k: int) -> int:
    """What the engine does: k samples in one call, then k critic prompts in one call."""
    record, steps = reasoner.propose(PATH, "", k)
    critics = reasoner.critique([[*PATH, s] for s in steps])
    return record.tokens + sum(c.tokens for c in critics)


def one_per_child(reasoner: Reasoner, k: int) -> int:
    """The reference's way: one call per sample and one per critic prompt."""
    tokens = 0
    steps = []
    for _ in range(k):
        record, got = reasoner.propose(PATH, "", 1)
        tokens += record.tokens
        steps += got
    for s in steps:
        tokens += reasoner.critique([[*PATH, s]])[0].tokens
    return tokens


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = fn()
    return time.perf_counter() - start, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    t0 = time.perf_counter()
    backend = load_backend("transformers", "embedded")
    print(f"model loaded in {time.perf_counter() - t0:.1f}s: {backend.model_id}")
    backend.generate([GenerationRequest((ChatMessage("user", "warm up"),), max_tokens=4)])

    wall, inside, nodes = search_overhead(backend, args.iterations)
    outside = wall - inside
    print(
        f"\n[1] search, {args.iterations} iterations, {nodes} nodes: wall {wall:.2f}s, backend {inside:.2f}s"
    )
    print(f"    share of wall time outside backend calls: {outside / wall:.2%} (target < 3%)")

    cfg = SearchConfig()
    t_b = t_u = 0.0
    tok_b = tok_u = 0
    for r in range(args.rounds):  # interleaved, so drift hits both sides alike
        reasoner = Reasoner(backend, cfg.replace(seed=r), get_problem("HumanEval/0"), Usage())
        dt, tk = timed(lambda rs=reasoner: batched(rs, cfg.k))
        t_b, tok_b = t_b + dt, tok_b + tk
        dt, tk = timed(lambda rs=reasoner: one_per_child(rs, cfg.k))
        t_u, tok_u = t_u + dt, tok_u + tk
    print(
        f"\n[2] expansion of k={cfg.k} with its {cfg.k} critic prompts, engine settings, {args.rounds} rounds each"
    )
    print(f"    batched:       {t_b:.2f}s for {tok_b} tokens ({tok_b / t_b:.1f} tok/s)")
    print(f"    one per child: {t_u:.2f}s for {tok_u} tokens ({tok_u / t_u:.1f} tok/s)")
    print(
        f"    speed-up, wall time per expansion: {t_u / t_b:.2f}x; tokens/s: {(tok_b / t_b) / (tok_u / t_u):.2f}x (target >= 2x)"
    )


if __name__ == "__main__":
    main()
