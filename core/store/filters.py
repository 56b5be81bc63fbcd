"""Finding stored runs: the filters of the History list, on top of ``Store.list_runs``.

Why a module: the annotator filter crosses two tables (runs and annotations)
and the date filter is relative ("last 7 days"), which the store's plain
column filters do not express.

Example::

    rows = find_runs(store, RunFilter(problem="HumanEval/0", annotator="ada", since_days=7))
    facets(store).models        # ['embedded', ...] for the filter dropdowns
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.store.runs import RunRow, Store


@dataclass(frozen=True)
class RunFilter:
    problem: str | None = None
    model: str | None = None
    status: str | None = None
    annotator: str | None = None  # runs with at least one decision by this annotator
    since_days: float | None = None  # created within the last N days
    text: str | None = None  # a substring of the id, the problem or the model


@dataclass(frozen=True)
class Facets:
    """The distinct values each filter can take, for dropdowns."""

    problems: list[str]
    models: list[str]
    statuses: list[str]
    annotators: list[str]


def find_runs(store: Store, f: RunFilter, now: float | None = None) -> list[RunRow]:
    """Runs matching every filter given, newest first."""
    if f.since_days is not None and f.since_days < 0:
        raise ValueError("since_days must be 0 or more")
    since = None if f.since_days is None else (now or time.time()) - f.since_days * 86400
    rows = store.list_runs(
        problem=f.problem or None,
        model=f.model or None,
        status=f.status or None,
        since=since,
        text=(f.text or "").strip() or None,
    )
    if f.annotator:
        annotated = {a.run_id for a in store.annotations() if a.annotator == f.annotator}
        rows = [r for r in rows if r.id in annotated]
    return rows


def facets(store: Store) -> Facets:
    rows = store.list_runs()
    return Facets(
        problems=sorted({r.problem_id for r in rows}),
        models=sorted({r.model for r in rows}),
        statuses=sorted({r.status for r in rows}),
        annotators=sorted({a.annotator for a in store.annotations() if a.annotator}),
    )
