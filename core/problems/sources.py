"""Where a batch's problems come from: HumanEval (all of it, a split, a range) or a JSONL file.

A JSONL file holds one problem per line: an object with ``prompt`` (required) and optional
``id``, ``entry_point`` and ``tests`` (a list of one-line ``assert`` statements, the visible
tests). Without an id, a problem is named ``custom/<hash of its prompt>``. Anything wrong
in a file is one :class:`ValueError` naming the file and the line.

Example::

    len(load_problems("humaneval"))                # 164
    [p.id for p in load_problems("HumanEval/0-2")] # ['HumanEval/0', 'HumanEval/1', 'HumanEval/2']
    load_problems("first-40")                      # a split, as ``evaluate --split`` takes it
    load_problems("mine.jsonl")                    # {"id": "inc", "prompt": "def inc(x): ...", "tests": ["assert inc(1) == 2"]}
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from core.problems.problem import Problem, custom_problem, get_problem, load_humaneval

FIELDS = ("id", "prompt", "entry_point", "tests")

_RANGE = re.compile(r"(?:HumanEval/)?(\d+)-(?:HumanEval/)?(\d+)")


def split(name: str) -> tuple[str, ...]:
    """HumanEval ids of a named split: "all", "first-N", "last-N", or a range "HumanEval/0-39" / "0-39"."""
    ids = [p.id for p in load_humaneval()]
    key = name.strip()
    if key == "all":
        return tuple(ids)
    if m := re.fullmatch(r"(first|last)-(\d+)", key):
        n = int(m.group(2))
        if not 1 <= n <= len(ids):
            raise ValueError(f"split {name!r}: N must be from 1 to {len(ids)}")
        return tuple(ids[:n] if m.group(1) == "first" else ids[-n:])
    if m := _RANGE.fullmatch(key):
        lo, hi = int(m.group(1)), int(m.group(2))
        if not lo <= hi < len(ids):
            raise ValueError(f"split {name!r}: a range runs from 0 to {len(ids) - 1}, low to high")
        return tuple(ids[lo : hi + 1])
    raise ValueError(f"unknown split {name!r}; use all, first-N, last-N or a range such as HumanEval/0-39")


def load_problems(source: str) -> list[Problem]:
    """The problems ``source`` names: "humaneval", a split or range of it, or a path to a JSONL file."""
    key = (source or "").strip()
    if not key:
        raise ValueError("no problem source given: use humaneval, a split such as first-40, or a JSONL file")
    path = Path(key).expanduser()
    if key.endswith(".jsonl") or path.is_file():
        return read_problems_file(path)
    try:
        ids = split("all" if key.lower() == "humaneval" else key)
    except ValueError as exc:
        if not str(exc).startswith("unknown split"):
            raise
        raise ValueError(
            f"unknown problem source {source!r}: use humaneval, first-N, last-N, a range such as "
            "HumanEval/0-7, or the path of a JSONL file"
        ) from None
    return [get_problem(i) for i in ids]


def read_problems_file(path: Path) -> list[Problem]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read problems file {path}: {exc}") from None
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where} is not valid JSON ({exc.msg})") from None
        problem = _problem(row, where)
        if problem.id in first_line:
            raise ValueError(
                f"{where}: problem id {problem.id!r} was used already on line {first_line[problem.id]}"
            )
        first_line[problem.id] = n
        problems.append(problem)
    if not problems:
        raise ValueError(f"problems file {path} holds no problems")
    return problems


def _problem(row: Any, where: str) -> Problem:
    if not isinstance(row, dict):
        raise ValueError(f"{where} must be a JSON object with a 'prompt', got {type(row).__name__}")
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; a problem has {', '.join(FIELDS)}")
    prompt, pid, entry, tests = (row.get(f) for f in ("prompt", "id", "entry_point", "tests"))
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}: 'prompt' must be a non-empty string")
    if pid is not None and (not isinstance(pid, str) or not pid.strip()):
        raise ValueError(f"{where}: 'id' must be a non-empty string")
    if entry is not None and not isinstance(entry, str):
        raise ValueError(f"{where}: 'entry_point' must be a string")
    if tests is None:
        tests = []
    if isinstance(tests, str):
        tests = tests.splitlines()
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise ValueError(f"{where}: 'tests' must be a list of assert lines")
    try:
        problem = custom_problem(prompt, "\n".join(tests), entry_point=entry)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return dataclasses.replace(problem, id=pid.strip()) if pid is not None else problem
