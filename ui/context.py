"""What every tab shares: the backend pool, the registry of live runs, the studio database, and who is who.

With logins on (``logins``), what a user makes belongs to them; ``operators`` see and steer
everything. The rule itself lives in :mod:`ui.access`; the lists a client may pick from
(exports, adapters, base models) are here, read fresh on each call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.backends import FAST_ENGINE
from core.backends.adapters import list_adapters
from core.backends.catalogue import EMBEDDED_MODEL, choices, key_of, resolve
from core.curation.accepted import list_exports
from core.paths import data_dir
from core.store.runs import Store
from core.training.jobs import FinetuneJobs
from ui.sessions import BackendPool, LiveEvals, OwnerBook, RunRegistry

OWNERS_FILE = "owners.json"  # beside the database: who started each training job and evaluation


@dataclass
class StudioContext:
    backend: str = "transformers"
    model: str = EMBEDDED_MODEL
    backends: BackendPool = field(default_factory=BackendPool)
    runs: RunRegistry = field(default_factory=RunRegistry)
    store: Store | None = None  # None: nothing is saved (some tests); the launched studio always has one
    logins: bool = False  # served with logins: users are kept apart (see ui.access)
    operators: frozenset[str] = frozenset()  # logins that see and steer every user's work
    allowed_models: tuple[
        str, ...
    ] = ()  # base models the Train tab may fine-tune besides the catalogue's and ``model``
    jobs: FinetuneJobs | None = None  # None: the jobs under data_root()/jobs
    owners: OwnerBook | None = None  # None: a book in data_root() (in memory without a store)
    evals: LiveEvals = field(default_factory=LiveEvals)

    def __post_init__(self) -> None:
        self.operators = frozenset(self.operators)
        if self.owners is None:
            self.owners = OwnerBook(self.data_root() / OWNERS_FILE if self.store is not None else None)

    def data_root(self) -> Path:
        """The folder beside the database: exports, training jobs."""
        return self.store.path.parent if self.store is not None else data_dir()

    def finetune_jobs(self) -> FinetuneJobs:
        if self.jobs is None:
            self.jobs = FinetuneJobs(self.data_root() / "jobs", adapters=self.data_root() / "adapters")
        return self.jobs

    def exports_dir(self) -> Path:
        return self.data_root() / "exports"

    def export_names(self) -> list[str]:
        """The studio's own exports that hold an SFT file, newest first: the datasets Train may use."""
        return list_exports(self.exports_dir())

    def adapter_names(self) -> list[str]:
        """The adapters registered by the studio's training jobs, newest first."""
        return [a.name for a in list_adapters(self.data_root() / "adapters")]

    def base_models(self) -> list[str]:
        """The base models Train may fine-tune: the studio's own, the catalogue's, the operator's list."""
        catalogue = [key for _, key in choices()]
        named = [key_of(m) or m for m in (self.model, *self.allowed_models)]
        return list(dict.fromkeys([named[0], *catalogue, *named[1:]]))

    def base_model_choices(self) -> list[tuple[str, str]]:
        """The base models as a dropdown shows them: a catalogue model by its key and its own name."""
        return [(entry.label() if (entry := resolve(m)) else m, m) for m in self.base_models()]

    def model_label(self) -> str:
        """Which model the studio runs, for the header: the embedded model's own name and key, or as given."""
        entry = resolve(self.model) if self.backend != "openai" else None
        name = (
            f"{entry.name} (embedded: `{entry.key}`)" if entry else f"`{self.model or 'the server default'}`"
        )
        return f"**Model:** {name} · {self.engine_label()}"

    def engine_label(self) -> str:
        """Which engine runs the model, and for the fast one whether it has started (or why it did not)."""
        pool = self.backends
        if self.backend != FAST_ENGINE:
            return f"backend {self.backend}"
        if pool.notice:
            return f"engine: in-process ⚠ {pool.notice}"
        if pool.is_loaded(self.backend, self.model):
            return "engine: vLLM server (the fast engine)"
        return f"engine: vLLM server · {pool.preparing or 'starts with the first search'}"

    def adapter_choices(self) -> list[tuple[str, str]]:
        """The policy choices of the Search and Evaluate tabs: the base model, then every registered adapter."""
        return [("base model", "")] + [(name, name) for name in self.adapter_names()]


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
