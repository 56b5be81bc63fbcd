"""The curation queue: every candidate path of the stored runs, with its latest human decision.

Why: annotators judge paths across many runs, and the runs keep growing while
they work. The queue is rebuilt from the store on each refresh (a run's
candidates are recomputed only when the run was saved again), and a decision
is an append-only annotation that carries the frozen :class:`CandidatePath`
in its provenance, so an export reproduces exactly what was judged even after
the tree moved on. Edits are kept beside the original, never over it.

Example::

    cache = CandidateCache()
    items = build_queue(store, QueueFilter(problem="HumanEval/0"), sort="critic", cache=cache)
    counts(items)        # {'pending': 7, 'accepted': 2, 'rejected': 1}
    decide(store, items[0], "accept", annotator="ada", edited_steps=["Sort first.", "Compare neighbours."])
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from core.curation.candidates import CandidatePath, candidate_paths
from core.store.runs import Store, UnknownRun
from core.store.schema import Annotation, RunRow
from core.tree.nodes import Tree

STATUSES = ("pending", "accepted", "rejected")
SORTS = {"value": "value", "critic": "critic score", "visible": "visible-test pass rate"}
STATUS_OF = {"accept": "accepted", "reject": "rejected", "skip": "pending"}
NUMBERED = re.compile(r"^\d+[.)](?:\s+|$)")


class CurationError(ValueError):
    """A decision or an export that cannot be made as asked: one line a user can act on."""


@dataclass(frozen=True)
class QueueFilter:
    problem: str | None = None
    model: str | None = None
    run_status: str | None = None
    min_value: float | None = None
    text: str = ""  # case-insensitive, in the problem id, run id, steps and code


@dataclass(frozen=True)
class QueueItem:
    """A candidate path and its latest annotation; accepted or rejected items show the frozen path judged."""

    path: CandidatePath
    run: RunRow | None
    annotation: Annotation | None = None

    @property
    def key(self) -> str:
        return item_key(self.path.run_id, self.path.node_id)

    @property
    def status(self) -> str:
        return STATUS_OF[self.annotation.decision] if self.annotation is not None else "pending"

    @property
    def skipped(self) -> bool:
        return self.annotation is not None and self.annotation.decision == "skip"

    @property
    def edits(self) -> dict[str, Any]:
        edited = self.annotation.edited if self.annotation is not None else None
        return edited if isinstance(edited, dict) else {}

    @property
    def steps(self) -> list[str]:
        """The annotator's edited steps when there are some, else the path's."""
        return list(self.edits.get("steps") or self.path.steps)

    @property
    def code(self) -> str:
        code = self.edits.get("code")
        return code if code is not None else self.path.code


def item_key(run_id: str, node_id: int) -> str:
    return f"{run_id}#{node_id}"


class CandidateCache:
    """Each run's tree and candidates, kept until the run's ``updated_at`` changes (thread-safe)."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[float, Tree, list[CandidatePath]]] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, run: RunRow) -> tuple[Tree, list[CandidatePath]]:
        with self._lock:
            hit = self._runs.get(run.id)
        if hit is not None and hit[0] == run.updated_at:
            return hit[1], hit[2]
        tree = store.load_tree(run.id)
        entry = (run.updated_at, tree, candidate_paths(tree, run.id))
        with self._lock:
            self._runs[run.id] = entry
        return entry[1], entry[2]


def latest_annotations(store: Store) -> dict[str, Annotation]:
    """The latest annotation of each path (by annotation id, which only grows)."""
    return {item_key(a.run_id, a.node_id): a for a in store.annotations()}


def frozen_path(a: Annotation) -> CandidatePath | None:
    d = a.provenance.get("path")
    return CandidatePath.from_dict(d) if isinstance(d, dict) else None


def _matches(item: QueueItem, f: QueueFilter) -> bool:
    if f.min_value is not None and item.path.value < f.min_value:
        return False
    if not f.text.strip():
        return True
    haystack = "\n".join([item.path.problem.id, item.path.run_id, *item.steps, item.code]).lower()
    return f.text.strip().lower() in haystack


def sort_items(items: list[QueueItem], by: str = "value") -> list[QueueItem]:
    """Best first by ``by`` (None last); skipped items after the others; ties by value, then id."""
    if by not in SORTS:
        raise CurationError(f"sort by one of {', '.join(SORTS)}, not {by!r}")

    def primary(p: CandidatePath) -> tuple[bool, float]:
        x = p.value if by == "value" else p.critic_score if by == "critic" else None
        if by == "visible":
            x = p.visible.pass_rate if p.visible is not None else None
        return (x is None, -(x or 0.0))

    return sorted(
        items,
        key=lambda i: (i.skipped, *primary(i.path), -i.path.value, i.path.problem.id, i.key),
    )


def build_queue(
    store: Store,
    filters: QueueFilter | None = None,
    sort: str = "value",
    cache: CandidateCache | None = None,
) -> list[QueueItem]:
    """Candidates of the runs that match, plus judged paths no longer among them, of every status.

    A path found again in another run (an uploaded copy of a tree) is one candidate, unless it was judged there.
    """
    f = filters or QueueFilter()
    cache = cache or CandidateCache()
    runs = {r.id: r for r in store.list_runs(problem=f.problem, model=f.model, status=f.run_status)}
    latest = latest_annotations(store)
    items: dict[str, QueueItem] = {}
    first_of: dict[tuple, str] = {}  # a path's content -> the key that shows it
    for run in reversed(list(runs.values())):  # oldest first: a copy (an uploaded tree) comes after
        try:
            _, paths = cache.get(store, run)
        except UnknownRun:  # deleted between the listing and the load
            continue
        for path in paths:
            key = item_key(run.id, path.node_id)
            a = latest.get(key)
            content = (path.problem.id, path.problem.prompt, tuple(path.steps), path.code)
            if a is None and content in first_of:
                continue  # the same path in another run (a copy of it): one candidate, not two
            first_of.setdefault(content, key)
            judged = frozen_path(a) if a is not None and a.decision != "skip" else None
            items[key] = QueueItem(judged or path, run, a)
    for key, a in latest.items():
        path = frozen_path(a)
        if key not in items and a.run_id in runs and path is not None and a.decision != "skip":
            items[key] = QueueItem(path, runs[a.run_id], a)
    return sort_items([i for i in items.values() if _matches(i, f)], sort)


def counts(items: list[QueueItem]) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for i in items:
        out[i.status] += 1
    return out


def neighbour(keys: list[str], key: str | None, delta: int) -> str | None:
    """The key ``delta`` places from ``key`` (clamped to the ends); the first key when ``key`` is absent."""
    if not keys:
        return None
    if key not in keys:
        return keys[0]
    return keys[max(0, min(len(keys) - 1, keys.index(key) + delta))]


def parse_steps(text: str) -> list[str]:
    """One step per line; one leading "3." or "3)" is dropped. Blank lines at either end are ignored."""
    lines = text.strip("\n").splitlines() if text.strip() else []
    return [NUMBERED.sub("", line.strip(), count=1).strip() for line in lines]


def check_edit(path: CandidatePath, steps: list[str] | None, code: str | None) -> dict[str, Any] | None:
    """The edit to record, or None when nothing changed; CurationError for an empty step or empty code."""
    if steps is not None:
        steps = [s.strip() for s in steps]
        if not steps:
            raise CurationError("an edited path needs at least one step")
        empty = [str(i) for i, s in enumerate(steps, 1) if not s]
        if empty:
            raise CurationError(f"step {', '.join(empty)} is empty: write the step or remove its line")
        if steps == [s.strip() for s in path.steps]:
            steps = None
    if code is not None:
        if code.rstrip() == path.code.rstrip():
            code = None
        elif not code.strip():
            raise CurationError("the edited code is empty: write the code or undo the edit")
    return None if steps is None and code is None else {"steps": steps, "code": code}


def decide(
    store: Store,
    item: QueueItem,
    decision: str,
    *,
    annotator: str,
    comment: str = "",
    edited_steps: list[str] | None = None,
    edited_code: str | None = None,
    seen: int | None = None,
) -> int:
    """Record ``decision`` on the item's path with who, the edit and the frozen path; returns its id.

    ``seen`` is the id of the latest annotation the annotator was shown (0 for none). When the path was
    decided since (a double key press, another annotator), nothing is written: an error says so.
    """
    if decision not in STATUS_OF:
        raise CurationError(f"decision must be one of {', '.join(STATUS_OF)}, not {decision!r}")
    if not annotator.strip():
        raise CurationError("type your name as annotator first: every decision records who made it")
    current = item.annotation.id if item.annotation is not None else 0
    if seen is not None and seen != current:
        by = item.annotation.annotator if item.annotation is not None else "someone"
        raise CurationError(f"this path was just decided ({by}); nothing was changed: look at it again")
    edited = check_edit(item.path, edited_steps, edited_code)
    p = item.path
    provenance = {**p.provenance, "path": p.to_dict()}
    if provenance.get("adapter") is None and item.run is not None:
        provenance["adapter"] = item.run.adapter
    return store.add_annotation(
        p.run_id,
        [x.node_id for x in p.labels] or [p.node_id],
        decision,
        comment=comment.strip(),
        edited=edited,
        annotator=annotator.strip(),
        provenance=provenance,
    )
