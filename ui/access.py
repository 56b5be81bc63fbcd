"""Who may see and steer what, and which names a client may send: the studio's one rule for each.

Owners. With logins on, a run, a training job and an evaluation belong to the login that
made it: lists show a user only their own, and a handler given someone else's id refuses
with one line that says only that (``run 3f2a9c01d4e5 belongs to another user``). An
operator (``--operator LOGIN``) sees and steers everything. Without logins (one person on
this machine) everything is visible, as it always was.

Names. A client never sends a server path: a dataset is one of the studio's exports, an
adapter one of its registered adapters, a base model one the operator allows. Anything else
is refused by name before a file is touched.

Example::

    require_owner(ctx, "run", run_id, run_owner(ctx, run_id), caller)   # gr.Error unless caller may
    [r for r in rows if may_see(ctx, r.owner, caller)]                  # a list shows the caller's own
    dataset_folder(ctx, "curated-v1")     # <data>/exports/curated-v1; "/etc/passwd" is a gr.Error
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from core.backends.catalogue import key_of
from core.store.filters import Facets, RunFilter, facets, find_runs
from core.store.runs import RunRow
from ui.context import ANONYMOUS, StudioContext
from ui.errors import UserError


# --- owners -------------------------------------------------------------------------------------
def keeps_apart(ctx: StudioContext, caller: str) -> bool:
    """Whether users are kept apart: logins are on (a caller with a login name means they are)."""
    return ctx.logins or (bool(caller) and not caller.startswith(ANONYMOUS))


def is_operator(ctx: StudioContext, caller: str) -> bool:
    return bool(caller) and caller in ctx.operators


def may_see(ctx: StudioContext, owner: str | None, caller: str) -> bool:
    """Whether ``caller`` may list, read, steer or stop what ``owner`` made."""
    if not keeps_apart(ctx, caller):
        return True
    return bool(caller) and (owner == caller or is_operator(ctx, caller))


def owns(ctx: StudioContext, owner: str | None, caller: str) -> bool:
    """Whether it is the caller's own work (without logins: everyone's is), operators not included.

    What a Stop with no id stops: the caller's own, never every user's.
    """
    return not keeps_apart(ctx, caller) or (bool(caller) and owner == caller)


def refusal(kind: str, item_id: object) -> gr.Error:
    """The one refusal: it names the item as the caller gave it and says nothing else about it."""
    shown = str(item_id).strip()
    shown = shown if len(shown) <= 40 else shown[:40] + "…"
    return UserError(f"{kind} {shown} belongs to another user")


def require_owner(ctx: StudioContext, kind: str, item_id: object, owner: str | None, caller: str) -> None:
    """Raise :func:`refusal` unless ``caller`` may see what ``owner`` made."""
    if not may_see(ctx, owner, caller):
        raise refusal(kind, item_id)


def run_owner(ctx: StudioContext, run_id: str | None) -> str | None:
    """The owner of the open run or the stored run ``run_id``; None when there is no such run."""
    if not run_id:
        return None
    live = ctx.runs.get(run_id)
    if live is not None and live.owner:
        return live.owner
    if ctx.store is not None:
        for row in ctx.store.list_runs(text=run_id):
            if row.id == run_id:
                return row.owner
    return live.owner if live is not None else None


def require_run(ctx: StudioContext, run_id: str | None, caller: str) -> None:
    """Refuse a run id that names another user's run (an unknown id passes: the caller says so)."""
    owner = run_owner(ctx, run_id)
    if owner is not None:
        require_owner(ctx, "run", run_id, owner, caller)


# --- lists: the caller's own ------------------------------------------------------------------
def visible_facets(ctx: StudioContext, caller: str) -> Facets:
    """The filter values of the runs the caller may see (with logins on: their own, not everyone's)."""
    if ctx.store is None:
        return Facets([], [], [], [])
    if not keeps_apart(ctx, caller):
        return facets(ctx.store)
    rows = [r for r in ctx.store.list_runs() if may_see(ctx, r.owner, caller)]
    ids = {r.id for r in rows}
    return Facets(
        problems=sorted({r.problem_id for r in rows}),
        models=sorted({r.model for r in rows}),
        statuses=sorted({r.status for r in rows}),
        annotators=sorted({a.annotator for a in ctx.store.annotations() if a.annotator and a.run_id in ids}),
    )


def visible_runs(ctx: StudioContext, f: RunFilter, caller: str) -> list[RunRow]:
    """The stored runs matching ``f`` that the caller may see, newest first."""
    return [r for r in find_runs(ctx.store, f) if may_see(ctx, r.owner, caller)]


# --- names from the studio's own lists ----------------------------------------------------------
def _quoted(value: object) -> str:
    text = str(value).strip()
    return repr(text if len(text) <= 80 else text[:80] + "…")


def dataset_folder(ctx: StudioContext, name: str | None) -> Path:
    """The export folder of ``name``, which must be one of :meth:`StudioContext.export_names`."""
    name = (name or "").strip()
    if not name:
        raise UserError("pick a dataset: one of this studio's exports (Curate → Export makes one)")
    if name not in ctx.export_names():
        raise UserError(
            f"dataset {_quoted(name)} is not one of this studio's exports: pick one from the list"
        )
    return ctx.exports_dir() / name


def adapter_name(ctx: StudioContext, value: str | None) -> str | None:
    """``value`` if it names a registered adapter; None (the base model) when empty."""
    value = (value or "").strip()
    if not value:
        return None
    if value not in ctx.adapter_names():
        raise UserError(
            f"adapter {_quoted(value)} is not one of this studio's adapters: pick one from the list "
            "(the Train tab registers them)"
        )
    return value


def base_model(ctx: StudioContext, value: str | None) -> str:
    """``value`` if the operator allows it as a base model ("" is the studio's own; a catalogue name its key)."""
    allowed = ctx.base_models()
    value = (value or "").strip()
    value = key_of(value) or value if value else allowed[0]
    if value not in allowed:
        raise UserError(
            f"base model {_quoted(value)} is not one this studio allows ({', '.join(allowed)}); "
            "the operator adds one with --allow-model"
        )
    return value
