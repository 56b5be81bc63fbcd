"""The CI-sized experiment on the embedded model, end to end through ``launch.py experiment``,
killed once mid-training and rerun: the table has every row, and no finished stage ran twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SPEC = {
    "name": "ci",
    "model": "smollm2-135m",  # the tiny one: the whole pipeline in CI minutes
    "train": "HumanEval/29-29",  # one problem each way: the stages, the kill and the rerun are the point
    "eval": "HumanEval/22-22",
    "methods": [{"kind": "cot"}, {"kind": "sra-mcts", "preset": "quick demo", "iterations": 1}],
    "finetune": {"epochs": 1.0, "max_length": 384},
}


def start(spec_path: Path, data: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "SRA_STUDIO_DATA": str(data), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "launch.py", "experiment", str(spec_path), "--out", str(data / "table.md")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        start_new_session=True,
    )


def test_a_ci_sized_experiment_killed_mid_training_finishes_on_rerun(tmp_path):
    spec_path, data = tmp_path / "spec.json", tmp_path / "data"
    spec_path.write_text(json.dumps(SPEC))
    first_log = tmp_path / "first.log"
    proc = start(spec_path, data, first_log)
    deadline = time.monotonic() + 1500
    while "] train:" not in first_log.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    assert proc.poll() is None, first_log.read_text()[-3000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the experiment dies; its training worker (own session) lives on
    proc.wait()
    state = json.loads((data / "experiments" / "ci" / "state.json").read_text())
    finished_before = set(state["stages"])
    assert {"data:cot", "filter:cot"} <= finished_before and state["jobs"]

    second_log = tmp_path / "second.log"
    again = start(spec_path, data, second_log)
    table, _ = again.communicate(timeout=1800)
    assert again.returncode == 0, second_log.read_text()[-3000:]
    log = second_log.read_text()
    assert not [s for s in finished_before if f"] {s} " in log or log.rstrip().endswith(s)], log[-2000:]
    state = json.loads((data / "experiments" / "ci" / "state.json").read_text())
    assert state["status"] == "finished" and state["jobs"] == json.loads(json.dumps(state["jobs"]))
    lines = [ln for ln in table.splitlines() if ln.startswith("| ") and not ln.startswith("| model |")]
    assert [ln.split(" | ")[0] for ln in lines] == [
        "| base model",
        "| +CoT data",
        "| +SRA-MCTS data (quick demo)",
    ]
    for line in lines:  # every cell of greedy pass@1 and wall time is filled
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] != "—" and cells[6] != "—", line
        assert cells[0] == "base model" or cells[4] != "—", line  # records (kept/made) of each adapter
    assert (data / "experiments" / "ci" / "table.csv").exists() and (data / "table.md").read_text() == table
