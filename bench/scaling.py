"""Search throughput against one vLLM server, at rising concurrency, beside the server's own limit.

Against one OpenAI-compatible vLLM server, in one run:
1. the raw limit: one batch of ``--raw-requests`` plain generation requests sent at once
   (completion tokens per second of wall time);
2. the same set of searches (``--problems``, preset "quick demo", ``--iterations`` each) run by
   1, 2, 4 and 8 worker threads sharing one backend: nodes/s and completion tokens/s.
It prints each level's speed-up over concurrency 1 and the best level's tokens/s as a share of
the raw limit: what the search loop leaves on the table (sequential phases, small batches).

Without ``--base-url`` it starts a server from ``.venv-vllm`` (``make vllm-env``) on the
embedded model and stops it at the end (~90 s to start on a 2-core CPU).

    python bench/scaling.py                                   # ~6 min on a 2-core CPU
    python bench/scaling.py --base-url http://gpu-box:8000/v1 --problems HumanEval/0-63 --levels 1,8,32,64
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends.embedded import embedded_model_dir  # noqa: E402
from core.backends.openai_backend import OpenAIBackend  # noqa: E402
from core.backends.vllm_server import VLLMServer, vllm_python  # noqa: E402
from core.config import preset  # noqa: E402
from core.llm import ChatMessage, GenerationRequest  # noqa: E402
from core.problems.problem import get_problem  # noqa: E402
from core.problems.sources import split  # noqa: E402
from core.search.mcts import Search  # noqa: E402


def raw_throughput(backend: OpenAIBackend, problems: list, requests: int, max_tokens: int) -> float:
    """Completion tokens/s of one batch of plain requests, all in flight at once."""
    batch = [
        GenerationRequest(
            (ChatMessage("user", f"Explain how to solve this:\n{problems[i % len(problems)].prompt}"),),
            temperature=0.7,
            max_tokens=max_tokens,
            seed=i,
        )
        for i in range(requests)
    ]
    start = time.perf_counter()
    results = backend.generate(batch)
    return sum(r.completion_tokens for r in results) / (time.perf_counter() - start)


def searches(backend: OpenAIBackend, problems: list, iterations: int, workers: int) -> tuple[float, int, int]:
    """(wall seconds, nodes made, completion tokens) of one search per problem, ``workers`` at a time."""
    config = preset("quick demo").replace(max_iterations=iterations)

    def one(problem) -> tuple[int, int]:
        search = Search.start(problem, config, backend)
        search.run()
        return len(search.tree.nodes) - 1, search.tree.usage.completion_tokens

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(one, problems))
    return time.perf_counter() - start, sum(n for n, _ in done), sum(t for _, t in done)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", help="a running server (default: start one from .venv-vllm)")
    ap.add_argument(
        "--problems", default="HumanEval/0-7", help="the searches of each level (default %(default)s)"
    )
    ap.add_argument("--iterations", type=int, default=3, help="iterations per search (default 3)")
    ap.add_argument("--levels", default="1,2,4,8", help="concurrency levels (default %(default)s)")
    ap.add_argument("--raw-requests", type=int, default=32)
    ap.add_argument("--raw-tokens", type=int, default=64)
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    problems = [get_problem(p) for p in split(args.problems)]

    server = None
    if args.base_url is None:
        server = VLLMServer(vllm_python(), embedded_model_dir(), log_path="/tmp/sra-bench-vllm.log")
        print(f"starting vLLM server on {server.base_url} (log /tmp/sra-bench-vllm.log) ...", flush=True)
        t0 = time.perf_counter()
        server.start()
        print(f"  up in {time.perf_counter() - t0:.0f} s", flush=True)
    try:
        backend = OpenAIBackend("", base_url=args.base_url or server.base_url, concurrency=256)
        raw_throughput(backend, problems, 4, 8)  # warm-up
        raw = raw_throughput(backend, problems, args.raw_requests, args.raw_tokens)
        print(
            f"raw batched generation: {args.raw_requests} requests x {args.raw_tokens} tokens: {raw:.1f} tok/s"
        )
        rows = []
        for workers in levels:
            wall, nodes, tokens = searches(backend, problems, args.iterations, workers)
            rows.append((workers, wall, nodes / wall, tokens / wall))
            print(
                f"  concurrency {workers}: {wall:.1f} s, {nodes / wall:.2f} nodes/s, {tokens / wall:.1f} tok/s"
            )
    finally:
        if server is not None:
            server.stop()

    base_nodes = rows[0][2]
    print(
        f"\n{len(problems)} searches ({args.problems}, 'quick demo', {args.iterations} iterations) per level, "
        f"model {backend.model}"
    )
    print(f"{'concurrency':>11}{'wall s':>9}{'nodes/s':>10}{'tok/s':>9}{'vs c=1':>8}{'vs raw':>8}")
    for workers, wall, nps, tps in rows:
        print(f"{workers:>11}{wall:>9.1f}{nps:>10.2f}{tps:>9.1f}{nps / base_nodes:>7.2f}x{tps / raw:>7.2f}x")
    best = max(rows, key=lambda r: r[3])
    print(
        f"best search throughput (concurrency {best[0]}): {best[3]:.1f} tok/s = {best[3] / raw:.2f}x "
        f"the server's raw batched limit ({raw:.1f} tok/s)"
    )


if __name__ == "__main__":
    main()
