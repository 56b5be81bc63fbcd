"""The adapter registry: LoRA adapters trained by the studio, one folder each under ``adapters/``.

Why a file beside peft's own: ``adapter_config.json`` says how to rebuild the LoRA layers,
but not what the adapter was trained on. ``studio_adapter.json`` keeps the base model, the
dataset and its hash, the problems it saw (so an evaluation can flag train/test overlap),
the full training config and the job, so any adapter can be traced and reproduced.

Example::

    [info] = list_adapters()              # newest first
    info.base_model, info.records         # ('qwen2.5-coder-0.5b', 16)
    get_adapter(info.name).path           # <data dir>/adapters/<name>
    get_adapter("nope")                   # UnknownAdapter: no adapter 'nope' in ...
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import write_atomic
from core.backends.catalogue import EMBEDDED_MODEL, TINY_KEY, key_of
from core.paths import data_dir

META_FILE = "studio_adapter.json"
PEFT_FILE = "adapter_config.json"
# Adapters saved before the model catalogue recorded "embedded", which then meant SmolLM2-135M.
LEGACY_EMBEDDED = EMBEDDED_MODEL
NAME = re.compile(r"^[A-Za-z0-9][\w.\-]{0,99}$")


class UnknownAdapter(KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown adapter"


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    path: Path
    base_model: str  # a catalogue key ("qwen2.5-coder-0.5b"), a Hugging Face id or a local path
    dataset: str  # the JSONL file trained on
    dataset_hash: str  # sha256 of that file's bytes
    records: int
    problems: list[str]  # problem ids in the training data (from each record's meta)
    config: dict[str, Any]  # the FinetuneConfig as a dict
    created_at: float
    job_id: str | None
    state: str  # "finished" | "stopped" (stopped early: the adapter trained so far)
    extra: dict[str, Any] = field(default_factory=dict)  # steps, final loss, train seconds ...

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("path")
        return out

    @classmethod
    def from_folder(cls, folder: Path) -> AdapterInfo:
        raw = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        known = {f for f in cls.__dataclass_fields__ if f != "path"}
        values = {k: v for k, v in raw.items() if k in known}
        if values.get("base_model") == LEGACY_EMBEDDED:
            values["base_model"] = TINY_KEY  # written before the catalogue, when "embedded" was SmolLM2
        return cls(path=folder, **values)


def adapters_dir() -> Path:
    """``<data dir>/adapters``: where the worker saves adapters and the studio lists them."""
    return data_dir() / "adapters"


def canonical_base(model: str | None) -> str:
    """The name an adapter records for its base: the catalogue key for every spelling of an embedded model."""
    return key_of(model) or str(model).strip()


def same_base(a: str | None, b: str | None) -> bool:
    """Whether two model names load the same weights (local paths compared resolved)."""
    a, b = canonical_base(a), canonical_base(b)
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def write_meta(folder: Path, info: AdapterInfo) -> None:
    write_atomic(folder / META_FILE, json.dumps(info.to_json(), indent=2, sort_keys=True))


def list_adapters(root: Path | None = None) -> list[AdapterInfo]:
    """Every complete adapter under ``root`` (default :func:`adapters_dir`), newest first.

    A folder without both meta files (a save in progress, a foreign folder) is skipped.
    """
    root = Path(root) if root is not None else adapters_dir()
    if not root.is_dir():
        return []
    out = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or not (folder / PEFT_FILE).is_file():
            continue
        try:
            out.append(AdapterInfo.from_folder(folder))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(out, key=lambda a: (a.created_at, a.name), reverse=True)


def get_adapter(name_or_path: str, root: Path | None = None) -> AdapterInfo:
    """An adapter by its registry name, or by the path of its folder."""
    root = Path(root) if root is not None else adapters_dir()
    given = str(name_or_path or "").strip()
    if not given:
        raise UnknownAdapter("no adapter named: give an adapter name from the registry")
    candidates = [root / given] if NAME.match(given) else []
    candidates.append(Path(given).expanduser())
    for folder in candidates:
        if (folder / META_FILE).is_file() and (folder / PEFT_FILE).is_file():
            try:
                return AdapterInfo.from_folder(folder)
            except (OSError, ValueError, TypeError) as exc:
                raise UnknownAdapter(f"adapter {given!r} has an unreadable {META_FILE}: {exc}") from None
    known = [a.name for a in list_adapters(root)]
    hint = f"; known: {', '.join(known[:10])}" if known else " (none trained yet)"
    raise UnknownAdapter(f"no adapter {given!r} in {root}{hint}")
