"""Real fine-tuning on the tiny embedded model (slow), and the job runner's handling of dead workers (fast).

The slow tests run TRL's SFTTrainer with peft in the real worker subprocess on two CPU cores:
a full run, a stop mid-run, a SIGKILLed worker, a base model that does not load, and the CLI.
Sequences are short (max_length 256) so the whole file stays within a few minutes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.backends.adapters import get_adapter
from core.curation.formats import response_text
from core.training.config import preset
from core.training.job_files import read_json, read_progress, write_json
from core.training.jobs import FinetuneJobs, UnknownJob
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]
slow = pytest.mark.slow


def write_export(folder: Path, records: int) -> Path:
    """An export folder whose sft.jsonl is in the studio's format: chat messages and a meta block."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(records):
        prompt = f'def add_{i}(x: int) -> int:\n    """Return x plus {i}.\n    >>> add_{i}(1)\n    {i + 1}\n    """\n'
        answer = response_text(
            ["Take the input x.", f"Add {i} to x and return the sum."],
            f"def add_{i}(x):\n    return x + {i}\n",
        )
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        meta = {"problem_id": f"custom/add_{i}", "run_id": "run-1", "node_id": i, "annotator": "test"}
        lines.append(json.dumps({"messages": messages, "meta": meta}, sort_keys=True))
    (folder / "sft.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data dir (jobs, adapters) inherited by the worker, which must never reach the hub."""
    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "data"


def wait_for(jobs: FinetuneJobs, job_id: str, ready, timeout_s: float = 300):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = jobs.status(job_id)
        if ready(st) or st.done:
            return st
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not ready in {timeout_s} s: {jobs.status(job_id)}")


def explain(st) -> str:
    return f"{st.state}: {st.message}\n" + "\n".join(st.log_tail)


@slow
def test_cpu_finetune_logs_every_step_registers_and_changes_outputs(data: Path, record_property) -> None:
    from core.backends import load_backend
    from core.llm import ChatMessage, GenerationRequest

    export = write_export(data / "exports" / "toy", 16)
    jobs = FinetuneJobs()
    start = time.monotonic()
    job_id = jobs.start(
        preset("CPU quick", dataset=str(export), base_model=TINY, max_length=256, adapter_name="toy-lora")
    )
    st = jobs.wait(job_id, 600)
    wall = time.monotonic() - start
    record_property("train_wall_s", round(wall, 1))
    print(f"\n16 records, 1 epoch: {wall:.1f} s wall, losses {st.losses}")
    assert st.state == "finished", explain(st)
    assert wall < 600
    steps = read_progress(data / "jobs" / job_id / "progress.jsonl")
    assert [p["step"] for p in steps] == [1, 2, 3, 4] and {p["max_steps"] for p in steps} == {4}
    assert all(math.isfinite(p["loss"]) and p["eta"] is not None and p["elapsed"] > 0 for p in steps)
    assert st.losses == [(p["step"], p["loss"]) for p in steps] and st.epoch == 1.0
    assert st.losses[-1][1] < st.losses[0][1]  # a high rate on repetitive records: the loss falls
    assert st.adapter == "toy-lora" and "adapter toy-lora saved" in st.message

    info = get_adapter("toy-lora")
    assert info.path == data / "adapters" / "toy-lora" and (info.path / "adapter_model.safetensors").is_file()
    assert info.base_model == TINY and info.records == 16 and info.state == "finished"
    assert info.dataset_hash == hashlib.sha256((export / "sft.jsonl").read_bytes()).hexdigest()
    assert info.problems == sorted(f"custom/add_{i}" for i in range(16)) and info.job_id == job_id
    assert info.config["learning_rate"] == 1e-3 and info.extra["steps"] == 4

    again = FinetuneJobs()  # a reloaded page or a restarted studio finds the job by id
    assert again.status(job_id).losses == st.losses and [j.id for j in again.jobs()] == [job_id]

    prompts = [
        'def add_20(x: int) -> int:\n    """Return x plus 20."""\n',
        'def triple(x: int) -> int:\n    """Return x times 3."""\n',
    ]
    requests = [GenerationRequest((ChatMessage("user", p),), max_tokens=16) for p in prompts]
    base = load_backend("transformers", TINY)
    tuned = load_backend("transformers", TINY, adapter="toy-lora")
    assert tuned.adapter == "toy-lora" and base.adapter is None
    assert tuned.model_id == "embedded:SmolLM2-135M-Instruct+lora:toy-lora"
    before = [r.completions[0].text for r in base.generate(requests)]
    after = [r.completions[0].text for r in tuned.generate(requests)]
    print(f"base: {before}\ntuned: {after}")
    assert before != after
    tuned.prefix_reuse = False  # the shared-prefix KV cache works through peft's layers too
    assert [r.completions[0].text for r in tuned.generate(requests)] == after


@slow
def test_stop_mid_run_keeps_a_loadable_adapter(data: Path) -> None:
    from core.backends import load_backend

    export = write_export(data / "exports" / "toy", 16)
    jobs = FinetuneJobs()
    cfg = preset(
        "CPU quick", dataset=str(export), base_model=TINY, max_length=128, batch_size=1, adapter_name="half"
    )
    job_id = jobs.start(cfg)
    st = wait_for(jobs, job_id, lambda s: s.step >= 1)
    assert st.state == "running", explain(st)
    pid = read_json(data / "jobs" / job_id / "status.json")["pid"]
    assert os.getsid(pid) == pid  # its own session: closing the studio or its terminal does not end it
    st = jobs.stop(job_id, wait_s=300)
    assert st.state == "stopped", explain(st)
    assert 1 <= st.step < 16 and st.max_steps == 16 and st.adapter == "half"
    info = get_adapter("half")
    assert info.state == "stopped" and info.extra["steps"] == st.step
    assert load_backend("transformers", TINY, adapter="half").model_id.endswith("+lora:half")


@slow
def test_a_job_outlives_its_starter_and_a_killed_worker_shows_failed(data: Path) -> None:
    export = write_export(data / "exports" / "toy", 4)
    start = (
        "from core.training.config import preset; from core.training.jobs import FinetuneJobs; "
        f"print(FinetuneJobs().start(preset('CPU quick', dataset={str(export)!r}, base_model={TINY!r}, max_length=128)))"
    )
    starter = subprocess.run(
        [sys.executable, "-c", start], capture_output=True, text=True, cwd=ROOT, timeout=300, check=True
    )
    job_id = starter.stdout.strip()
    jobs = FinetuneJobs()  # the starter (a studio, say) has exited: find the job again by its id
    st = wait_for(jobs, job_id, lambda s: s.state == "running")
    assert st.state == "running", explain(st)
    pid = read_json(data / "jobs" / job_id / "status.json")["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (st := jobs.status(job_id)).state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert st.state == "failed" and "ended without a final state" in st.message, explain(st)
    assert FinetuneJobs().status(job_id).state == "failed"  # written back, so every reader agrees
    assert st.adapter is None and not (data / "adapters").exists()


@slow
def test_a_base_model_that_does_not_load_fails_clearly(data: Path, tmp_path: Path) -> None:
    export = write_export(data / "exports" / "toy", 4)
    fake = tmp_path / "not-a-model"
    fake.mkdir()
    (fake / "config.json").write_text("{}")
    jobs = FinetuneJobs()
    job_id = jobs.start(preset("CPU quick", dataset=str(export), base_model=str(fake)))
    st = jobs.wait(job_id, 300)
    assert st.state == "failed", explain(st)
    assert st.message.startswith(f"could not load base model '{fake}'"), st.message


@slow
def test_cli_trains_in_the_foreground_and_prints_progress(data: Path) -> None:
    export = write_export(data / "exports" / "toy", 4)
    proc = subprocess.run(
        [sys.executable, "launch.py", "finetune", "--dataset", str(export), "--preset", "CPU quick"]
        + ["--base-model", TINY, "--max-length", "128", "--epochs", "1", "--name", "cli-lora"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "step 1/1  epoch 1.00  loss " in proc.stdout
    assert f"finished: adapter cli-lora in {data / 'adapters' / 'cli-lora'}, 1 of 1 steps" in proc.stdout
    assert get_adapter("cli-lora").records == 4


# Fast: the runner's view of workers that die, with stand-in processes instead of training.


def fake_job(root: Path, job_id: str, state: str, pid: int | None, log: str = "") -> Path:
    job_dir = root / job_id
    job_dir.mkdir(parents=True)
    write_json(job_dir / "job.json", {"id": job_id, "config": {"dataset": "d"}, "created_at": time.time()})
    write_json(job_dir / "status.json", {"state": state, "message": "training"})
    if pid is not None:
        write_json(job_dir / "pid", {"pid": pid, "start": None})
    (job_dir / "worker.log").write_text(log)
    return job_dir


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_unknown_job(tmp_path: Path) -> None:
    jobs = FinetuneJobs(tmp_path / "jobs", tmp_path / "adapters")
    for bad in ("nope", "", "../x"):
        with pytest.raises(UnknownJob):
            jobs.status(bad)
    assert str(UnknownJob("nope")) == "no fine-tune job 'nope'"


def test_a_dead_pid_with_a_running_status_becomes_failed_with_the_log(tmp_path: Path) -> None:
    jobs = FinetuneJobs(tmp_path / "jobs", tmp_path / "adapters")
    job_dir = fake_job(
        tmp_path / "jobs", "j1", "running", dead_pid(), "step 3/8 loss 0.5\nSegmentation fault\n"
    )
    st = jobs.status("j1")
    assert st.state == "failed" and not jobs.status("j1").eta_s
    assert st.message.startswith("the training process ended without a final state")
    assert (
        st.message.endswith("last log line: Segmentation fault") and st.log_tail[-1] == "Segmentation fault"
    )
    assert read_json(job_dir / "status.json")["state"] == "failed"


def test_a_reused_pid_is_not_the_worker(tmp_path: Path) -> None:
    jobs = FinetuneJobs(tmp_path / "jobs", tmp_path / "adapters")
    job_dir = fake_job(tmp_path / "jobs", "j2", "running", os.getpid())
    assert jobs.status("j2").state == "running"  # our own pid is alive
    write_json(job_dir / "pid", {"pid": os.getpid(), "start": "0"})  # ... but started at another time
    assert jobs.status("j2").state == "failed"


def test_a_worker_stopped_before_training_is_stopped_not_failed(tmp_path: Path) -> None:
    jobs = FinetuneJobs(tmp_path / "jobs", tmp_path / "adapters")
    job_dir = fake_job(tmp_path / "jobs", "j3", "starting", dead_pid())
    (job_dir / "stop").touch()
    st = jobs.status("j3")
    assert st.state == "stopped" and st.adapter is None


def test_sigkill_of_a_worker_this_process_started_names_the_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stand_in(self, job_dir: Path) -> subprocess.Popen:  # a worker that hangs, in its own session
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)

    monkeypatch.setattr(FinetuneJobs, "_spawn", stand_in)
    export = write_export(tmp_path / "export", 2)
    jobs = FinetuneJobs(tmp_path / "jobs", tmp_path / "adapters")
    job_id = jobs.start(preset("CPU quick", dataset=str(export)))
    assert jobs.status(job_id).state == "starting"
    os.kill(jobs._procs[job_id].pid, signal.SIGKILL)
    jobs._procs[job_id].wait()
    st = jobs.status(job_id)
    assert st.state == "failed" and st.message.startswith("the training process was killed by SIGKILL")
    assert "lower batch size or max length" in st.message
