"""The Curate tab (placeholder until it is built)."""

from __future__ import annotations

from ui.context import StudioContext


def create_curate_tab(ctx: StudioContext) -> None:
    return None
