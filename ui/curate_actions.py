"""Curate-tab handlers: widget values in, widget values out; each one call into ``core``.

The browser holds only the current path's key (``run#node``) and the id of the
latest decision it was shown (``seen``); the queue is rebuilt from the store on
every event, so runs saved meanwhile by the Search tab show up, and a second
key press on a path already decided is refused instead of overwriting it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import gradio as gr

from core.curation.accepted import CurationExport, export_accepted
from core.curation.queue import (
    CandidateCache,
    CurationError,
    QueueFilter,
    QueueItem,
    build_queue,
    counts,
    decide,
    item_key,
    neighbour,
    parse_steps,
)
from core.prompts import format_steps
from core.store.runs import Store
from core.tree.records import VerdictSummary
from ui.access import refusal
from ui.errors import UserError

Visible = Callable[[str], bool]  # whether the caller may see a run of this owner (None: every run)

NO_STORE = "_No database: nothing to curate. Start the studio with `python launch.py` to save runs._"
COLUMNS = ["", "problem", "run", "node", "value", "critic", "visible", "note"]
SORT_CHOICES = [("value", "value"), ("critic score", "critic"), ("visible tests", "visible")]
QUEUES = ["pending", "accepted", "rejected"]


@dataclass
class Curator:
    """What the tab's handlers share: the store and its per-run candidate cache."""

    store: Store
    cache: CandidateCache


def filters(
    problem: str | None, model: str | None, status: str | None, min_value: float | None, text: str | None
) -> QueueFilter:
    """The filter row's values; an empty box means any."""
    return QueueFilter(problem or None, model or None, status or None, min_value, text or "")


def load(cur: Curator, f: QueueFilter, sort: str, visible: Visible | None = None) -> list[QueueItem]:
    """The queue of the runs the caller may see (``visible`` of each run's owner)."""
    try:
        items = build_queue(cur.store, f, sort or "value", cur.cache)
    except CurationError as exc:
        raise UserError(str(exc)) from None
    return items if visible is None else [i for i in items if visible(i.run.owner)]


# --- rendering --------------------------------------------------------------------------
def _score(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def verdict(v: VerdictSummary | None) -> str:
    if v is None:
        return "not run"
    return f"{v.tests - v.failed}/{v.tests} passed" + ("" if v.passed else f" ({v.error_kind or 'failed'})")


def note(item: QueueItem) -> str:
    a = item.annotation
    if a is None:
        return ""
    return " · ".join(
        x for x in ("skipped" if item.skipped else a.annotator, "edited" if item.edits else "") if x
    )


def table(items: list[QueueItem], current: str | None) -> list[list]:
    return [
        [
            "▶" if i.key == current else "",
            i.path.problem.id,
            i.path.run_id,
            i.path.node_id,
            _score(i.path.value, 3),
            _score(i.path.critic_score),
            "—" if i.path.visible is None else f"{i.path.visible.pass_rate:.0%}",
            note(i),
        ]
        for i in items
    ]


def card(item: QueueItem | None, position: str) -> str:
    if item is None:
        return f"_Nothing here. {position}_"
    p, prov = item.path, item.path.provenance
    lines = [
        f"### {html.escape(p.problem.id)} · run `{p.run_id}` · node #{p.node_id}",
        f"value **{p.value:.3f}** · critic **{_score(p.critic_score)}** · visible tests **{verdict(p.visible)}**"
        f" · hidden tests {verdict(p.hidden)} · {position}",
        f"model `{prov.get('model', '')}` ({prov.get('backend', '')}) · adapter `{prov.get('adapter') or '—'}`"
        f" · seed {prov.get('seed')} · config `{str(prov.get('config_hash', ''))[:12]}`",
    ]
    a = item.annotation
    if a is not None:
        when = datetime.fromtimestamp(a.created_at).strftime("%Y-%m-%d %H:%M")
        what = "skipped" if item.skipped else f"**{item.status}**"
        extra = " · edited (the original is kept)" if item.edits else ""
        comment = f" · “{html.escape(a.comment)}”" if a.comment else ""
        lines.append(f"{what} by {html.escape(a.annotator)} on {when}{extra}{comment}")
    return "\n\n".join(lines)


def count_line(items: list[QueueItem]) -> str:
    c = counts(items)
    return " · ".join(f"{k} **{n}**" for k, n in c.items()) + f" · {len(items)} paths"


def view(
    cur: Curator, f: QueueFilter, sort: str, queue: str, key: str | None, visible: Visible | None = None
) -> tuple:
    """(counts, table, key, seen, card, problem, steps, code, comment) with ``key`` shown, or the first."""
    items = load(cur, f, sort, visible)
    shown = [i for i in items if i.status == (queue or "pending")]
    key = neighbour([i.key for i in shown], key, 0)
    item = next((i for i in shown if i.key == key), None)
    where = (
        f"{[i.key for i in shown].index(key) + 1} of {len(shown)} {queue}"
        if item
        else f"the {queue} queue is empty."
    )
    return (
        count_line(items),
        table(shown, key),
        key or "",
        item.annotation.id if item is not None and item.annotation is not None else 0,
        card(item, where),
        item.path.problem.prompt if item else "",
        format_steps(item.steps) if item else "",
        item.code if item else "",
        item.annotation.comment if item is not None and item.annotation is not None else "",
    )


# --- actions ------------------------------------------------------------------------------
def move(
    cur: Curator,
    f: QueueFilter,
    sort: str,
    queue: str,
    key: str | None,
    delta: int,
    visible: Visible | None = None,
) -> tuple:
    shown = [i.key for i in load(cur, f, sort, visible) if i.status == (queue or "pending")]
    return view(cur, f, sort, queue, neighbour(shown, key, delta), visible)


def pick_row(
    cur: Curator, f: QueueFilter, sort: str, queue: str, row: list | None, visible: Visible | None = None
) -> tuple:
    """The row the user clicked in the queue table (its run and node columns name the path)."""
    if not row or len(row) < 4:
        return view(cur, f, sort, queue, None, visible)
    return view(cur, f, sort, queue, item_key(str(row[2]), int(row[3])), visible)


def annotator_of(request: gr.Request | None, typed: str | None) -> str:
    """The logged-in user when auth is on, else the name typed in the field."""
    user = getattr(request, "username", None) if request is not None else None
    return user or (typed or "").strip()


def decide_and_next(
    cur: Curator,
    f: QueueFilter,
    sort: str,
    queue: str,
    key: str | None,
    seen: float | None,
    decision: str,
    edit: tuple[str, str | None, str],
    annotator: str,
    visible: Visible | None = None,
) -> tuple:
    """Record the decision on ``key``; then show the path after it in the same queue.

    A path of another user's run is refused like every other handler refuses it.
    """
    steps, code, comment = edit
    every = load(cur, f, sort)
    item = next((i for i in every if i.key == key), None)
    if item is None:
        raise UserError("that path is not in the queue any more: press Refresh")
    if visible is not None and not visible(item.run.owner):
        raise refusal("run", item.run.id)
    items = every if visible is None else [i for i in every if visible(i.run.owner)]
    shown = [i.key for i in items if i.status == (queue or "pending")]
    after = shown[(shown.index(key) + 1) % len(shown)] if key in shown and len(shown) > 1 else None
    try:
        decide(
            cur.store,
            item,
            decision,
            annotator=annotator,
            comment=comment or "",
            edited_steps=parse_steps(steps or ""),
            edited_code=code,
            seen=None if seen is None else int(seen),
        )
    except CurationError as exc:
        raise UserError(str(exc)) from None
    return view(cur, f, sort, queue, after, visible)


def export_summary(result: CurationExport) -> str:
    s = result.summary
    lines = [
        f"**Exported** to `{s.out_dir}`",
        " · ".join(f"{fmt} **{n}**" for fmt, n in s.counts.items())
        + f" · dropped by filters **{s.dropped}**",
    ]
    if result.problems:
        lines.append(
            "⚠ validation found problems:\n" + "\n".join(f"- {html.escape(p)}" for p in result.problems)
        )
    else:
        lines.append("✓ every file reads back and matches the dataset card")
    return "\n\n".join(lines)


def export(
    cur: Curator, name: str, formats: list[str] | None, min_value: float | None, visible_pass: bool
) -> tuple[str, str]:
    """(summary markdown, zip path) of the accepted decisions exported as ``name``."""
    filters_ = {"min_value": float(min_value or 0.0), "require_visible_pass": bool(visible_pass)}
    try:
        result = export_accepted(cur.store, name, formats or [], filters_, cache=cur.cache)
    except CurationError as exc:
        raise UserError(str(exc)) from None
    return export_summary(result), str(result.zip_path)
