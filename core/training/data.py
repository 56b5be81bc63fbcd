"""The inputs of a fine-tune, resolved and checked before any process starts: dataset, base model, device.

Why here and not in the worker: bad input must be one clear message at once (an empty
export, a file of the wrong format, a model that is not on this machine), not a crash in a
subprocess a minute later. The worker calls the same functions again, so the two agree.

Example::

    data = read_dataset("exports/v1")       # its sft.jsonl: DatasetInfo(records=16, sha256=..., problems=[...])
    read_dataset("empty.jsonl")             # FinetuneError: dataset empty.jsonl has no records: ...
    check_base_model("nope/missing")        # FinetuneError: unknown base model ... (when offline)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.backends.adapters import canonical_base
from core.backends.catalogue import resolve
from core.backends.embedded import embedded_model_dir, find_parts
from core.curation.card import FILES
from core.llm import ModelNotAvailable

SFT_FILE = FILES["sft"]


class FinetuneError(ValueError):
    """Bad fine-tune input (config, dataset, model): the message says which and how to fix it."""


@dataclass(frozen=True)
class DatasetInfo:
    path: Path  # the JSONL file
    records: int
    sha256: str
    problems: list[str]  # sorted problem ids from the records' meta
    rows: list[dict[str, Any]]  # the records' ``messages``, checked


def resolve_dataset(dataset: str) -> Path:
    """An export folder means its ``sft.jsonl``; a file is used as it is."""
    path = Path(str(dataset).strip()).expanduser()
    if path.is_dir():
        if not (path / SFT_FILE).is_file():
            raise FinetuneError(f"export folder {path} has no {SFT_FILE}: export it with the sft format")
        return path / SFT_FILE
    if not path.is_file():
        raise FinetuneError(f"dataset {path} does not exist (give an export folder or a .jsonl file)")
    return path


def read_dataset(dataset: str) -> DatasetInfo:
    """Read and check every record: valid JSON with chat ``messages`` ending in an assistant reply."""
    path = resolve_dataset(dataset)
    try:
        raw = path.read_bytes()
        lines = raw.decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FinetuneError(f"cannot read dataset {path}: {exc}") from None
    rows, problems = [], set()
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FinetuneError(f"{path.name} line {no} is not JSON: {exc.msg}") from None
        rows.append({"messages": _check_messages(record, f"{path.name} line {no}")})
        meta = record.get("meta")
        problem = meta.get("problem_id") or meta.get("problem") if isinstance(meta, dict) else None
        if problem:
            problems.add(str(problem))
    if not rows:
        raise FinetuneError(f"dataset {path} has no records: accept some paths and export them first")
    return DatasetInfo(path, len(rows), hashlib.sha256(raw).hexdigest(), sorted(problems), rows)


def _check_messages(record: Any, where: str) -> list[dict[str, str]]:
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        raise FinetuneError(f"{where} has no chat 'messages' (export with the sft format)")
    for m in messages:
        ok = isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
        if not ok or not isinstance(m.get("content"), str):
            raise FinetuneError(
                f"{where}: each message needs a role (system/user/assistant) and text content"
            )
    if messages[-1]["role"] != "assistant" or not any(m["role"] == "user" for m in messages):
        raise FinetuneError(f"{where}: messages must have a user turn and end with the assistant's answer")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def check_base_model(model: str) -> str:
    """The canonical base model name, if its weights can be found without loading them."""
    if (entry := resolve(model)) is not None:
        if not (embedded_model_dir(entry.key, build=False) / "config.json").is_file():
            try:
                find_parts(entry)
            except ModelNotAvailable as exc:
                raise FinetuneError(f"base model {entry.name}: {exc}") from None
        return canonical_base(model)
    local = Path(model).expanduser()
    if local.exists() or model.startswith(("/", ".", "~")) or model.count("/") > 1:
        if not (local / "config.json").is_file():
            raise FinetuneError(f"unknown base model {model!r}: no model folder (config.json) there")
        return model
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") and not _in_hf_cache(model):
        raise FinetuneError(
            f"unknown base model {model!r}: not a local folder, and not in the Hugging Face cache (offline)"
        )
    return model


def _in_hf_cache(repo: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo, "config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def resolve_device(device: str) -> str:
    """``auto`` becomes cuda when a GPU is visible, else cpu; a GPU asked for must exist."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FinetuneError(f"device {device!r}: no CUDA GPU is visible here (use cpu or auto)")
    return device
