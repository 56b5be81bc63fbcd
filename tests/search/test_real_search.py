"""The engine and the CLI on the real tiny embedded model, SmolLM2-135M (slow: CI runs these too)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.backends.counting import CountingBackend
from core.config import SearchConfig
from core.problems.problem import get_problem
from core.search.mcts import Search
from core.tree.events import EventKind
from core.tree.nodes import Tree
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded():
    from core.backends import load_backend

    return load_backend("transformers", TINY)


@pytest.mark.parametrize("dtype", ["auto", "float32"])
def test_two_iterations_on_the_embedded_model(embedded, dtype):
    """In the CPU's own numerics (bf16 where it is native) and in fp32, as an AVX2-only CPU runs it."""
    if dtype == "auto":
        model = embedded
    elif str(embedded.dtype) == f"torch.{dtype}":
        pytest.skip(f"this CPU's default is already {dtype}: the [auto] case ran it")
    else:
        from core.backends import load_backend

        model = load_backend("transformers", TINY, dtype=dtype)
        assert str(model.model.dtype) == f"torch.{dtype}"
    backend = CountingBackend(model)
    search = Search.start(get_problem("HumanEval/0"), SearchConfig(seed=0, max_iterations=2), backend)
    events = search.run()
    tree = search.tree
    assert tree.iteration == 2 and tree.stopped == "max_iterations"
    assert len(tree.nodes) >= 3
    scored = [n for n in tree.nodes.values() if n.critic is not None]
    assert scored and all(n.critic.raw and n.critic.prompt for n in scored)
    assert all((n.critic.score is not None) == n.critic.parsed for n in scored)
    # each proposal call's k samples came from one request with n=k, and so did each rollout's; how many
    # calls an expansion made (a retry when all k were dropped) and whether a rollout ran (only after an
    # expansion that kept a child) are the model's numerics' choice (bf16 or fp32): count them from events
    expansions = [e for e in events if e.kind is EventKind.EXPANDED]
    rollouts = [e for e in events if e.kind is EventKind.ROLLOUT]
    assert expansions and len(rollouts) <= len(expansions)
    attempts = sum(e.data["attempts"] for e in expansions)
    assert backend.stats.by_tag["propose"] == attempts + len(rollouts)
    kept = sum(len(e.data["children"]) for e in expansions)
    critic_requests = kept + sum(len(tree.nodes[e.node].rollout.candidates) for e in rollouts)
    assert backend.stats.by_tag["critic"] == critic_requests
    assert tree.usage.calls == backend.stats.calls
    assert Tree.from_json(tree.to_json()).to_json() == tree.to_json()


def test_cli_search_acceptance_run(tmp_path):
    out = tmp_path / "t.json"
    start = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "launch.py",
            "search",
            "--model",
            TINY,
            "--problem",
            "HumanEval/0",
            "--iterations",
            "4",
            "--seed",
            "0",
        ]
        + ["--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # ~1 min on a quiet 2-core machine; generous for a loaded one
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-2000:]  # how long it takes is bench/, not a test
    assert result.stderr.count("iter ") >= 1 and "Best path" in result.stdout and "Code" in result.stdout
    text = out.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["schema"] == "sra-tree/1" and len(data["nodes"]) >= 5
    for node in data["nodes"]:
        assert {"value", "visits", "depth"} <= node.keys()
        if node["critic"] is not None:
            critic = node["critic"]
            assert critic["raw"] and (critic["score"] is not None or critic["parsed"] is False)
    assert data["stats"]["parse_rate"] is not None
    assert Tree.from_json(text).to_json() == text
    print(
        f"\nCLI search: {elapsed:.1f}s, {len(data['nodes'])} nodes, parse rate {data['stats']['parse_rate']:.0%}"
    )


def test_cli_exec_weight_records_verdicts_and_reward_on_terminal_nodes(tmp_path):
    out = tmp_path / "t.json"
    config = tmp_path / "cfg.json"
    config.write_text('{"max_depth": 1}')  # depth-1 nodes are terminal: the 2nd iteration grounds one
    result = subprocess.run(
        [
            sys.executable,
            "launch.py",
            "search",
            "--model",
            TINY,
            "--problem",
            "HumanEval/2",
            "--iterations",
            "2",
            "--seed",
            "0",
        ]
        + ["--exec-weight", "0.5", "--config", str(config), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # ~1 min on a quiet 2-core machine; generous for a loaded one
    )
    assert result.returncode == 0, result.stderr[-2000:]
    tree = Tree.from_json(out.read_text(encoding="utf-8"))
    terminal = [n for n in tree.nodes.values() if n.terminal]
    assert terminal
    for node in terminal:
        ex = node.execution
        assert node.code is not None and ex is not None
        assert ex.visible is not None and ex.hidden is not None and ex.weight == 0.5
        assert ex.reward == pytest.approx(0.5 * ex.critic_value + 0.5 * ex.visible.pass_rate)
    assert "reward" in result.stdout and "visible" in result.stdout and "hidden" in result.stdout


def test_the_grounded_pipeline_solves_a_problem_greedy_solves(embedded):
    """Issue 13's CI check on the real model: the critic's replies parse, and the grounded search's answer
    passes the hidden tests of HumanEval/23 (strlen, which greedy decoding solves), whatever the numerics."""
    from core.config import GROUNDED, preset
    from core.evaluation.solvers import hidden_job
    from core.execution.sandbox import run_tests

    problem = get_problem("HumanEval/23")
    search = Search.start(problem, preset(GROUNDED).replace(max_iterations=2, seed=0), embedded)
    search.run()
    tree = search.tree
    assert tree.usage.parse_rate is not None and tree.usage.parse_rate > 0
    grounded = [n for n in tree.nodes.values() if n.depth > 0 and n.execution is not None]
    assert grounded and all(n.code is not None and n.execution.applied for n in grounded)
    job = hidden_job(problem, search.answer_code().code)
    verdict = run_tests(job.code, job.tests, timeout_s=job.timeout_s, setup=job.setup)
    assert verdict.passed, verdict.error_message or [t.message for t in verdict.tests]
    print(
        f"\ngrounded HumanEval/23: {len(tree.nodes)} nodes, parse rate {tree.usage.parse_rate:.0%}, "
        f"distribution scores {tree.usage.critic_distributions}/{tree.usage.critic_replies}, "
        f"answer node #{search.best_node().id}"
    )
