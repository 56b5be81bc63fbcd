"""How much of a search's time is ours, and what batching the k children buys.

Run: ``.venv/bin/python bench/search_overhead.py [--iterations 3] [--rounds 3]``

Prints, measured in this one run on the embedded model:
1. the share of search wall time spent outside backend calls (target: < 3%);
2. the speed-up of one batched expansion (k samples in one call, k critic
   prompts in one call) over one call per child, for the same prompts and
   seeds (target: >= 2x). Both wall time and tokens/s are compared, since
   sampled replies differ in length.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends import load_backend  # noqa: E402
from core.config import SearchConfig  # noqa: E402
from core.llm import ChatMessage, CountingBackend, GenerationRequest  # noqa: E402
from core.problems import get_problem  # noqa: E402
from core.reasoner import format_steps  # noqa: E402
from core.search import Search  # noqa: E402


def search_overhead(backend, iterations: int) -> tuple[float, float, int]:
    counting = CountingBackend(backend)
    search = Search.start(
        get_problem("HumanEval/0"), SearchConfig(seed=0, max_iterations=iterations), counting
    )
    start = time.perf_counter()
    search.run()
    wall = time.perf_counter() - start
    return wall, counting.stats.seconds, len(search.tree.nodes)


def expansion_requests(cfg: SearchConfig, problem, seed: int):
    def msgs(text: str):
        return (ChatMessage("system", cfg.prompts.system), ChatMessage("user", text))

    propose = cfg.prompts.render(
        "propose", problem=problem.prompt, steps=format_steps([]), analysis="(none)", step_number=1
    )
    steps = [
        "Compare every pair of numbers in the list.",
        "Sort the list so that close numbers are neighbours.",
        "Return True as soon as two neighbours differ by less than the threshold.",
    ][: cfg.k]
    critics = [cfg.prompts.render("critic", problem=problem.prompt, steps=format_steps([s])) for s in steps]
    prop = GenerationRequest(
        msgs(propose), n=cfg.k, temperature=cfg.temperature, max_tokens=cfg.step_max_tokens, seed=seed
    )
    crit = [GenerationRequest(msgs(c), max_tokens=cfg.critic_max_tokens, seed=seed) for c in critics]
    return prop, crit


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = fn()
    return time.perf_counter() - start, tokens


def batched(backend, prop, crit) -> int:
    [p] = backend.generate([prop])
    return p.completion_tokens + sum(r.completion_tokens for r in backend.generate(crit))


def one_per_child(backend, prop, crit) -> int:
    tokens = 0
    for i in range(prop.n):
        single = GenerationRequest(
            prop.messages, n=1, temperature=prop.temperature, max_tokens=prop.max_tokens, seed=prop.seed + i
        )
        tokens += backend.generate([single])[0].completion_tokens
    for c in crit:
        tokens += backend.generate([c])[0].completion_tokens
    return tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
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

    cfg, problem = SearchConfig(), get_problem("HumanEval/0")
    t_b = t_u = 0.0
    tok_b = tok_u = 0
    for r in range(args.rounds):  # interleaved, so drift hits both sides alike
        prop, crit = expansion_requests(cfg, problem, seed=100 + r)
        dt, tk = timed(lambda p=prop, c=crit: batched(backend, p, c))
        t_b, tok_b = t_b + dt, tok_b + tk
        dt, tk = timed(lambda p=prop, c=crit: one_per_child(backend, p, c))
        t_u, tok_u = t_u + dt, tok_u + tk
    print(f"\n[2] expansion of k={cfg.k} (+ {cfg.k} critic prompts), {args.rounds} rounds each")
    print(f"    batched:       {t_b:.2f}s for {tok_b} tokens ({tok_b / t_b:.1f} tok/s)")
    print(f"    one per child: {t_u:.2f}s for {tok_u} tokens ({tok_u / t_u:.1f} tok/s)")
    print(
        f"    speed-up, wall time per expansion: {t_u / t_b:.2f}x; tokens/s: {(tok_b / t_b) / (tok_u / t_u):.2f}x (target >= 2x)"
    )


if __name__ == "__main__":
    main()
