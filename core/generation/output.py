"""The output folder of ``generate``, kept consistent across crashes and reruns.

``OUT/spec.json`` holds the first run's settings (a rerun with other settings is warned),
``OUT/sft.jsonl`` one SFT record per problem (the studio's export shape: ``messages`` and
``meta``, so ``finetune --dataset OUT`` reads it as it is), ``OUT/done.jsonl`` the manifest:
one line per finished problem.

Order is the consistency rule. A problem's record is appended, flushed and fsynced *before*
its manifest line, so a manifest line never names a record that is not on disk. On open, a
torn last line (a crash mid-write) is dropped, and so is every record whose (problem, run)
no manifest line names (a crash between the two writes): that problem is not done and runs
again. Files are rewritten (atomically) only when something was dropped, so a clean rerun
leaves them byte for byte as they were.

Example::

    out = OutputDir("runs/gen1")
    out.open({"seed": 0, "model_id": "openai:qwen"})     # [] on a first run, else warnings
    "HumanEval/0" in out.done                             # False
    out.append(record, {"problem_id": "HumanEval/0", "run_id": "ab12cd34ef56", ...})
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic import write_atomic

SPEC, RECORDS, MANIFEST = "spec.json", "sft.jsonl", "done.jsonl"
UNCOMPARED = ("config",)  # spec.json keeps it; its hash is what a rerun compares


@dataclass
class _State:
    manifest: list[tuple[str, dict[str, Any]]]  # (line, object), consistent with the records
    records: list[str]
    rewrite_manifest: bool
    rewrite_records: bool


class OutputDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.done: dict[str, dict[str, Any]] = {}  # problem id -> its manifest line
        self._lock = threading.Lock()

    @property
    def records_path(self) -> Path:
        return self.path / RECORDS

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def load(self) -> _State:
        """Read the files as a rerun should see them; writes nothing. ValueError when damaged past repair."""
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"output {self.path} is a file, not a folder")
        manifest, torn_m = _read_jsonl(self.manifest_path, ("problem_id", "run_id"))
        records, torn_r = _read_jsonl(self.records_path, ("meta",))
        by_run: dict[tuple[str, str], str] = {}
        for line, obj in records:
            meta = obj["meta"] if isinstance(obj["meta"], dict) else {}
            by_run.setdefault((str(meta.get("problem_id")), str(meta.get("run_id"))), line)
        kept, kept_records, seen = [], [], set()
        for line, obj in manifest:
            key = (str(obj["problem_id"]), str(obj["run_id"]))
            if key[0] in seen or key not in by_run:
                continue
            seen.add(key[0])
            kept.append((line, obj))
            kept_records.append(by_run[key])
        return _State(
            kept,
            kept_records,
            torn_m or len(kept) != len(manifest),
            torn_r or len(kept_records) != len(records),
        )

    def open(self, settings: dict[str, Any]) -> list[str]:
        """Create or repair the folder, note what is done, check ``settings`` against spec.json; return warnings."""
        state = self.load()
        self.path.mkdir(parents=True, exist_ok=True)
        warnings = []
        if state.rewrite_records:
            _rewrite(self.records_path, state.records)
            warnings.append(f"{self.records_path}: dropped records a crash left without a manifest line")
        if state.rewrite_manifest:
            _rewrite(self.manifest_path, [line for line, _ in state.manifest])
        self.done = {obj["problem_id"]: obj for _, obj in state.manifest}
        return warnings + self._check_spec(settings)

    def append(self, record: dict[str, Any], manifest: dict[str, Any]) -> None:
        """Append a problem's record, then its manifest line (each flushed and fsynced), as one step."""
        with self._lock:
            _append(self.records_path, record)
            _append(self.manifest_path, manifest)
            self.done[manifest["problem_id"]] = manifest

    def _check_spec(self, settings: dict[str, Any]) -> list[str]:
        path = self.path / SPEC
        settings = json.loads(json.dumps(settings))  # tuples as lists, as they read back
        if not path.exists():
            _rewrite(path, [json.dumps(settings, indent=2, ensure_ascii=False)])
            return []
        try:
            first = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return [f"cannot read {path} ({exc}); the settings of earlier runs are unknown"]
        if not isinstance(first, dict):
            return [f"{path} is not a JSON object; the settings of earlier runs are unknown"]
        changed = [
            f"{k} {first.get(k)!r} -> {v!r}"
            for k, v in settings.items()
            if k not in UNCOMPARED and first.get(k) != v
        ]
        if not changed:
            return []
        return [
            f"{self.path} was started with other settings ({'; '.join(changed)}); "
            "new records will sit beside records made the old way"
        ]


def _read_jsonl(path: Path, required: tuple[str, ...]) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """(line, object) pairs, and whether the file had a torn last line or blank lines to drop."""
    if not path.exists():
        return [], False
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    tail = lines.pop()  # "" when the file ends with its newline; else a line a crash cut short
    rows, dirty = [], bool(tail)
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            dirty = True
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{path} line {n} is not valid JSON ({exc.msg}): fix or delete that line"
            ) from None
        if not isinstance(obj, dict) or any(k not in obj for k in required):
            raise ValueError(f"{path} line {n} lacks {', '.join(required)}: fix or delete that line")
        rows.append((line, obj))
    return rows, dirty


def _append(path: Path, obj: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _rewrite(path: Path, lines: list[str]) -> None:
    write_atomic(path, "".join(f"{line}\n" for line in lines))
