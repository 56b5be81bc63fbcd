"""Run an experiment: make each training set, fine-tune one adapter per set, evaluate them all.

Stages, in order: ``data:<set>`` (``generate`` on the train problems, once per method kind and
preset), ``filter:<method>`` (the records a method trains on, with the counts before and after),
``train:<method>`` (one LoRA job, the same preset and seed for every method; its loss curve is kept
with the stage), and ``eval:<model>``
(the base model and every adapter on the eval problems: greedy pass@1, and pass@k when the spec
samples). ``<folder>/state.json`` records each finished stage, written atomically as it finishes,
so a killed experiment goes on from where it stood: finished stages are skipped, a generation goes
on per problem, an evaluation from its last whole batch, and a training job that is still running
is waited for rather than started again. Paths in the state are relative to the folder, so a
folder copied elsewhere (another checkout, another machine) goes on too.

Example::

    run = ExperimentRun(spec, folder, store, backend_for=lambda adapter: load_backend(..., adapter=adapter))
    state = run.run()             # ExperimentState; table.rows(state, store) is the paper's table
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import write_atomic
from core.evaluation.run import evaluate
from core.evaluation.spec import EvalSpec
from core.evaluation.tables import EvalTables
from core.experiments.spec import DataMethod, ExperimentError, ExperimentSpec
from core.generation.run import generate
from core.generation.spec import GenerateSpec
from core.llm import LLMBackend
from core.machine import cpu_name
from core.store.runs import Store
from core.training.config import preset as finetune_preset
from core.training.jobs import FinetuneJobs

log = logging.getLogger(__name__)
STATE = "state.json"
BASE = "base"


@dataclass(frozen=True)
class StageProgress:
    stage: str  # "data:cot", "train:sra-mcts.paper-defaults+tests", "eval:base" ...
    index: int  # 1-based position among all stages
    stages: int
    done: int  # units of this stage (problems, training steps)
    total: int
    elapsed_s: float  # in this stage
    note: str = ""

    @property
    def eta_s(self) -> float | None:
        return self.elapsed_s / self.done * (self.total - self.done) if self.done and self.total else None


@dataclass
class ExperimentState:
    spec: dict[str, Any]
    digest: str
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # finished stages and what they made
    jobs: dict[str, str] = field(default_factory=dict)  # method key -> training job id (once started)
    evals: dict[str, int] = field(
        default_factory=dict
    )  # "eval:<model>/<greedy|sampled>" -> eval id, once made
    status: str = "created"  # created | running | finished | stopped | failed
    message: str = ""
    started_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def load(cls, path: Path) -> ExperimentState:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class ExperimentStopped(Exception):
    pass


class ExperimentRun:
    def __init__(
        self,
        spec: ExperimentSpec,
        folder: Path,
        store: Store,
        backend_for: Callable[[str | None], LLMBackend],
        *,
        jobs: FinetuneJobs | None = None,
        progress: Callable[[StageProgress], None] | None = None,
        stop: threading.Event | None = None,
        close_backends: bool = True,  # False: the backends are shared (the studio's pool) and stay open
    ) -> None:
        self.spec, self.folder, self.store = spec, Path(folder), store
        self.backend_for = backend_for
        self.jobs = jobs or FinetuneJobs()
        self.progress = progress or (lambda p: None)
        self.stop = stop or threading.Event()
        self._backends: dict[str | None, LLMBackend] = {}
        self._closes = close_backends
        self.state = self._open()

    # --- the plan -----------------------------------------------------------------
    def stages(self) -> list[str]:
        return self.plan(self.spec)

    @staticmethod
    def plan(spec: ExperimentSpec) -> list[str]:
        """Every stage of ``spec``, in the order they run."""
        data = list(dict.fromkeys(f"data:{m.data_key}" for m in spec.methods))
        filters = [f"filter:{m.key}" for m in spec.methods]
        trains = [f"train:{m.key}" for m in spec.methods]
        evals = [f"eval:{BASE}"] + [f"eval:{m.key}" for m in spec.methods]
        return data + filters + trains + evals

    def run(self) -> ExperimentState:
        """Every stage not finished yet, in order; a set ``stop`` ends it between (or inside) stages."""
        stages = self.stages()
        self.state.status, self.state.message = "running", ""
        self.state.started_at = self.state.started_at or time.time()
        self._save()
        try:
            for i, stage in enumerate(stages, 1):
                if stage in self.state.stages:
                    continue
                if self.stop.is_set():
                    raise ExperimentStopped(f"stopped before {stage}")
                kind, key = stage.split(":", 1)
                started = time.monotonic()
                report = self._reporter(stage, i, len(stages), started)
                report(0, 0, "starting")
                made = getattr(self, f"_{kind}")(key, report)
                made.setdefault("seconds", round(time.monotonic() - started, 3))
                self.state.stages[stage] = made
                self._save()
            self.state.status = "finished"
        except ExperimentStopped as exc:
            self.state.status, self.state.message = "stopped", str(exc)
        except BaseException as exc:
            self.state.status = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
            self.state.message = f"{type(exc).__name__}: {exc}"
            self._save()
            raise
        finally:
            self._close_backends()
        self._save()
        return self.state

    # --- stages -------------------------------------------------------------------
    def _data(self, data_key: str, report: Callable[[int, int, str], None]) -> dict[str, Any]:
        method = next(m for m in self.spec.methods if m.data_key == data_key)
        out = self.folder / "data" / data_key
        gspec = GenerateSpec(
            self.spec.train,
            out,
            method=method.kind,
            preset=method.preset,
            iterations=method.iterations,
            search=method.search,
            seed=self.spec.seed,
            concurrency=self.spec.concurrency,
            reuse=Path(self.spec.reuse_trees)
            if self.spec.reuse_trees and method.kind == "sra-mcts"
            else None,
        )
        summary = generate(
            gspec,
            self._backend(None),
            self.store,
            progress=lambda p: report(p.finished, p.total, p.outcome or p.problem_id),
            stop=self.stop,
        )
        if summary.interrupted:
            raise ExperimentStopped(f"stopped while generating {data_key}")
        manifest = _jsonl(out / "done.jsonl")
        return {
            "records": summary.records_in_all,
            "failed": summary.failed,
            "tokens": sum(int(m.get("completion_tokens") or 0) for m in manifest),
            "reused": sum(1 for m in manifest if m.get("reused")),  # trees another run made (see reuse_trees)
            "direct": sum(1 for m in manifest if m.get("direct")),  # records of code with no reasoning steps
            "seconds": round(sum(float(m.get("seconds") or 0.0) for m in manifest), 3),  # earlier runs too
            "path": str((out / "sft.jsonl").relative_to(self.folder)),
            "machine": self._machine(None),
        }

    def _filter(self, key: str, report: Callable[[int, int, str], None]) -> dict[str, Any]:
        method = self._method(key)
        records = _jsonl(self._at(self.state.stages[f"data:{method.data_key}"]["path"]))
        kept = [r for r in records if method.filter == "none" or passes_tests(r.get("meta", {}))]
        path = self.folder / "sets" / key / "sft.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))
        report(len(records), len(records), f"{len(kept)} of {len(records)} records kept")
        return {"before": len(records), "after": len(kept), "path": str(path.relative_to(self.folder))}

    def _train(self, key: str, report: Callable[[int, int, str], None]) -> dict[str, Any]:
        chosen = self.state.stages[f"filter:{key}"]
        if not chosen["after"]:
            return {"adapter": None, "note": "no records to train on"}
        job_id = self.state.jobs.get(key)
        status = self.jobs.status(job_id) if job_id else None
        if status is None or status.state in ("failed", "stopped"):
            name = f"exp-{self.spec.name}-{key}-{self.state.digest[:6]}-{int(time.time()) % 100000}"
            cfg = finetune_preset(
                self.spec.finetune_preset,
                dataset=str(self._at(chosen["path"])),
                base_model=self.spec.model,
                adapter_name=name.replace("+", "-")[:100],
                seed=self.spec.seed,
                **self.spec.finetune,
            )
            job_id = self.jobs.start(cfg)
            self.state.jobs[key] = job_id
            self._save()
        while True:
            status = self.jobs.wait(job_id, 2.0)
            report(status.step, status.max_steps, status.message)
            if status.done:
                break
            if self.stop.is_set():
                self.jobs.stop(job_id)
                raise ExperimentStopped(f"stopped while training {key}")
        if status.state != "finished" or not status.adapter:
            raise RuntimeError(f"training {key} ended {status.state}: {status.message}")
        return {
            "adapter": status.adapter,
            "job": job_id,
            "records": chosen["after"],
            "steps": status.max_steps,
            "losses": [[int(step), float(loss)] for step, loss in status.losses],  # the adapter's loss curve
        }

    def _eval(self, key: str, report: Callable[[int, int, str], None]) -> dict[str, Any]:
        adapter = None if key == BASE else self.state.stages[f"train:{key}"]["adapter"]
        if key != BASE and adapter is None:
            return {"eval_ids": {}, "note": "no adapter (no records to train on)"}
        backend = self._backend(adapter)
        training = self.spec.train_ids() if self.spec.force_overlap else ()
        out: dict[str, int] = {}
        for name, spec in self._eval_specs(adapter):
            slot = f"eval:{key}/{name}"
            earlier = self.state.evals.get(slot)
            if earlier is not None and self._finished(earlier):
                out[name] = earlier
                continue
            result = evaluate(
                spec,
                backend,
                store=self.store,
                stop=self.stop,
                training_problems=training,
                progress=lambda i, n, r, name=name: report(i, n, f"{name}: {r.problem_id}"),
                resume=earlier,
                created=lambda eval_id, slot=slot: self._made_eval(slot, eval_id),
            )
            if result.status != "finished":
                raise ExperimentStopped(f"stopped while evaluating {key} ({name})")
            out[name] = result.eval_id
        return {
            "eval_ids": out,
            "adapter": adapter,
            "machine": self._machine(adapter),
            "seconds": EvalTables(self.store).seconds(out.values()),  # earlier runs too
        }

    def _machine(self, adapter: str | None) -> str:
        """Where a stage ran, and in what precision: an experiment may span sessions and machines."""
        dtype = str(getattr(self._backends.get(adapter), "dtype", "")).removeprefix("torch.")
        return cpu_name() + (f", {dtype}" if dtype else "")

    def _made_eval(self, slot: str, eval_id: int) -> None:
        self.state.evals[slot] = eval_id
        self._save()

    def _finished(self, eval_id: int) -> bool:
        return any(r.id == eval_id and r.status == "finished" for r in EvalTables(self.store).evals())

    def _eval_specs(self, adapter: str | None) -> list[tuple[str, EvalSpec]]:
        s = self.spec
        common = {"problems": s.eval_ids(), "model": s.model, "adapter": adapter, "backend": s.backend}
        common |= {"max_tokens": s.max_tokens, "seed": s.seed}
        specs = [("greedy", EvalSpec(**common))]
        if s.samples > 1:
            ks = tuple(sorted({1, s.k}))
            sampled = EvalSpec(
                **common, samples=s.samples, temperature=s.temperature, k=ks, batch=sampled_batch(s.samples)
            )
            specs.append(("sampled", sampled))
        return specs

    # --- plumbing -----------------------------------------------------------------
    def _at(self, path: str) -> Path:
        """A path the state names: relative to the experiment's folder, so the folder can move
        (an older state's absolute paths still resolve)."""
        return self.folder / path

    def _method(self, key: str) -> DataMethod:
        return next(m for m in self.spec.methods if m.key == key)

    def _backend(self, adapter: str | None) -> LLMBackend:
        if adapter not in self._backends:
            for other in [
                a for a in self._backends if a is not None
            ]:  # one adapter model in memory at a time
                self._close(self._backends.pop(other))
            self._backends[adapter] = self.backend_for(adapter)
        return self._backends[adapter]

    def _close_backends(self) -> None:
        for backend in self._backends.values():
            self._close(backend)
        self._backends.clear()

    def _close(self, backend: LLMBackend) -> None:
        close = getattr(backend, "close", None) if self._closes else None
        if callable(close):
            close()

    def _reporter(
        self, stage: str, index: int, total: int, started: float
    ) -> Callable[[int, int, str], None]:
        def report(done: int, units: int, note: str) -> None:
            self.progress(StageProgress(stage, index, total, done, units, time.monotonic() - started, note))

        return report

    def _open(self) -> ExperimentState:
        path = self.folder / STATE
        digest = self.spec.digest()
        if path.exists():
            try:
                state = ExperimentState.load(path)
            except (ValueError, TypeError, KeyError) as exc:
                raise ExperimentError(f"{path} is damaged ({exc}); move it away to start over") from None
            if state.digest != digest:
                raise ExperimentError(
                    f"experiment {self.spec.name!r} exists with other settings (digest {state.digest}, "
                    f"this spec {digest}): give it another name"
                )
            return state
        self.folder.mkdir(parents=True, exist_ok=True)
        self.state = ExperimentState(self.spec.to_dict(), digest)
        self._save()  # listed at once, before its first stage starts
        return self.state

    def _save(self) -> None:
        self.state.updated_at = time.time()
        write_atomic(self.folder / STATE, json.dumps(self.state.to_dict(), indent=1))


SAMPLED_ROWS = 20


def sampled_batch(samples: int) -> int:
    """Problems per call when each brings ``samples`` rows: about 20 rows in all.

    A row runs until the longest row of its call ends, and on a CPU a step's cost grows with the
    rows; measured on the embedded model (bf16, 2 cores), 8 problems x 10 samples took 80 s a
    problem, 2 x 10 took 25 s.
    """
    return max(1, SAMPLED_ROWS // samples)


def passes_tests(meta: dict[str, Any]) -> bool:
    """A record's code passed every test its problem has (hidden and visible); False with no verdict."""
    hidden, visible = meta.get("hidden_passed"), meta.get("visible_pass_rate")
    if hidden is None and visible is None:
        return False
    return hidden is not False and (visible is None or visible >= 1.0)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out
