"""The files a fine-tune job keeps on disk, and whether the process behind it still lives.

Why atomic writes and tolerant reads: the worker writes ``status.json`` and appends to
``progress.jsonl`` while the studio, the CLI and other processes read them, so a reader
must never see half a file, and a half-written last line is skipped, not an error.
A pid alone does not identify a process (pids are reused, and a dead child stays a
zombie until reaped), so on Linux the process's start time is kept beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.atomic import write_atomic

TAIL_LINES = 40


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically, so a reader never sees half a file."""
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True))


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_progress(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line being written right now
    return out


def log_tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64_000))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [x.rstrip("\r") for x in text.splitlines()[-lines:]]


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, start: str | None) -> bool:
    stat_path = Path(f"/proc/{pid}/stat")
    if stat_path.parent.parent.joinpath("self").exists():  # Linux: a zombie or a reused pid counts as dead
        try:
            fields = stat_path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return fields[0] != "Z" and (start is None or fields[19] == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
