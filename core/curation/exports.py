"""Write curated decisions as training files: SFT, alpaca, reference, DPO, PRM, a datasets folder, a card.

Why: the export is the product's output, so it must be reproducible and
traceable. The same decisions give the same bytes (records sorted by problem,
run and node; JSON with sorted keys; no clock read), every record but the
reference one carries ``meta`` (annotator, model, seed, config hash, run,
node), and each file is replaced atomically, so a crash never leaves half a
file that a trainer would read.

Example::

    summary = export_dataset(decisions, "exports/v1", filters={"min_value": 0.5}, trees={"run-7": tree})
    summary.counts     # {'sft': 12, 'alpaca': 12, 'reference': 12, 'dpo': 9, 'prm': 40, 'hf': 12}
    validate_export("exports/v1")   # [] when every file reads back and matches the card
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from core.atomic import write_atomic
from core.curation.candidates import CandidatePath, Decision, sibling_paths
from core.curation.card import FILES, ExportSummary, render_card, validate_export
from core.curation.formats import alpaca_record, dpo_record, prm_records, reference_record, sft_record
from core.tree.nodes import Tree

FORMATS = ("sft", "alpaca", "reference", "dpo", "prm", "hf")
DEFAULT_FILTERS: dict[str, Any] = {
    "min_value": 0.0,  # accepted paths below this value are left out
    "require_code": False,  # leave out accepted paths without code
    "require_visible_pass": False,  # leave out accepted paths whose code failed (or never ran) the visible tests
    "dpo_margin": 0.1,  # a sibling negative must be worse than the accepted path by this much
    "dpo_siblings": 1,  # sibling negatives per accepted path, used only when no path was rejected
}

__all__ = ["FORMATS", "DEFAULT_FILTERS", "ExportSummary", "export_dataset", "validate_export"]


def dumps(record: Any) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def write_jsonl(path: Path, records: Iterable[Any]) -> None:
    write_atomic(path, "".join(dumps(r) + "\n" for r in records))


def write_hf_dataset(path: Path, records: list[dict[str, Any]]) -> None:
    """``Dataset.from_list(records).save_to_disk`` into a temp folder, then swapped in.

    With no records there is no folder (``datasets`` cannot load back an empty saved dataset).
    """
    if not records:
        shutil.rmtree(path, ignore_errors=True)
        return
    import datasets  # slow to import: only when this format is asked for

    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    old = path.parent / f".{path.name}.old"
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # a bar per save is noise in a CLI and in logs
    try:
        datasets.Dataset.from_list(records).save_to_disk(str(tmp / "data"))
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp / "data", path)
    finally:
        if not quiet:
            datasets.enable_progress_bars()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def check_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    unknown = sorted(set(filters or {}) - set(DEFAULT_FILTERS))
    if unknown:
        raise ValueError(f"unknown export filters {unknown}; known: {sorted(DEFAULT_FILTERS)}")
    return {**DEFAULT_FILTERS, **(filters or {})}


def order_key(path: CandidatePath) -> tuple[str, str, int]:
    return (path.problem.id, path.run_id, path.node_id)


def latest_decisions(decisions: Iterable[Decision]) -> list[Decision]:
    """One decision per path (the latest wins), sorted by (problem id, run id, node id)."""
    latest: dict[tuple[str, str, int], Decision] = {}
    for d in sorted(decisions, key=lambda d: (d.created_at, d.annotator)):
        latest[order_key(d.path)] = d
    return [latest[k] for k in sorted(latest)]


def keep(d: Decision, f: dict[str, Any]) -> bool:
    p = d.path
    if p.value < f["min_value"] or (f["require_code"] and not d.code.strip()):
        return False
    return not (f["require_visible_pass"] and (p.visible is None or not p.visible.passed))


def dpo_pairs(
    accepted: list[Decision], rejected: list[Decision], trees: Mapping[str, Tree], f: dict[str, Any]
) -> list[dict[str, Any]]:
    pairs = []
    for good in accepted:
        bad: list[Decision | CandidatePath] = [
            r for r in rejected if r.path.problem.id == good.path.problem.id
        ]
        tree = trees.get(good.path.run_id)
        if not bad and tree is not None and f["dpo_siblings"] > 0:
            siblings = sibling_paths(tree, good.path.node_id, run_id=good.path.run_id, margin=f["dpo_margin"])
            bad = list(siblings[: f["dpo_siblings"]])
        for b in bad:
            record = dpo_record(good, b)
            if record["chosen"] != record["rejected"] and record["rejected"]:
                pairs.append(record)
    return pairs


def unique_prm(decisions: list[Decision]) -> list[dict[str, Any]]:
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out = []
    for d in decisions:
        for r in prm_records(d):
            key = (d.path.problem.id, tuple(r["steps"]))
            if key not in seen:
                seen.add(key)
                out.append(r)
    return out


def export_dataset(
    decisions: Iterable[Decision],
    out_dir: str | os.PathLike[str],
    formats: Iterable[str] = FORMATS,
    filters: Mapping[str, Any] | None = None,
    *,
    trees: Mapping[str, Tree] | None = None,
    system: str | None = None,
    name: str = "sra-mcts-export",
) -> ExportSummary:
    """Write the chosen formats and ``README.md`` into ``out_dir``; ``trees`` (by run id) give DPO siblings."""
    formats = tuple(dict.fromkeys(formats))
    bad = [x for x in formats if x not in FORMATS]
    if bad:
        raise ValueError(f"unknown export formats {bad}; known: {list(FORMATS)}")
    f = check_filters(filters)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    judged = latest_decisions(decisions)
    accepted_all = [d for d in judged if d.decision == "accept"]
    accepted = [d for d in accepted_all if keep(d, f)]
    rejected = [d for d in judged if d.decision == "reject"]

    records: dict[str, list[Any]] = {
        "sft": [sft_record(d, system) for d in accepted],
        "alpaca": [alpaca_record(d) for d in accepted],
        "reference": [reference_record(d) for d in accepted],
        "dpo": dpo_pairs(accepted, rejected, trees or {}, f),
        "prm": unique_prm(sorted(accepted + rejected, key=lambda d: order_key(d.path))),
    }
    counts: dict[str, int] = {}
    for fmt in formats:
        if fmt == "hf":
            write_hf_dataset(out / FILES["hf"], records["sft"])
            counts["hf"] = len(records["sft"])
        else:
            write_jsonl(out / FILES[fmt], records[fmt])
            counts[fmt] = len(records[fmt])
    used = accepted + rejected
    summary = ExportSummary(
        out_dir=str(out),
        counts=counts,
        files=[FILES[x] for x in formats] + ["README.md"],
        problems=sorted({d.path.problem.id for d in used}),
        runs=sorted({d.path.run_id for d in used}),
        filters=f,
        dropped=len(accepted_all) - len(accepted),
    )
    write_atomic(out / "README.md", render_card(name, summary, used))
    return summary
