"""Against a real vLLM OpenAI-compatible server on 127.0.0.1: batch generation, and a server that goes away mid-search.

The ``vllm_server`` fixture (tests/conftest.py) starts ``vllm.entrypoints.openai.api_server`` from
``.venv-vllm`` on the embedded model's cached safetensors, once per session.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.backends import load_backend
from core.config import SearchConfig
from core.problems.problem import get_problem
from core.search.mcts import Search, SearchPaused
from core.store.runs import Store
from core.tree.events import EventKind

from .tcp_gate import TcpGate

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def generate_cli(server, out: Path, data: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "launch.py",
        "--data-dir",
        str(data),
        "generate",
        "--problems",
        "HumanEval/0-3",
        "--backend",
        "openai",
        "--base-url",
        server.base_url,
        "--concurrency",
        "4",
        "--preset",
        "quick demo",
        "--iterations",
        "2",
        "--out",
        str(out),
    ]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200)


def test_generate_four_problems_at_once_then_skip_them_all(vllm_server, tmp_path):
    out, data = tmp_path / "gen", tmp_path / "data"
    first = generate_cli(vllm_server, out, data)
    assert first.returncode == 0, first.stderr[-2000:]
    records = [json.loads(line) for line in (out / "sft.jsonl").read_text().splitlines()]
    manifest = [json.loads(line) for line in (out / "done.jsonl").read_text().splitlines()]
    assert sorted(m["problem_id"] for m in manifest) == [f"HumanEval/{i}" for i in range(4)]
    assert len(records) == 4
    assert all(r["messages"][-1]["content"].strip() for r in records), "every record ends in code"
    store = Store(data / "studio.db")
    trees = [store.load_tree(m["run_id"]) for m in manifest]
    assert len({t.problem.id for t in trees}) == 4
    assert all(t.model["backend"] == "openai" and len(t.nodes) > 1 for t in trees)

    before = (out / "sft.jsonl").read_bytes()
    again = generate_cli(vllm_server, out, data)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "done 0, skipped 4" in again.stdout
    assert (out / "sft.jsonl").read_bytes() == before


def test_a_server_gone_mid_search_pauses_it_and_it_resumes(vllm_server):
    """The server goes away (its port refuses, live connections are cut) and comes back on the same URL.

    A TCP gate in front of the real server stands for the kill: to the client the two are the same,
    and a real vLLM restart costs minutes of CI.
    """
    gate = TcpGate("127.0.0.1", vllm_server.port)
    gate.open()
    backend = load_backend("openai", "", base_url=gate.base_url, max_retries=2, timeout_s=30)
    # no reflection (it may end a path early), no end gate: the search runs its 4 iterations
    config = SearchConfig(
        k=2, temperature=1.0, reflection=False, rollout=False, max_iterations=4, seed=3, end_gate_min_depth=64
    )
    search = Search.start(get_problem("HumanEval/2"), config, backend)
    search.run(2)
    before = {i: (n.step, n.value, n.visits) for i, n in search.tree.nodes.items()}
    assert len(before) >= 3

    gate.close()
    started = time.monotonic()
    with pytest.raises(SearchPaused) as caught:
        search.step()
    assert "unreachable" in str(caught.value) and gate.base_url in str(caught.value)
    assert time.monotonic() - started < 60  # retries with backoff, then a clear reason
    assert {i: (n.step, n.value, n.visits) for i, n in search.tree.nodes.items()} == before
    assert search.tree.events[-1].kind is EventKind.PAUSED and search.tree.iteration == 2

    gate.open()
    try:
        search.run()
    finally:
        gate.close()
    assert search.finished and search.tree.iteration == 4
    after = search.tree.nodes
    assert all(i in after and after[i].step == step for i, (step, _, _) in before.items())
    kinds = [e.kind for e in search.tree.events]
    assert kinds.count(EventKind.PAUSED) == 1 and kinds.count(EventKind.RESUMED) == 1
    search.tree.validate()
    backend.close()


def test_the_studio_searches_through_the_server(vllm_server):
    """`launch.py studio --backend openai --base-url URL`: two sessions step their searches at once."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    from ui.app import build_app
    from ui.context import StudioContext
    from ui.search_tab import pick_problem as prompt_of
    from ui.sessions import BackendPool

    ctx = StudioContext(backend="openai", backends=BackendPool(options={"base_url": vllm_server.base_url}))
    app = build_app(ctx)
    app.queue(default_concurrency_limit=4)
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    knobs = ["quick demo", 2, 2, 0.5, 0.7, 0, 4, '{"end_gate": 1.0}', ""]  # width 4: waves through the server
    try:

        def session(problem: str) -> dict:
            c = Client(url, verbose=False)
            run_id = c.predict(problem, prompt_of(problem), "", *knobs, api_name="/new_search")[0]
            c.predict(run_id, None, problem, prompt_of(problem), "", *knobs, api_name="/run")
            return json.loads(c.predict(run_id, api_name="/get_tree"))

        with ThreadPoolExecutor(2) as pool:
            trees = list(pool.map(session, ["HumanEval/0", "HumanEval/1"]))
        for tree in trees:
            assert tree["model"]["backend"] == "openai" and tree["iteration"] == 2
            assert len(tree["nodes"]) > 1
    finally:
        app.close()
