"""Sandbox throughput: executions per second with 1 and 2 workers, and the cost of confinement.

Run: ``.venv/bin/python bench/sandbox.py [--runs 40]``

Measured in this one run, on a small passing program (two asserts):
1. a bare ``python -c pass`` subprocess, one at a time (the floor);
2. ``run_tests`` through ``SandboxPool`` with 1 worker and with 2 workers, in each sandbox mode
   this machine has (bubblewrap, the unshare fallback).
Prints runs/s, ms per run, and the ratios sandbox/bare and 2 workers/1 worker per mode.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.execution.modes import ENV_MODE, bwrap_path, unshare_prefix  # noqa: E402
from core.execution.sandbox import SandboxJob, SandboxPool, run_tests  # noqa: E402

CODE = "def inc(x):\n    return x + 1\n"
TESTS = ("assert inc(1) == 2", "assert inc(-1) == 0")


def bare(runs: int) -> float:
    start = time.perf_counter()
    for _ in range(runs):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return runs / (time.perf_counter() - start)


def pooled(runs: int, workers: int) -> float:
    with SandboxPool(workers=workers) as pool:
        pool.run_many([SandboxJob(CODE, TESTS)] * workers)  # warm-up (threads, probe)
        start = time.perf_counter()
        verdicts = pool.run_many([SandboxJob(CODE, TESTS)] * runs)
        rate = runs / (time.perf_counter() - start)
    if not all(v.passed for v in verdicts):
        raise SystemExit(f"a sandboxed run failed: {next(v for v in verdicts if not v.passed)}")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    rates = {"bare python -c pass": bare(args.runs)}
    for mode in available_modes():
        os.environ[ENV_MODE] = mode
        print(f"{mode}: {run_tests(CODE, TESTS).isolation}")
        rates[f"{mode}, 1 worker"] = pooled(args.runs, 1)
        rates[f"{mode}, 2 workers"] = pooled(args.runs, 2)
    for name, rate in rates.items():
        print(f"{name:24s} {rate:7.1f} runs/s  {1000 / rate:6.1f} ms/run")
    base = rates["bare python -c pass"]
    for mode in available_modes():
        one, two = rates[f"{mode}, 1 worker"], rates[f"{mode}, 2 workers"]
        print(
            f"{mode}: 1 worker costs {base / one:.2f}x a bare subprocess ({1000 / one - 1000 / base:+.1f} ms/run); "
            f"2 workers / 1 worker throughput {two / one:.2f}x"
        )


def available_modes() -> list[str]:
    return [m for m, works in (("bubblewrap", bwrap_path()), ("namespaces", unshare_prefix())) if works]


if __name__ == "__main__":
    main()
