"""Server-side homes for heavy objects: loaded backends and live searches.

The browser only ever holds a run id; the objects stay here, behind locks, so
that several sessions can share one model and a page reload can find its run.

Example::

    backends = BackendPool()
    llm = backends.get("transformers", "embedded")   # loaded once, then shared
    tuned = backends.get("transformers", "embedded", adapter="v1-lora")   # a LoRA adapter on top
    runs = RunRegistry()
    run_id = runs.add(search, owner="alice")
    save_run(store, runs.get(run_id))   # autosave: under the search lock, so never half an iteration
    owners = OwnerBook(data / "owners.json")
    owners.set("job", job_id, "alice")   # who started a training job or an evaluation, kept on disk
    owners.get("job", job_id)            # 'alice' ("" for one this studio did not start)
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.atomic import write_atomic
from core.backends import FAST_ENGINE
from core.llm import EngineUnavailable, LLMBackend, first_line
from core.search.mcts import Search
from core.store.runs import Store
from ui.tree_plot import DEFAULT_COLOURING

log = logging.getLogger(__name__)


class BackendPool:
    """Loads each (kind, model, adapter) once; concurrent callers wait for the same load.

    ``adapter`` names a registered LoRA adapter on top of ``model`` (None: the plain model);
    a loader is called as ``loader(kind, model)`` or, for an adapter, ``loader(kind, model, adapter=...)``.
    ``options`` go to every load (e.g. ``{"base_url": ...}`` for the openai backend).
    """

    def __init__(self, loader: Callable[..., LLMBackend] | None = None, options: dict | None = None) -> None:
        self._loader = loader
        self._options = dict(options or {})
        self._lock = threading.Lock()
        self._backends: dict[tuple[str, str, str | None], LLMBackend] = {}
        self.preparing = (
            ""  # what a load in flight is doing (the one-time conversion's progress), for status lines
        )
        self.notice = ""  # why the fast engine is not the one running, when it could not start

    def get(self, kind: str, model: str, adapter: str | None = None) -> LLMBackend:
        """The backend, loaded once. The fast engine that cannot start is replaced by the in-process one
        (``notice`` says why), so the studio keeps working."""
        with self._lock:
            key = (kind, model, adapter or None)
            if key not in self._backends:
                try:
                    self._backends[key] = self._load(kind, model, adapter)
                except EngineUnavailable as exc:
                    if kind != FAST_ENGINE:
                        raise
                    self.notice = f"{first_line(exc)}; running in-process instead"
                    log.warning("fast engine unavailable: %s", self.notice)
                    fallback = ("transformers", model, adapter or None)
                    if fallback not in self._backends:
                        self._backends[fallback] = self._load("transformers", model, adapter)
                    self._backends[key] = self._backends[fallback]
            return self._backends[key]

    def _load(self, kind: str, model: str, adapter: str | None) -> LLMBackend:
        loader = self._loader
        extra = {**self._options, **({"adapter": adapter} if adapter else {})}
        if kind != "openai":
            extra.pop("base_url", None)  # the server's address is the openai backend's alone
        if loader is None:
            from core.backends import load_backend as loader

            if kind != "openai":  # an embedded model is built once, with progress, before it loads
                self._prepare(model)
            if kind == FAST_ENGINE:
                extra["progress"] = self._heard
        self.preparing = f"loading the model {model}{' + ' + adapter if adapter else ''} ..."
        try:
            return loader(kind, model, **extra)
        finally:
            self.preparing = ""

    def _heard(self, text: str) -> None:
        self.preparing = text

    def is_loaded(self, kind: str, model: str, adapter: str | None = None) -> bool:
        """Without the lock, which a load holds for minutes (a status line must not wait on it)."""
        return (kind, model, adapter or None) in self._backends

    def _prepare(self, model: str) -> None:
        from core.backends.embedded import embedded_model_dir, is_converted, is_embedded

        if not is_embedded(model) or is_converted(model):
            return

        def heard(fraction: float, text: str) -> None:
            self.preparing = f"preparing the model, one time ({fraction:.0%}): {text}"

        try:
            embedded_model_dir(model, progress=heard)
        finally:
            self.preparing = ""

    def loaded(self) -> list[tuple[str, str, str | None]]:
        """(kind, model, adapter) of every loaded backend."""
        with self._lock:
            return list(self._backends)


@dataclass
class Run:
    id: str
    search: Search
    owner: str
    stop_requested: threading.Event = field(default_factory=threading.Event)
    colour_by: str = DEFAULT_COLOURING  # what the tree's node colour shows (ui.tree_plot.COLOURINGS)
    stale: bool = False  # another process saved this run since it was loaded: this copy is not saved


class RunRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}

    def add(self, search: Search, owner: str = "", run_id: str | None = None) -> str:
        """Register a search under ``run_id`` (a stored run reopened) or a fresh random id."""
        with self._lock:
            run_id = run_id or uuid.uuid4().hex[:12]
            if run_id in self._runs:
                raise ValueError(f"run {run_id} is already open")
            self._runs[run_id] = Run(run_id, search, owner)
        return run_id

    def get_or_add(self, run_id: str, make: Callable[[], Search], owner: str = "") -> Run:
        """The live run ``run_id``, or one made by ``make()`` (e.g. loaded from the store) and registered."""
        with self._lock:
            if run_id in self._runs:
                return self._runs[run_id]
        search = make()  # outside the lock: loading may take a while; the first one registered wins
        with self._lock:
            return self._runs.setdefault(run_id, Run(run_id, search, owner))

    def discard(self, run: Run) -> None:
        """Forget ``run`` (if it is still the one registered under its id): the next open reloads it."""
        with self._lock:
            if self._runs.get(run.id) is run:
                del self._runs[run.id]

    def get(self, run_id: str | None) -> Run | None:
        if not run_id:
            return None
        with self._lock:
            return self._runs.get(run_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def owned_by(self, owner: str) -> list[Run]:
        with self._lock:
            return [r for r in self._runs.values() if r.owner == owner]

    def all(self) -> list[Run]:
        """Every open run, in the order they were opened."""
        with self._lock:
            return list(self._runs.values())


def save_run(store: Store | None, run: Run) -> None:
    """Write what changed in the run's tree to the store, holding the search lock.

    The lock makes the save see the tree between iterations or steering actions,
    never in the middle of one; the store writes it in one transaction.
    """
    if store is None:
        return
    with run.search.lock:
        store.save_tree(run.id, run.search.tree, owner=run.owner)


class OwnerBook:
    """Who started each training job and evaluation: ``(kind, id) -> owner``, kept in a JSON file.

    Runs carry their owner in the store; jobs (folders written by ``core.training``) and
    evaluations (rows of ``core.evaluation``) do not, so the studio keeps theirs here, beside
    the database, and a restarted studio still keeps users apart. ``path`` None: in memory only.
    An id this studio never recorded (a job started by the CLI) has the owner "".
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._owners: dict[str, dict[str, str]] = self._read()

    def _read(self) -> dict[str, dict[str, str]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {
            str(kind): {str(k): str(v) for k, v in ids.items()}
            for kind, ids in raw.items()
            if isinstance(ids, dict)
        }

    def set(self, kind: str, item_id: str | int, owner: str) -> None:
        with self._lock:
            self._owners.setdefault(kind, {})[str(item_id)] = owner
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(self.path, json.dumps(self._owners, indent=1, sort_keys=True), mode=0o600)

    def get(self, kind: str, item_id: str | int) -> str:
        with self._lock:
            return self._owners.get(kind, {}).get(str(item_id), "")


@dataclass
class LiveEval:
    """An evaluation running in this process: who started it, its stop flag, its stored id once known."""

    owner: str
    stop: threading.Event = field(default_factory=threading.Event)
    eval_id: int | None = None


class LiveEvals:
    """The evaluations running now, each with its own stop flag (one user's Stop stops only theirs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, LiveEval] = {}

    def add(self, owner: str) -> tuple[str, LiveEval]:
        with self._lock:
            key = uuid.uuid4().hex[:12]
            self._live[key] = live = LiveEval(owner)
        return key, live

    def remove(self, key: str) -> None:
        with self._lock:
            self._live.pop(key, None)

    def by_id(self, eval_id: int) -> LiveEval | None:
        with self._lock:
            return next((e for e in self._live.values() if e.eval_id == eval_id), None)

    def all(self) -> list[LiveEval]:
        with self._lock:
            return list(self._live.values())
