"""Raw decoding speed of the embedded models: completion tokens a second at batch 1 and batch 8.

One prompt (a HumanEval problem with the direct-code instruction), sampled at temperature 0.8 with
a fixed seed, up to 96 new tokens a row, through the in-process transformers backend; a warm-up call
first. Rows that end early count only the tokens they made, so the numbers are what a search gets.

    python bench/throughput.py                                       # every installed catalogue model
    python bench/throughput.py --models qwen2.5-coder-0.5b

Writes ``bench/results/throughput.md`` with the commit, the CPU and the dtype of each row.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends.catalogue import MODELS  # noqa: E402
from core.llm import ChatMessage, GenerationRequest  # noqa: E402
from core.machine import cpu_name  # noqa: E402
from core.problems.problem import get_problem  # noqa: E402
from core.prompts import DIRECT_CODE, SYSTEM  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "throughput.md"
NEW_TOKENS = 96


def request(rows: int) -> GenerationRequest:
    problem = get_problem("HumanEval/0")
    user = DIRECT_CODE.format(problem=problem.prompt.strip(), entry_point=problem.entry_point)
    messages = (ChatMessage("system", SYSTEM), ChatMessage("user", user))
    return GenerationRequest(messages, n=rows, temperature=0.8, max_tokens=NEW_TOKENS, seed=0)


def tokens_per_second(backend, rows: int) -> float:
    start = time.perf_counter()
    [result] = backend.generate([request(rows)])
    return result.completion_tokens / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated catalogue keys")
    args = ap.parse_args()
    from core.backends import load_backend
    from core.backends.embedded import find_parts, is_converted
    from core.llm import ModelNotAvailable

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Decoding speed of the embedded models (`bench/throughput.py`)",
        "",
        f"Commit {commit}; CPU: {cpu_name()}; transformers in-process, {NEW_TOKENS} new tokens a row, "
        "temperature 0.8, HumanEval/0 with the direct-code prompt.",
        "",
        "| model | dtype | tok/s, batch 1 | tok/s, batch 8 |",
        "|---|---|---|---|",
    ]
    for key in [k.strip() for k in args.models.split(",") if k.strip()]:
        try:
            if not is_converted(key):
                find_parts(MODELS[key])
        except ModelNotAvailable as exc:
            print(f"{key}: skipped ({exc})", file=sys.stderr)
            continue
        backend = load_backend("transformers", key)
        tokens_per_second(backend, 1)  # warm-up
        one, eight = tokens_per_second(backend, 1), tokens_per_second(backend, 8)
        row = (
            f"| {MODELS[key].name} | {str(backend.dtype).removeprefix('torch.')} | {one:.1f} | {eight:.1f} |"
        )
        print(row, file=sys.stderr)
        lines.append(row)
        del backend
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
