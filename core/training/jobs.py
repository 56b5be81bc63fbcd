"""Fine-tune jobs on disk: start a worker process, read its progress, stop it, notice when it died.

Why files and not memory: a job must outlive the page that started it and the studio
process itself, so the worker runs in its own session and everything about a job lives in
``<data dir>/jobs/<id>/``: ``job.json`` (what to train), ``status.json`` (written by the
worker), ``progress.jsonl`` (one line per step), ``worker.log`` (its stdout and stderr) and
``pid``. Any process can find a job by id and read it again. A worker that dies without
writing a final state (SIGKILL, the OOM killer, a crash in native code) is detected here,
from its pid, and the job is marked failed with the log's last lines.

Example::

    jobs = FinetuneJobs()
    job_id = jobs.start(preset("CPU quick", dataset="exports/v1"))   # FinetuneError on bad input
    jobs.status(job_id).losses          # [(1, 2.31), (2, 2.05), ...] while it runs
    jobs.stop(job_id).state             # 'stopped': the adapter trained so far is registered
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.backends.adapters import adapters_dir
from core.paths import data_dir
from core.training.config import FinetuneConfig, FinetuneError, check_base_model, read_dataset, resolve_device
from core.training.job_files import (
    log_tail,
    process_alive,
    process_start_time,
    read_json,
    read_progress,
    write_json,
)

FINAL = ("finished", "stopped", "failed")
PROJECT = Path(__file__).resolve().parents[2]  # the repository root: core/training/jobs.py
START_GRACE_S = 60.0  # a job with no pid file after this long never started


class UnknownJob(KeyError):
    def __str__(self) -> str:
        return f"no fine-tune job {self.args[0]!r}"


@dataclass
class JobStatus:
    id: str
    state: str  # starting | running | finished | stopped | failed
    step: int
    max_steps: int
    epoch: float
    losses: list[tuple[int, float]]
    elapsed_s: float
    eta_s: float | None
    message: str
    adapter: str | None  # the registered adapter's name, once saved
    log_tail: list[str]
    config: dict[str, Any]
    created_at: float = 0.0

    @property
    def done(self) -> bool:
        return self.state in FINAL


def default_adapter_name(dataset: Path) -> str:
    """``<export name>-<YYYYmmdd-HHMMSS>``: the export folder's name, or the file's stem."""
    stem = dataset.parent.name if dataset.name == "sft.jsonl" else dataset.stem
    stem = re.sub(r"[^\w.\-]+", "-", stem).strip("-._") or "adapter"
    return f"{stem[:60]}-{time.strftime('%Y%m%d-%H%M%S')}"


class FinetuneJobs:
    """All jobs under ``root`` (default ``<data dir>/jobs``); adapters go to ``adapters`` (the registry)."""

    def __init__(self, root: Path | None = None, adapters: Path | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir() / "jobs"
        self.adapters = Path(adapters) if adapters is not None else adapters_dir()
        self._procs: dict[str, subprocess.Popen] = {}  # workers this process started: exit codes known
        self._lock = threading.Lock()

    def start(self, cfg: FinetuneConfig) -> str:
        """Check everything that can be checked cheaply, then spawn the worker; returns the job id."""
        cfg.validate()
        data = read_dataset(cfg.dataset)
        base = check_base_model(cfg.base_model)
        resolve_device(cfg.device)
        with self._lock:
            name = cfg.adapter_name or default_adapter_name(data.path)
            if (self.adapters / name).exists() or name in self._pending_names():
                if cfg.adapter_name:
                    raise FinetuneError(f"adapter_name {name!r} is taken: choose another name")
                name = f"{name}-{uuid.uuid4().hex[:4]}"
            job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
            job_dir = self.root / job_id
            job_dir.mkdir(parents=True)
            job = {
                "id": job_id,
                "config": cfg.replace(adapter_name=name).to_dict(),
                "base_model": base,
                "dataset_path": str(data.path),
                "dataset_hash": data.sha256,
                "records": data.records,
                "adapters_dir": str(self.adapters),
                "created_at": time.time(),
            }
            write_json(job_dir / "job.json", job)
            write_json(job_dir / "status.json", {"state": "starting", "message": "starting the worker"})
            self._procs[job_id] = proc = self._spawn(job_dir)
            write_json(job_dir / "pid", {"pid": proc.pid, "start": process_start_time(proc.pid)})
        # reaped the moment it exits (no zombie until the studio ends); its exit code stays readable
        threading.Thread(target=proc.wait, name=f"reap-{job_id}", daemon=True).start()
        return job_id

    def _spawn(self, job_dir: Path) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT), env.get("PYTHONPATH", "")) if p)
        with (job_dir / "worker.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "core.training.worker", str(job_dir)],
                cwd=job_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the studio; Ctrl-C in a terminal does not reach it
            )

    def _pending_names(self) -> set[str]:
        return {s.config.get("adapter_name", "") for s in self.jobs() if not s.done}

    def _dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [d for d in self.root.iterdir() if (d / "job.json").is_file()]

    def _dir(self, job_id: str) -> Path:
        job_dir = self.root / str(job_id)
        if not job_id or "/" in str(job_id) or not (job_dir / "job.json").is_file():
            raise UnknownJob(job_id)
        return job_dir

    def status(self, job_id: str) -> JobStatus:
        job_dir = self._dir(job_id)
        job = read_json(job_dir / "job.json")
        state = read_json(job_dir / "status.json")
        if state.get("state") not in FINAL:
            dead = self._death(job_id, job_dir)
            if dead:
                state = read_json(job_dir / "status.json")  # it may have finished just now
                if state.get("state") not in FINAL:
                    state = self._mark_dead(job_dir, state, dead)
        progress = read_progress(job_dir / "progress.jsonl")
        last = progress[-1] if progress else {}
        message = state.get("message", "")
        if state.get("state") == "running" and (job_dir / "stop").exists():
            message = "stopping at the end of this step"
        return JobStatus(
            id=job_id,
            state=state.get("state", "starting"),
            step=int(last.get("step", 0)),
            max_steps=int(last.get("max_steps", state.get("max_steps", 0))),
            epoch=float(last.get("epoch", 0.0)),
            losses=[(int(p["step"]), float(p["loss"])) for p in progress if "loss" in p],
            elapsed_s=float(last.get("elapsed", 0.0)),
            eta_s=None if state.get("state") in FINAL else last.get("eta"),
            message=message,
            adapter=state.get("adapter"),
            log_tail=log_tail(job_dir / "worker.log"),
            config=job.get("config", {}),
            created_at=float(job.get("created_at", 0.0)),
        )

    def _death(self, job_id: str, job_dir: Path) -> str | None:
        """Why the worker is gone, or None while it lives."""
        proc = self._procs.get(job_id)
        if proc is not None:
            code = proc.poll()
            if code is None:
                return None
            if code < 0:
                name = signal.Signals(-code).name
                hint = " (out of memory? lower batch size or max length)" if code == -signal.SIGKILL else ""
                return f"the training process was killed by {name}{hint}"
            return f"the training process exited with status {code} without a final state"
        pid = read_json(job_dir / "pid")
        if not pid:
            age = time.time() - read_json(job_dir / "job.json").get("created_at", time.time())
            return "the training process never started" if age > START_GRACE_S else None
        if process_alive(int(pid["pid"]), pid.get("start")):
            return None
        return "the training process ended without a final state (it crashed or was killed)"

    def _mark_dead(self, job_dir: Path, state: dict[str, Any], reason: str) -> dict[str, Any]:
        if (job_dir / "stop").exists():
            state = {**state, "state": "stopped", "message": "stopped before training began"}
        else:
            tail = [x for x in log_tail(job_dir / "worker.log", 5) if x.strip()]
            last = f"; last log line: {tail[-1].strip()}" if tail else ""
            state = {**state, "state": "failed", "message": reason + last}
        write_json(job_dir / "status.json", {**state, "finished_at": time.time()})
        return state

    def stop(self, job_id: str, wait_s: float = 30) -> JobStatus:
        """Ask the worker to stop after the current step; it saves and registers what it trained."""
        status = self.status(job_id)
        if status.done:
            return status
        job_dir = self._dir(job_id)
        (job_dir / "stop").touch()
        pid = read_json(job_dir / "pid")
        if pid and process_alive(int(pid["pid"]), pid.get("start")):  # never signal a reused pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid["pid"]), signal.SIGTERM)
        return self.wait(job_id, wait_s)

    def wait(self, job_id: str, timeout_s: float) -> JobStatus:
        """Poll until the job is final or ``timeout_s`` has passed; returns the last status."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(job_id)
            if status.done or time.monotonic() >= deadline:
                return status
            time.sleep(0.25)

    def jobs(self) -> list[JobStatus]:
        """Every job, newest first."""
        return sorted((self.status(d.name) for d in self._dirs()), key=lambda s: s.created_at, reverse=True)
