"""The dataset card of an export, and the check that an export folder is what its card says.

Why: a folder of JSONL files says nothing about where it came from. The card
(``README.md``, Hugging Face style) lists the counts, problems, runs, models,
annotators and filters; its YAML header holds the same facts as one JSON line
(``sra_export: {...}``), so :func:`validate_export` can re-read every file and
compare its count with the card's.

Example::

    validate_export("exports/v1")     # [] when valid
    # ['sft.jsonl line 3: not JSON (Expecting value)', 'sft.jsonl: 11 records, the card says 12']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.curation.candidates import Decision

FILES = {
    "sft": "sft.jsonl",
    "alpaca": "alpaca.jsonl",
    "reference": "reference.jsonl",
    "dpo": "dpo.jsonl",
    "prm": "prm.jsonl",
    "hf": "hf_dataset",
}
HEADER = re.compile(r"^sra_export: (\{.*\})$", re.MULTILINE)


@dataclass
class ExportSummary:
    """What one export wrote: its folder, records per format, and the problems and runs they came from."""

    out_dir: str
    counts: dict[str, int]
    files: list[str]
    problems: list[str]
    runs: list[str]
    filters: dict[str, Any]
    dropped: int = 0  # accepted decisions the filters left out
    notes: list[str] = field(default_factory=list)


def render_card(name: str, summary: ExportSummary, used: Sequence[Decision]) -> str:
    """The README.md text; it depends only on the decisions and options, so it is reproducible."""
    models = sorted(
        {f"{d.path.provenance.get('backend', '')}:{d.path.provenance.get('model', '')}" for d in used}
    )
    annotators = sorted({d.annotator for d in used})
    facts = {"name": name, "counts": summary.counts, "filters": summary.filters}
    facts |= {"problems": summary.problems, "runs": summary.runs, "models": models, "annotators": annotators}
    rows = "\n".join(f"| {fmt} | `{FILES[fmt]}` | {n} |" for fmt, n in summary.counts.items())
    lines = [
        "---",
        "pretty_name: " + json.dumps(name, ensure_ascii=False),
        "task_categories: [text-generation]",
        "tags: [code, reasoning, mcts, sra-mcts]",
        "sra_export: " + json.dumps(facts, sort_keys=True, ensure_ascii=False),
        "---",
        "",
        f"# {name}",
        "",
        "Reasoning paths found by SRA-MCTS search (natural-language steps, then code), accepted by annotators.",
        "Every record except `reference.jsonl` has a `meta` block naming its run, node, model, seed,",
        "config hash and annotator.",
        "",
        "| format | file | records |",
        "|---|---|---|",
        rows,
        "",
        f"- Problems ({len(summary.problems)}): " + ", ".join(summary.problems),
        f"- Runs ({len(summary.runs)}): " + ", ".join(summary.runs),
        "- Models: " + ", ".join(models),
        "- Annotators: " + ", ".join(annotators),
        "- Filters: `" + json.dumps(summary.filters, sort_keys=True) + "`",
        f"- Accepted paths the filters left out: {summary.dropped}",
        "",
    ]
    return "\n".join(lines)


def read_card(out_dir: str | Path) -> dict[str, Any]:
    """The facts of the card's header; ValueError when there is none."""
    text = (Path(out_dir) / "README.md").read_text(encoding="utf-8")
    m = HEADER.search(text)
    if m is None:
        raise ValueError("README.md has no sra_export header line")
    return json.loads(m.group(1))


def _is_str_list(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(s, str) for s in x)


def _messages_ok(m: Any) -> bool:
    return (
        isinstance(m, list)
        and len(m) >= 2
        and all(isinstance(x, dict) and isinstance(x.get("content"), str) for x in m)
        and [x.get("role") for x in m[-2:]] == ["user", "assistant"]
    )


def _prm_ok(r: dict[str, Any]) -> bool:
    value = r.get("value")
    return (
        _is_str_list(r.get("steps"))
        and isinstance(value, (int, float))
        and 0.0 <= value <= 1.0
        and isinstance(r.get("prompt"), str)
    )


CHECKS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "sft": lambda r: _messages_ok(r.get("messages")) and isinstance(r.get("meta"), dict),
    "alpaca": lambda r: (
        all(isinstance(r.get(k), str) for k in ("instruction", "input", "output"))
        and isinstance(r.get("meta"), dict)
    ),
    "reference": lambda r: set(r) == {"question", "solution"} and all(isinstance(v, str) for v in r.values()),
    "dpo": lambda r: (
        all(isinstance(r.get(k), str) for k in ("prompt", "chosen", "rejected"))
        and isinstance(r.get("meta"), dict)
    ),
    "prm": lambda r: _prm_ok(r) and isinstance(r.get("meta"), dict),
}


def _check_jsonl(path: Path, fmt: str) -> tuple[int, list[str]]:
    problems, n = [], 0
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        n += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path.name} line {i}: not JSON ({exc.msg})")
            continue
        if not isinstance(record, dict) or not CHECKS[fmt](record):
            problems.append(f"{path.name} line {i}: missing or mistyped keys for the {fmt} format")
    return n, problems


def _check_hf(path: Path) -> tuple[int, list[str]]:
    import datasets  # slow to import

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # any failure to load is what we report
        return 0, [f"{path.name}: cannot be loaded with datasets.load_from_disk ({type(exc).__name__})"]
    if ds.num_rows and "messages" not in ds.column_names:
        return ds.num_rows, [f"{path.name}: has no messages column"]
    return ds.num_rows, []


def validate_export(out_dir: str | Path) -> list[str]:
    """Re-read every file the card names; the problems found, [] when the export is valid."""
    out = Path(out_dir)
    try:
        counts = read_card(out)["counts"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"README.md: cannot read the card ({exc})"]
    problems: list[str] = []
    for fmt, expected in sorted(counts.items()):
        if fmt not in FILES:
            problems.append(f"README.md: unknown format {fmt!r}")
            continue
        path = out / FILES[fmt]
        if not path.exists():
            if not (fmt == "hf" and expected == 0):  # an empty datasets folder is not written
                problems.append(f"{FILES[fmt]}: missing")
            continue
        n, found = _check_hf(path) if fmt == "hf" else _check_jsonl(path, fmt)
        problems += found
        if n != expected:
            problems.append(f"{FILES[fmt]}: {n} records, the card says {expected}")
    return problems
