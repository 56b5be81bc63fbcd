"""Acceptance: ``launch.py evaluate`` on the default model, and the tiny model's greedy baseline (slow).

The tiny model (SmolLM2-135M), measured on the 2-core dev machine (bf16, batches of 8): 4 of the
first 40 problems pass (HumanEval/22, 23, 29, 35) in ~4 minutes. Batch composition and fp32 instead of bf16 change a
few greedy tokens (batches of 16 or 40 gave 3 of 40), so the band is 2..8 passes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.evaluation.tables import EvalTables
from core.store.runs import Store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
EASY = ("HumanEval/2", "HumanEval/23", "HumanEval/45")  # truncate_number, strlen, triangle_area


def test_greedy_evaluation_on_the_default_model_judges_and_stores_every_problem(tmp_path):
    """CI-sized, on the default model (Qwen2.5-Coder-0.5B): three easy problems, every one judged and stored,
    and most of them pass (bf16 and fp32 differ in a few greedy tokens, so not which ones)."""
    result = subprocess.run(
        [sys.executable, "launch.py", "--data-dir", str(tmp_path), "evaluate", "--problems", ",".join(EASY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [row] = EvalTables(Store(tmp_path / "studio.db")).evals()
    results = EvalTables(Store(tmp_path / "studio.db")).eval_results(row.id)
    assert [r.problem_id for r in results] == list(EASY)
    passed = sorted(r.problem_id for r in results if r.passed)
    print(f"\n{EASY} greedy: passed {passed}")
    assert len(passed) >= 2, [(r.problem_id, r.verdicts[0].first_failure) for r in results]
    assert row.status == "finished" and row.pass_at == {1: pytest.approx(len(passed) / 3)}
    assert row.model_id == "embedded:Qwen2.5-Coder-0.5B-Instruct"
    assert all(len(r.codes) == len(r.verdicts) == 1 and r.tokens > 0 for r in results)
    assert all(r.verdicts[0].first_failure for r in results if not r.passed)


@pytest.mark.heavy
def test_greedy_first_40_reproduces_the_baseline_and_stores_every_problem(tmp_path):
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "launch.py", "--data-dir", str(tmp_path), "evaluate", "--split", "first-40"]
        + ["--model", "smollm2-135m"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    wall = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    progress = [ln for ln in result.stderr.splitlines() if re.match(r"\[\s*\d+/40\]", ln)]
    assert len(progress) == 40

    [row] = EvalTables(Store(tmp_path / "studio.db")).evals()
    results = EvalTables(Store(tmp_path / "studio.db")).eval_results(row.id)
    passed = [r.problem_id for r in results if r.passed]
    print(f"\nfirst-40 greedy: {len(passed)}/40 passed {passed} in {wall:.0f}s (eval {row.seconds:.0f}s)")
    assert 2 <= len(passed) <= 8, passed
    assert (row.status, row.mode, row.done, row.problems, row.adapter) == ("finished", "greedy", 40, 40, None)
    assert row.model_id == "embedded:SmolLM2-135M-Instruct"
    assert row.spec["temperature"] == 0 and row.spec["max_tokens"] == 384 and row.spec["batch"] == 8
    assert row.pass_at == {1: pytest.approx(len(passed) / 40)} == row.pass_at_unseen
    assert [r.problem_id for r in results] == [f"HumanEval/{i}" for i in range(40)]
    assert all(len(r.codes) == len(r.verdicts) == r.samples == 1 and r.tokens > 0 for r in results)
    assert all(r.verdicts[0].first_failure for r in results if not r.passed)
    assert f"pass@1 {len(passed) / 40:.1%}" in result.stdout
