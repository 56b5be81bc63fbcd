"""Does a search keep its engine busy? Search tok/s against the engine's raw batched tok/s, in one run.

For each engine (in-process transformers; the fast engine, a local vLLM server) on the default model:

1. **raw**: one call of R rows, R = the search's rows in a full wave (width x k), each row a different
   HumanEval problem's direct-code prompt (so they share only the system prompt: a cold prefix cache),
   temperature 0.8, up to 96 new tokens; tok/s = completion tokens / seconds of that call. A warm-up
   call comes first.
2. **search**: the declared searches below (preset "runs the examples", 4 iterations, seed 0) at width 1
   and at the default width; completion tok/s = completion tokens of every call / wall seconds of the
   search, the ratio search / raw at the same width, wall seconds per iteration, and seconds to the first
   new node (the first wave is the root's expansion: the tree first shows children when it ends).

    python bench/search_speed.py                       # both engines (~25 min on a 2-core CPU)
    python bench/search_speed.py --engines in-process  # skip the vLLM server

Writes ``bench/results/search_speed.md`` with the commit, the CPU, the dtype and every row.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import GROUNDED, PRESETS, SearchConfig  # noqa: E402
from core.llm import ChatMessage, GenerationRequest, LLMBackend  # noqa: E402
from core.machine import cpu_name  # noqa: E402
from core.problems.problem import get_problem  # noqa: E402
from core.prompts import DIRECT_CODE, SYSTEM  # noqa: E402
from core.search.mcts import Search  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "search_speed.md"
PROBLEMS = ("HumanEval/10", "HumanEval/23")  # declared before the first run; HumanEval/10 is the issue's
ITERATIONS = 4
RAW_TOKENS = 96
ENGINES = {"in-process": "transformers", "vllm": "vllm-server"}


@dataclass
class Row:
    engine: str
    width: int
    problem: str
    iterations: int
    nodes: int
    wall_s: float
    first_node_s: float
    completion_tokens: int
    prompt_tokens: int
    calls: int
    raw: float
    prefix_hit: float | None = None  # share of prompt tokens a prefix cache served, where the engine says

    @property
    def rate(self) -> float:
        return self.completion_tokens / self.wall_s

    def markdown(self) -> str:
        return (
            f"| {self.engine} | {self.width} | {self.problem} | {self.iterations} | {self.nodes} | "
            f"{self.wall_s:.0f} | {self.wall_s / self.iterations:.1f} | {self.first_node_s:.0f} | "
            f"{self.completion_tokens} | {self.prompt_tokens} | {self.calls} | {self.rate:.1f} | "
            f"{self.raw:.1f} | {self.rate / self.raw:.2f} | "
            f"{'-' if self.prefix_hit is None else f'{self.prefix_hit:.0%}'} |"
        )


def raw_rate(backend: LLMBackend, rows: int) -> float:
    """Completion tok/s of one call of ``rows`` different problems' prompts (see the module doc)."""
    requests = []
    for i in range(rows):
        problem = get_problem(f"HumanEval/{100 + i}")  # not among the searched problems
        user = DIRECT_CODE.format(problem=problem.prompt.strip(), entry_point=problem.entry_point)
        messages = (ChatMessage("system", SYSTEM), ChatMessage("user", user))
        requests.append(
            GenerationRequest(messages, n=1, temperature=0.8, max_tokens=RAW_TOKENS, seed=i, tag="code")
        )
    start = time.perf_counter()
    results = backend.generate(requests)
    return sum(r.completion_tokens for r in results) / (time.perf_counter() - start)


def search_row(backend: LLMBackend, engine: str, problem_id: str, config: SearchConfig, raw: float) -> Row:
    search = Search.start(get_problem(problem_id), config, backend)
    before = prefix_counts(backend)
    start = time.perf_counter()
    search.step()
    first = time.perf_counter() - start
    search.run()
    wall = time.perf_counter() - start
    usage = search.tree.usage
    after = prefix_counts(backend)
    hit = None
    if before is not None and after is not None and after[1] > before[1]:
        hit = (after[0] - before[0]) / (after[1] - before[1])
    return Row(
        engine,
        config.width,
        problem_id,
        search.tree.iteration,
        len(search.tree.nodes),
        wall,
        first,
        usage.completion_tokens,
        usage.prompt_tokens,
        usage.calls,
        raw,
        hit,
    )


def prefix_counts(backend: LLMBackend) -> tuple[float, float] | None:
    """(prompt tokens served from a prefix cache, prompt tokens in all) so far, where the engine counts them:
    the transformers backend's own counters of shared prefixes, or the vLLM server's /metrics."""
    stats = getattr(backend, "prefix_stats", None)
    if stats is not None:
        return stats["cached"], stats["cached"] + stats["computed"]
    url = getattr(backend, "base_url", None)
    if url is None:
        return None
    import urllib.request

    try:
        with urllib.request.urlopen(url.removesuffix("/v1") + "/metrics", timeout=10) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    totals = {"vllm:prefix_cache_hits": 0.0, "vllm:prefix_cache_queries": 0.0}
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0].removesuffix("_total")
        if name in totals and not line.startswith("#"):
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals["vllm:prefix_cache_hits"], totals["vllm:prefix_cache_queries"]


def load(engine: str) -> tuple[LLMBackend, float]:
    from core.backends import load_backend

    start = time.perf_counter()
    backend = load_backend(ENGINES[engine], "embedded")
    return backend, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: in-process, vllm")
    ap.add_argument(
        "--widths", default=f"1,{SearchConfig().width}", help="search widths (default: 1 and the default)"
    )
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    base = PRESETS[GROUNDED].replace(max_iterations=ITERATIONS, seed=0)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    rows: list[Row] = []
    notes: list[str] = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        backend, started = load(engine)
        dtype = getattr(backend, "dtype", None)
        threads = getattr(backend, "threads", None)
        notes.append(
            f"- {engine}: ready in {started:.0f} s"
            + (f", {str(dtype).removeprefix('torch.')}" if dtype is not None else "")
            + (f", {threads} server threads" if threads else "")
        )
        raw_rate(backend, 2)  # warm-up
        raws = {w: raw_rate(backend, w * base.k) for w in widths}
        for width in widths:
            notes.append(f"- {engine}: raw {raws[width]:.1f} tok/s at {width * base.k} rows (width {width})")
            print(notes[-1], file=sys.stderr)
            for problem_id in PROBLEMS:
                row = search_row(backend, engine, problem_id, base.replace(width=width), raws[width])
                rows.append(row)
                print(row.markdown(), file=sys.stderr)
        close = getattr(backend, "close", None)
        if close is not None:
            close()
        del backend
    lines = [
        "# Search speed against the engine's raw batched speed (`bench/search_speed.py`)",
        "",
        f'Commit {commit}; CPU: {cpu_name()}; default model; preset "{GROUNDED}", {ITERATIONS} iterations, '
        f"seed 0, k = {base.k}; problems {', '.join(PROBLEMS)} (declared before the first run).",
        "Raw: one call of width x k rows of different problems' prompts (cold prefix cache), "
        f"up to {RAW_TOKENS} new tokens. Ratio: search completion tok/s / raw tok/s at the same width.",
        "Prefix cache: in-process, the share of each call's shared prefix (computed once for all its rows) "
        "taken from the cache of earlier calls; vLLM, its prefix-cache hits among the prompt tokens.",
        "",
        *notes,
        "",
        "| engine | width | problem | iterations | nodes | wall s | s/iteration | first node s | completion tokens "
        "| prompt tokens | calls | search tok/s | raw tok/s | ratio | prefix cache |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(r.markdown() for r in rows),
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
