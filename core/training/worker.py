"""The training process: ``python -m core.training.worker JOB_DIR`` (started by ``FinetuneJobs``).

It reads ``job.json``, trains a LoRA adapter with TRL's ``SFTTrainer`` and peft, appends one
line per step to ``progress.jsonl`` (step, max_steps, epoch, loss, learning_rate, elapsed,
eta), and keeps ``status.json`` current. SIGTERM (or SIGINT) asks for a clean stop: the flag
is checked at the next step boundary, the adapter trained so far is saved and registered, and
the state is ``stopped``. Any failure is ``failed`` with a one-line reason; running out of
memory is named as such. Only the standard library is imported before the signal handlers
are in place, so a stop during the slow imports is not lost.

Each record's ``messages`` become a conversational prompt/completion pair (all turns before
the last, and the assistant's answer), so the loss is computed on the answer only.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

log = logging.getLogger("finetune")
OOM_MESSAGE = "batch too large for memory: lower batch size or max length"


def failure_message(exc: BaseException) -> str:
    """What the user reads when training fails: out-of-memory is named, anything else is one line."""
    text = str(exc).strip()
    lowered = text.lower()
    if (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"  # torch.OutOfMemoryError (CUDA, MPS)
        or (
            isinstance(exc, RuntimeError)
            and ("out of memory" in lowered or "can't allocate memory" in lowered)
        )
    ):
        return OOM_MESSAGE
    first = (text.splitlines() or [""])[0][:300]
    if type(exc).__name__ == "FinetuneError":
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def main(argv: list[str]) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    if len(argv) != 1:
        sys.stderr.write("usage: python -m core.training.worker JOB_DIR\n")
        return 2
    job_dir = Path(argv[0])
    from core.training.job_files import read_json, write_json

    job = read_json(job_dir / "job.json")
    status: dict[str, Any] = {"state": "running", "pid": os.getpid(), "started_at": time.time()}

    def report(**changes: Any) -> None:
        status.update(changes, updated_at=time.time())
        write_json(job_dir / "status.json", status)

    report(message="loading the model and the dataset")
    try:
        state, adapter, message = train(job, job_dir, stop, report)
    except BaseException as exc:  # every failure, even an exit, must reach status.json
        traceback.print_exc()
        report(state="failed", message=failure_message(exc), finished_at=time.time())
        return 1
    report(state=state, adapter=adapter, message=message, finished_at=time.time())
    log.info("%s: %s", state, message)
    return 0


def train(job: dict[str, Any], job_dir: Path, stop: threading.Event, report) -> tuple[str, str | None, str]:
    """Train and register the adapter; returns (state, adapter name or None, message)."""
    from core.training.config import (
        FinetuneConfig,
        FinetuneError,
        lora_arguments,
        read_dataset,
        resolve_device,
        sft_arguments,
    )

    cfg = FinetuneConfig.from_dict(job["config"]).validate()
    data = read_dataset(job["dataset_path"])
    if data.sha256 != job["dataset_hash"]:
        raise FinetuneError(f"dataset {data.path} changed after the job was started: start it again")
    device = resolve_device(cfg.device)
    log.info(
        "training %s on %s: %d records, device %s", cfg.adapter_name, job["base_model"], data.records, device
    )

    import datasets
    import torch
    import transformers
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from core.backends.sources import resolve_source
    from core.llm import first_line

    datasets.disable_progress_bars()  # bars in a log file are noise; progress.jsonl has the steps
    transformers.utils.logging.disable_progress_bar()
    args = SFTConfig(**sft_arguments(cfg, device, str(job_dir / "trainer")))
    dtype = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else torch.float32
    try:
        source, _ = resolve_source(job["base_model"])
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError) as exc:
        reason = first_line(exc)
        raise FinetuneError(f"could not load base model {job['base_model']!r}: {reason}") from exc
    log.info("loaded %s (%s) in %s", job["base_model"], source, dtype)
    if stop.is_set():
        return "stopped", None, "stopped before training began"
    rows = [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in data.rows]
    progress = progress_callback(job_dir / "progress.jsonl", stop, report)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=LoraConfig(**lora_arguments(cfg)),
        callbacks=[progress],
    )
    trainer.remove_callback(PrinterCallback)  # it prints each log dict; our progress lines say the same
    trainer.train()
    steps, max_steps = trainer.state.global_step, trainer.state.max_steps
    state = "stopped" if stop.is_set() and steps < max_steps else "finished"
    if steps == 0:
        return "stopped", None, "stopped before the first step: no adapter saved"
    name = save_adapter(trainer.model, job, data, cfg, state, progress.summary(steps, max_steps, device))
    done = f"after {steps} of {max_steps} steps" if state == "stopped" else f"{steps} steps"
    return state, name, f"{state} {done}; adapter {name} saved"


def save_adapter(model, job: dict[str, Any], data, cfg, state: str, extra: dict[str, Any]) -> str:
    """Save peft's files and ``studio_adapter.json`` in a hidden folder, then rename it into the registry."""
    from core.backends.adapters import AdapterInfo, write_meta

    root = Path(job["adapters_dir"])
    root.mkdir(parents=True, exist_ok=True)
    name = cfg.adapter_name
    n = 1
    while (root / name).exists():  # only if another job took the name since this one was started
        n += 1
        name = f"{cfg.adapter_name}-{n}"
    tmp = root / f".{name}.{os.getpid()}.tmp"
    model.save_pretrained(str(tmp))
    info = AdapterInfo(
        name=name,
        path=root / name,
        base_model=job["base_model"],
        dataset=str(data.path),
        dataset_hash=data.sha256,
        records=data.records,
        problems=data.problems,
        config=cfg.replace(adapter_name=name).to_dict(),
        created_at=time.time(),
        job_id=job["id"],
        state=state,
        extra=extra,
    )
    write_meta(tmp, info)
    os.replace(tmp, root / name)
    log.info("adapter saved to %s", root / name)
    return name


def progress_callback(path: Path, stop: threading.Event, report):
    """A ``TrainerCallback`` (built here so transformers loads after the signal handlers are set)."""
    from transformers import TrainerCallback

    class ProgressLog(TrainerCallback):
        """Appends one JSON line per logged step and turns the stop flag into ``should_training_stop``."""

        def __init__(self) -> None:
            self.start = time.monotonic()
            self.losses: list[float] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.monotonic()
            report(message="training", max_steps=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if stop.is_set() and not control.should_training_stop:
                log.info("stop requested: stopping after step %d", state.global_step)
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                line = progress_line(state.global_step, state.max_steps, state.epoch, logs, self.start)
                self.losses.append(line["loss"])
                with path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")
                log.info(
                    "step %(step)d/%(max_steps)d loss %(loss).4f lr %(learning_rate).2e eta %(eta)ss", line
                )

        def summary(self, steps: int, max_steps: int, device: str) -> dict[str, Any]:
            return {
                "steps": steps,
                "max_steps": max_steps,
                "first_loss": self.losses[0] if self.losses else None,
                "final_loss": self.losses[-1] if self.losses else None,
                "train_seconds": round(time.monotonic() - self.start, 1),
                "device": device,
            }

    return ProgressLog()


def progress_line(step: int, total: int, epoch: float | None, logs: dict, start: float) -> dict[str, Any]:
    elapsed = time.monotonic() - start
    return {
        "step": step,
        "max_steps": total,
        "epoch": round(float(epoch or 0.0), 4),
        "loss": float(logs["loss"]),
        "learning_rate": float(logs.get("learning_rate", 0.0)),
        "grad_norm": _number(logs.get("grad_norm")),
        "token_accuracy": _number(logs.get("mean_token_accuracy")),
        "elapsed": round(elapsed, 2),
        "eta": round(elapsed / step * (total - step), 1) if step else None,
        "time": time.time(),
    }


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
