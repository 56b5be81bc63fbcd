"""The studio as a user starts it: it answers on loopback and runs a search on the default embedded model.

Its model cache starts empty, as on a fresh machine, so the first search prepares the model (checks
the installed parts, converts them once) and the status line shows that step while it runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    port = free_port()
    cache = tmp_path_factory.mktemp("fresh-model-cache")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "SRA_STUDIO_CACHE": str(cache)}
    proc = subprocess.Popen(
        [sys.executable, "launch.py", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"studio exited: {proc.stdout.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("studio did not answer within 120 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_studio_answers_on_loopback_and_runs_a_search(studio):
    from gradio_client import Client

    from ui.search_tab import pick_problem as prompt_of

    with urllib.request.urlopen(studio, timeout=5) as resp:
        assert "SRA-MCTS Studio" in resp.read().decode()
    with urllib.request.urlopen(studio + "config", timeout=5) as resp:
        assert "Qwen2.5-Coder-0.5B-Instruct" in resp.read().decode()  # the header names the model
    client = Client(studio, verbose=False)
    knobs = ["quick demo", 1, 2, 0.5, 0.7, 0, 4, "", ""]
    job = client.submit("HumanEval/2", prompt_of("HumanEval/2"), "", *knobs, api_name="/new_search")
    out = job.result(timeout=900)
    statuses = [o[2] for o in job.outputs() if isinstance(o, (list, tuple)) and isinstance(o[2], str)]
    assert any(s.startswith("preparing the model, one time") for s in statuses), statuses[:5]
    run_id = out[0]
    assert run_id and "HumanEval/2" in out[2] and "iteration 0" in out[2]
    out = client.predict(run_id, None, "HumanEval/2", prompt_of("HumanEval/2"), "", *knobs, api_name="/step")
    assert "iteration 1" in out[2] and "Best path" in out[3]
    tree = json.loads(client.predict(run_id, api_name="/get_tree"))
    assert tree["schema"] == "sra-tree/1" and len(tree["nodes"]) >= 2
