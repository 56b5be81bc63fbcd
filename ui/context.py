"""What every tab shares: the backend pool, the registry of live runs, and the studio database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.backends.adapters import list_adapters
from core.paths import data_dir
from core.store.runs import Store
from ui.sessions import BackendPool, RunRegistry


@dataclass
class StudioContext:
    backend: str = "transformers"
    model: str = "embedded"
    backends: BackendPool = field(default_factory=BackendPool)
    runs: RunRegistry = field(default_factory=RunRegistry)
    store: Store | None = None  # None: nothing is saved (some tests); the launched studio always has one

    def data_root(self) -> Path:
        """The folder beside the database: exports, training jobs."""
        return self.store.path.parent if self.store is not None else data_dir()

    def adapter_choices(self) -> list[tuple[str, str]]:
        """The policy choices of the Search and Evaluate tabs: the base model, then every registered adapter."""
        return [("base model", "")] + [(a.name, a.name) for a in list_adapters(self.data_root() / "adapters")]


ANONYMOUS = "session:"  # the owner of a run made without a login: this prefix and the browser session


def owner_of(request: object | None) -> str:
    """Who makes a run: the login name, else the anonymous browser session (kept apart, shown as such)."""
    user = getattr(request, "username", None) if request is not None else None
    if user:
        return str(user)
    session = getattr(request, "session_hash", "") if request is not None else ""
    return f"{ANONYMOUS}{session}" if session else ""


def owner_label(owner: str) -> str:
    """An owner as a person reads it: the login name, or "anonymous" for a browser session."""
    return "anonymous" if not owner or owner.startswith(ANONYMOUS) else owner
