"""Export the curated decisions of a store into a named folder beside it, recorded and zipped.

Why: an export must reproduce what was judged, so each decision is rebuilt
from its annotation's frozen path (the latest decision on a path wins). It must
also land where the studio finds it again (``<data dir>/exports/<name>``,
recorded as a dataset row), never overwrite an earlier export, be read back and
checked, and travel as one zip file whose entries are sorted and dated
1980-01-01, so that the same export gives the same bytes.

Example::

    result = export_accepted(store, "v1", formats=["sft", "dpo"], filters={"min_value": 0.5})
    result.summary.counts    # {'sft': 12, 'dpo': 9}
    result.problems          # [] when validate_export found nothing wrong
    result.zip_path          # /tmp/sra-export-.../v1.zip
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.curation.candidates import Decision, path_of
from core.curation.card import FILES
from core.curation.exports import FORMATS, ExportSummary, export_dataset, validate_export
from core.curation.queue import CandidateCache, CurationError, frozen_path, latest_annotations
from core.store.runs import Store, UnknownRun
from core.tree.nodes import Tree

NAME = re.compile(r"^[\w][\w.\- ]{0,99}$")


@dataclass(frozen=True)
class CurationExport:
    summary: ExportSummary
    problems: list[str]  # what validate_export found; [] when the export reads back as its card says
    zip_path: Path
    dataset_id: int


def exports_dir(store: Store) -> Path:
    """``exports/`` beside the database: the data dir for the studio's own store."""
    return store.path.parent / "exports"


def list_exports(folder: Path, fmt: str = "sft") -> list[str]:
    """The names of the exports in ``folder`` that hold a ``fmt`` file, newest first.

    This is the list a client picks a dataset from: a name not in it is not a dataset,
    whatever path it spells.
    """
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if not p.name.startswith(".") and (p / FILES[fmt]).is_file()]
    found.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    return [p.name for p in found]


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise CurationError("give the export a name")
    if not NAME.match(name):
        raise CurationError(
            f"export name {name!r} must be letters, digits, spaces, '.', '-' or '_' "
            "(no path separators), at most 100 characters"
        )
    return name


def zip_folder(folder: Path, target: Path) -> Path:
    """A zip of ``folder`` under its own name, with sorted entries and a fixed date."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(
                f"{folder.name}/{path.relative_to(folder).as_posix()}", (1980, 1, 1, 0, 0, 0)
            )
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
    return target


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def decisions_for_export(store: Store) -> list[Decision]:
    """The latest decision on each path, with the path as judged (rebuilt from its tree if not frozen)."""
    out = []
    for a in latest_annotations(store).values():
        path = frozen_path(a)
        if path is None:  # an annotation written without the frozen path: rebuild it if the run is there
            try:
                path = path_of(store.load_tree(a.run_id), a.node_id, a.run_id)
            except (UnknownRun, KeyError, ValueError):
                continue
        edits = a.edited if isinstance(a.edited, dict) else {}
        out.append(
            Decision(
                path,
                a.decision,
                comment=a.comment,
                edited_steps=edits.get("steps"),
                edited_code=edits.get("code"),
                annotator=a.annotator or "anonymous",
                created_at=_when(a.created_at),
            )
        )
    return out


def trees_for(
    store: Store, decisions: list[Decision], cache: CandidateCache | None = None
) -> dict[str, Tree]:
    """The current tree of each run with an accepted path (for DPO sibling negatives)."""
    cache = cache or CandidateCache()
    runs = {r.id: r for r in store.list_runs()}
    trees = {}
    for rid in sorted({d.path.run_id for d in decisions if d.decision == "accept"} & set(runs)):
        try:
            trees[rid] = cache.get(store, runs[rid])[0]
        except UnknownRun:  # deleted since the listing: no sibling negatives from it
            continue
    return trees


def export_accepted(
    store: Store,
    name: str,
    formats: Iterable[str] = FORMATS,
    filters: Mapping[str, Any] | None = None,
    *,
    zip_dir: Path | None = None,
    cache: CandidateCache | None = None,
) -> CurationExport:
    """Export the latest decisions to ``exports/<name>``, validate it, record it, zip it."""
    name = check_name(name)
    formats = list(dict.fromkeys(formats or []))
    if not formats:
        raise CurationError("pick at least one export format")
    out = exports_dir(store) / name
    if out.exists() and any(out.iterdir()):
        raise CurationError(f"an export named {name!r} exists already: choose another name")
    decisions = decisions_for_export(store)
    if not any(d.decision == "accept" for d in decisions):
        raise CurationError("nothing is accepted yet: accept a path before exporting")
    try:
        summary = export_dataset(
            decisions, out, formats, filters, trees=trees_for(store, decisions, cache), name=name
        )
    except ImportError as exc:
        raise CurationError(f"the hf format needs the datasets package ({exc.name} is missing)") from None
    except ValueError as exc:
        raise CurationError(str(exc)) from None
    problems = validate_export(out)
    dataset_id = store.add_dataset(
        name,
        ",".join(formats),
        out,
        filters=summary.filters,
        counts={**summary.counts, "dropped": summary.dropped},
    )
    folder = Path(zip_dir) if zip_dir is not None else Path(tempfile.mkdtemp(prefix="sra-export-"))
    return CurationExport(summary, problems, zip_folder(out, folder / f"{name}.zip"), dataset_id)
