"""How well each prompt role fits a model: parse rates, dropped proposals and why, code that compiles.

Runs short searches on problems declared here before the run (HumanEval/0-7, the first of the
paper table's training half; the "runs the examples" preset, 3 iterations, seed 0) and reads every
reply back from the trees:

- reflect: replies, how many parsed, how many said "<end>";
- propose: samples drawn, kept as steps, dropped by reason (unusable: empty or code; in the path
  already; an echo of the instructions; a duplicate of a sibling);
- critic: replies, the share parsed, the share with a score distribution;
- code: replies, the share whose code parses as Python, how the code was found (fenced or not),
  and the share cut off by the token limit.

    python bench/prompt_fit.py                                # the default model
    python bench/prompt_fit.py --engine vllm                  # the same, on the fast engine
    python bench/prompt_fit.py --model smollm2-135m --out /tmp/fit.md

A problem whose tree is already in the folder is read back, not searched again, so a stopped run
goes on where it stopped.

It writes ``bench/results/prompt_fit_<model>.md`` with the commit and the CPU, and each tree to
``bench/results/prompt_fit_<model>/`` so the numbers can be checked reply by reply.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends.catalogue import key_of  # noqa: E402
from core.config import GROUNDED, preset  # noqa: E402
from core.machine import cpu_name  # noqa: E402
from core.problems.problem import get_problem  # noqa: E402
from core.problems.sources import split  # noqa: E402
from core.search.mcts import Search  # noqa: E402
from core.tree.nodes import Tree  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DECLARED = "HumanEval/0-7"


def role_counts(trees: list[Tree]) -> dict[str, Counter]:
    """Per role, the counts the table shows, read from the trees' own records."""
    out = {role: Counter() for role in ("reflect", "propose", "critic", "code")}
    for tree in trees:
        for node in tree.nodes.values():
            if (r := node.reflection) is not None:
                out["reflect"].update(replies=1, parsed=int(r.parsed), end=int(r.is_end))
            if (e := node.expansion) is not None:
                out["propose"].update(samples=len(e.raws), kept=len(e.raws) - len(e.dropped))
                out["propose"].update(f"dropped:{d.reason}" for d in e.dropped)
            if (c := node.critic) is not None:
                out["critic"].update(
                    replies=1, parsed=int(c.parsed), distribution=int(c.expected is not None)
                )
            if (k := node.code) is not None:
                out["code"].update(replies=1, truncated=int(k.truncated), compiles=int(_compiles(k.code)))
                out["code"].update([f"source:{k.source}"])
    return out


def _compiles(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return bool(code.strip())


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "-"


def table(model: str, counts: dict[str, Counter], seconds: float, problems: list[str], how: str = "") -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    r, p, c, k = counts["reflect"], counts["propose"], counts["critic"], counts["code"]
    drops = ", ".join(
        f"{key.split(':', 1)[1]} {n}" for key, n in sorted(p.items()) if key.startswith("dropped:")
    )
    sources = ", ".join(
        f"{key.split(':', 1)[1]} {n}" for key, n in sorted(k.items()) if key.startswith("source:")
    )
    return "\n".join(
        [
            f"# Prompt fit of `{model}` (`bench/prompt_fit.py`)",
            "",
            f"Commit {commit}; CPU: {cpu_name()}; problems {problems[0]}..{problems[-1]} ({len(problems)}, declared "
            f"before the run); preset '{GROUNDED}', 3 iterations, seed 0; {how}{seconds:.0f} s.",
            "",
            "| role | replies | parsed / kept | notes |",
            "|---|---|---|---|",
            f"| reflect | {r['replies']} | {share(r['parsed'], r['replies'])} | said <end>: {r['end']} |",
            f"| propose | {p['samples']} samples | {share(p['kept'], p['samples'])} kept | dropped: {drops or 'none'} |",
            f"| critic | {c['replies']} | {share(c['parsed'], c['replies'])} | with a score distribution: "
            f"{share(c['distribution'], c['replies'])} |",
            f"| code | {k['replies']} | {share(k['compiles'], k['replies'])} compile | found as: {sources or '-'}; "
            f"cut off by the token limit: {k['truncated']} |",
            "",
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--out", type=Path, help="the table (default: bench/results/prompt_fit_<model>.md)")
    ap.add_argument("--engine", default="in-process", help="in-process (default) or vllm (the fast engine)")
    args = ap.parse_args()
    from core.backends import engine_backend, load_backend

    name = key_of(args.model) or Path(args.model).name
    trees_dir = RESULTS / f"prompt_fit_{name}"
    trees_dir.mkdir(parents=True, exist_ok=True)
    backend = None
    config = preset(GROUNDED).replace(max_iterations=args.iterations, seed=0)
    problems = list(split(DECLARED))
    trees = []
    started = time.monotonic()
    for pid in problems:
        saved = trees_dir / f"{pid.replace('/', '_')}.json"
        if saved.exists():
            trees.append(Tree.from_json(saved.read_text(encoding="utf-8")))
            continue
        if backend is None:
            backend = load_backend(engine_backend(args.engine), args.model)
        search = Search.start(get_problem(pid), config, backend)
        search.run()
        trees.append(search.tree)
        saved.write_text(search.tree.to_json(), encoding="utf-8")
        print(f"{pid}: {len(search.tree.nodes)} nodes ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    how = f"engine {args.engine}, width {config.width}; "
    text = table(name, role_counts(trees), time.monotonic() - started, problems, how)
    (args.out or RESULTS / f"prompt_fit_{name}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
