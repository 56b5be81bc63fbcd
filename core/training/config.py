"""What a LoRA fine-tune is: one validated config, its presets, the trainer arguments, a preview.

Why the arguments live here: the preview must show exactly the TRL ``SFTConfig`` and peft
``LoraConfig`` arguments the worker will use, so both are built here (:func:`sft_arguments`,
:func:`lora_arguments`) and the worker only calls them. Nothing here imports torch, trl or
peft until a device must be resolved. Datasets and models are checked in ``finetune_data``.

Example::

    cfg = preset("CPU quick", dataset="exports/v1")      # an export folder, or its sft.jsonl
    cfg.validate()                                        # FinetuneError names the bad field
    data = read_dataset(cfg.dataset)                      # DatasetInfo(path, records=16, sha256=..., ...)
    print(preview(cfg))                                   # JSON: config, dataset, steps, SFTConfig, LoraConfig
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from core.backends.adapters import NAME as ADAPTER_NAME
from core.training.data import (  # re-exported: callers need only this module
    DatasetInfo,
    FinetuneError,
    check_base_model,
    read_dataset,
    resolve_dataset,
    resolve_device,
)

__all__ = [
    "PRESETS",
    "DatasetInfo",
    "FinetuneConfig",
    "FinetuneError",
    "check_base_model",
    "lora_arguments",
    "preset",
    "preview",
    "read_dataset",
    "resolve_dataset",
    "resolve_device",
    "sft_arguments",
]
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class FinetuneConfig:
    dataset: str  # an export folder (its sft.jsonl is used) or a JSONL of chat ``messages`` records
    base_model: str = "embedded"
    adapter_name: str = ""  # empty: <dataset>-<YYYYmmdd-HHMMSS>
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    learning_rate: float = 2e-4
    epochs: float = 1.0
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 1024
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    def validate(self) -> FinetuneConfig:
        """Check every field's type and range; return self so calls chain."""
        _need(
            isinstance(self.dataset, str) and self.dataset.strip(),
            "dataset: choose an export or a JSONL file",
        )
        _need(isinstance(self.base_model, str), "base_model must be a model name or path")
        name = self.adapter_name
        _need(
            isinstance(name, str) and (not name or ADAPTER_NAME.match(name)),
            f"adapter_name {name!r} must start with a letter or digit and use only letters, digits, "
            "'.', '-' or '_' (at most 100 characters)",
        )
        _int(self, "lora_r", 1, 1024)
        _int(self, "lora_alpha", 1, 4096)
        _num(self, "lora_dropout", 0.0, 0.9)
        mods = self.target_modules
        _need(
            isinstance(mods, tuple) and mods and all(isinstance(m, str) and m.strip() for m in mods),
            "target_modules must name at least one module, e.g. q_proj,v_proj",
        )
        _num(self, "learning_rate", 1e-8, 1.0)
        _num(self, "epochs", 0.01, 1000.0)
        _int(self, "batch_size", 1, 4096)
        _int(self, "grad_accum", 1, 4096)
        _int(self, "max_length", 16, 131072)
        _int(self, "seed", 0, 2**32 - 1)
        _need(
            isinstance(self.device, str) and DEVICE.match(self.device),
            f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}",
        )
        return self

    def replace(self, **changes: Any) -> FinetuneConfig:
        return FinetuneConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["target_modules"] = list(self.target_modules)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        if not isinstance(data, dict):
            raise FinetuneError(f"a fine-tune config must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise FinetuneError(f"unknown fine-tune config field(s): {', '.join(unknown)}")
        values = dict(data)
        mods = values.get("target_modules")
        if isinstance(mods, str):
            values["target_modules"] = tuple(m.strip() for m in mods.split(",") if m.strip())
        elif isinstance(mods, list):
            values["target_modules"] = tuple(mods)
        if "dataset" not in values:
            raise FinetuneError("dataset: choose an export or a JSONL file")
        return cls(**values)


PRESETS: dict[str, dict[str, Any]] = {
    # A couple of minutes on a laptop CPU with the embedded model: short sequences, a high rate.
    "CPU quick": {"learning_rate": 1e-3, "epochs": 1.0, "batch_size": 4, "max_length": 512, "device": "cpu"},
    # Qwen2.5-Coder-0.5B on a 2-core CPU, for a set of about 80 records (one per HumanEval train
    # problem). Every linear projection is adapted, not attention alone: with few records, where the
    # adapter sits matters more than its rank (QLoRA, arXiv 2305.14314), and on a CPU the frozen
    # forward and backward passes, not the adapter, cost the time. Rank 8 keeps the adapter small for
    # so little data. One record per step of the forward pass (batch 1, 8 accumulated) pads nothing:
    # records run from about 150 to 1,000 tokens, and a CPU gains little from batching a model of
    # this size. 1,024 tokens hold the longest train problem (310 prompt tokens) with its reasoning
    # and a 384-token program, so nothing is cut. Two epochs at 3e-4: about 20 optimizer steps, a
    # measurable move from the base on 80 records without training it to recite them.
    "CPU 0.5B": {
        "lora_r": 8,
        "lora_alpha": 16,
        "target_modules": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "learning_rate": 3e-4,
        "epochs": 2.0,
        "batch_size": 1,
        "grad_accum": 8,
        "max_length": 1024,
        "device": "cpu",
    },
    "default": {},
    # A real run on one GPU: every linear layer, rank 16, three epochs.
    "GPU": {
        "lora_r": 16,
        "lora_alpha": 32,
        "target_modules": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "epochs": 3.0,
        "batch_size": 8,
        "grad_accum": 2,
        "max_length": 2048,
        "device": "cuda",
    },
}


def preset(name: str, dataset: str = "", **changes: Any) -> FinetuneConfig:
    """The preset ``name`` for ``dataset``, with ``changes`` on top (not validated yet)."""
    if name not in PRESETS:
        raise FinetuneError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return FinetuneConfig(dataset=dataset, **{**PRESETS[name], **changes})


def estimated_steps(cfg: FinetuneConfig, records: int) -> int:
    per_epoch = max(1, math.ceil(math.ceil(records / cfg.batch_size) / cfg.grad_accum))
    return max(1, math.ceil(per_epoch * cfg.epochs))


def sft_arguments(cfg: FinetuneConfig, device: str, output_dir: str) -> dict[str, Any]:
    """Keyword arguments for ``trl.SFTConfig``: loss logged every step, no Trainer checkpoints."""
    bf16 = False
    if device.startswith("cuda"):
        import torch

        bf16 = torch.cuda.is_bf16_supported()
    return {
        "output_dir": output_dir,
        "num_train_epochs": cfg.epochs,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": "linear",
        "max_length": cfg.max_length,
        "seed": cfg.seed,
        "logging_steps": 1,
        "save_strategy": "no",  # the worker saves the adapter itself, at the end or on stop
        "report_to": "none",
        "disable_tqdm": True,  # the progress callback writes its own lines
        "use_cpu": device == "cpu",
        "bf16": bf16,  # CPU trains in fp32; a GPU in bf16 where it can, else fp16
        "fp16": device.startswith("cuda") and not bf16,
        "gradient_checkpointing": False,  # small models: speed over memory
        "dataloader_num_workers": 0,
        "packing": False,
    }


def lora_arguments(cfg: FinetuneConfig) -> dict[str, Any]:
    """Keyword arguments for ``peft.LoraConfig``."""
    return {
        "r": cfg.lora_r,
        "lora_alpha": cfg.lora_alpha,
        "lora_dropout": cfg.lora_dropout,
        "target_modules": list(cfg.target_modules),
        "bias": "none",
        "task_type": "CAUSAL_LM",
    }


def preview(cfg: FinetuneConfig) -> str:
    """The fully resolved run as JSON; raises :class:`FinetuneError` on any bad input."""
    cfg.validate()
    data = read_dataset(cfg.dataset)
    device = resolve_device(cfg.device)
    view = {
        "config": cfg.to_dict(),
        "base_model": check_base_model(cfg.base_model),
        "device": device,
        "dataset": {
            "path": str(data.path),
            "records": data.records,
            "sha256": data.sha256,
            "problems": len(data.problems),
        },
        "estimated_steps": estimated_steps(cfg, data.records),
        "trl.SFTConfig": sft_arguments(cfg, device, "<job folder>/trainer"),
        "peft.LoraConfig": lora_arguments(cfg),
    }
    return json.dumps(view, indent=2)


def _need(ok: Any, message: str) -> None:
    if not ok:
        raise FinetuneError(message)


def _int(cfg: FinetuneConfig, name: str, lo: int, hi: int) -> None:
    v = getattr(cfg, name)
    ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
    _need(ok, f"{name} must be a whole number from {lo} to {hi}, got {v!r}")


def _num(cfg: FinetuneConfig, name: str, lo: float, hi: float) -> None:
    v = getattr(cfg, name)
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi
    _need(ok, f"{name} must be a number from {lo:g} to {hi:g}, got {v!r}")
