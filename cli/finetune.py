"""The headless fine-tune: ``python launch.py finetune --dataset exports/v1 [--preset "CPU quick"] ...``.

It starts the same worker process as the studio (so the job and its adapter show up there
too), prints one line per training step, and waits. Ctrl-C stops the job cleanly: the
adapter trained so far is saved and registered. Bad input is one :class:`UsageError` line
(exit 2) before anything starts; a training failure prints its reason (exit 1).

Example::

    run_finetune(FinetuneArgs(dataset="exports/v1", preset="CPU quick"))
    # job 20260101-120000-ab12cd: adapter v1-20260101-120000 on embedded, 16 records, ~4 steps
    # step 1/4  epoch 0.25  loss 0.8318  lr 1.0e-03  elapsed 8s  eta 24s
    # ...
    # finished: adapter v1-20260101-120000 in .../adapters/v1-20260101-120000, 4 of 4 steps, loss 0.8318 -> 0.5341
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, fields
from typing import TextIO

from cli.common import MODEL_HELP, UsageError
from core.training.config import FinetuneConfig, FinetuneError, preset, preview
from core.training.job_files import read_progress
from core.training.jobs import FinetuneJobs, JobStatus


@dataclass(frozen=True)
class FinetuneArgs:
    """The command line's values; ``None`` keeps the preset's value."""

    dataset: str
    preset: str = "default"
    base_model: str | None = None
    adapter_name: str | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    target_modules: str | None = None  # comma-separated
    learning_rate: float | None = None
    epochs: float | None = None
    batch_size: int | None = None
    grad_accum: int | None = None
    max_length: int | None = None
    seed: int | None = None
    device: str | None = None
    preview: bool = False  # print the resolved config and exit


def build_config(args: FinetuneArgs) -> FinetuneConfig:
    config_fields = {f.name for f in fields(FinetuneConfig)} - {"dataset"}
    changes = {f.name: getattr(args, f.name) for f in fields(args) if f.name in config_fields}
    changes = {k: v for k, v in changes.items() if v is not None}
    if "target_modules" in changes:
        changes["target_modules"] = tuple(
            m.strip() for m in changes["target_modules"].split(",") if m.strip()
        )
    try:
        return preset(args.preset, dataset=args.dataset, **changes).validate()
    except FinetuneError as exc:
        raise UsageError(str(exc)) from None


def progress_line(step: dict) -> str:
    eta = f"{step['eta']:.0f}s" if step.get("eta") is not None else "?"
    return (
        f"step {step['step']}/{step['max_steps']}  epoch {step['epoch']:.2f}  loss {step['loss']:.4f}  "
        f"lr {step['learning_rate']:.1e}  elapsed {step['elapsed']:.0f}s  eta {eta}"
    )


def run_finetune(
    args: FinetuneArgs,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    jobs: FinetuneJobs | None = None,
    poll_s: float = 0.5,
) -> int:
    """Train in the foreground; 0 finished, 130 stopped by Ctrl-C, 1 failed."""
    cfg = build_config(args)
    try:
        if args.preview:
            out.write(preview(cfg) + "\n")
            return 0
        jobs = jobs or FinetuneJobs()
        job_id = jobs.start(cfg)
    except FinetuneError as exc:
        raise UsageError(str(exc)) from None
    status = jobs.status(job_id)
    out.write(
        f"job {job_id}: adapter {status.config.get('adapter_name')} on {cfg.base_model}; "
        f"log in {jobs.root / job_id / 'worker.log'}\n"
    )
    out.flush()
    interrupted = False
    shown = 0
    while True:
        try:
            status = jobs.status(job_id)
            shown = _print_steps(jobs, job_id, shown, out)
            if status.done:
                break
            time.sleep(poll_s)
        except KeyboardInterrupt:
            if interrupted:
                raise
            interrupted = True
            out.write(
                "stopping after the current step (Ctrl-C again stops waiting; the job still saves its adapter)...\n"
            )
            out.flush()
            status = jobs.stop(job_id, wait_s=0)
    _print_steps(jobs, job_id, shown, out)
    return _report(status, jobs, out, err, interrupted)


def _print_steps(jobs: FinetuneJobs, job_id: str, shown: int, out: TextIO) -> int:
    steps = read_progress(jobs.root / job_id / "progress.jsonl")
    for step in steps[shown:]:
        out.write(progress_line(step) + "\n")
    out.flush()
    return max(shown, len(steps))


def _report(status: JobStatus, jobs: FinetuneJobs, out: TextIO, err: TextIO, interrupted: bool) -> int:
    if status.state == "failed":
        err.write(f"error: training failed: {status.message}\n")
        for line in status.log_tail[-8:]:
            err.write(f"  | {line}\n")
        return 1
    losses = f", loss {status.losses[0][1]:.4f} -> {status.losses[-1][1]:.4f}" if status.losses else ""
    adapter = (
        f"adapter {status.adapter} in {jobs.adapters / status.adapter}"
        if status.adapter
        else "no adapter saved"
    )
    out.write(f"{status.state}: {adapter}, {status.step} of {status.max_steps} steps{losses}\n")
    return 130 if interrupted and status.state == "stopped" else 0


NAME = "finetune"
HELP = "LoRA fine-tune on an exported dataset, headless (Ctrl-C stops cleanly)"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="an export folder (its sft.jsonl) or an SFT JSONL file")
    p.add_argument("--preset", default="default", help="'CPU quick', 'default' (the default) or 'GPU'")
    p.add_argument("--base-model", help=MODEL_HELP)
    p.add_argument("--name", dest="adapter_name", help="the adapter's name (default: <dataset>-<time>)")
    for flag, kind in (("--lora-r", int), ("--lora-alpha", int), ("--lora-dropout", float)):
        p.add_argument(flag, type=kind)
    p.add_argument("--target-modules", help="comma-separated, e.g. q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--lr", dest="learning_rate", type=float, help="learning rate")
    p.add_argument("--epochs", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--grad-accum", type=int, help="gradient accumulation steps")
    p.add_argument("--max-length", type=int, help="tokens per record (longer ones are cut)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--preview", action="store_true", help="print the resolved config and exit")


def run(args: argparse.Namespace) -> int:
    names = FinetuneArgs.__dataclass_fields__
    return run_finetune(FinetuneArgs(**{k: v for k, v in vars(args).items() if k in names}))
