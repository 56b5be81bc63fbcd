"""The paper's experiment headless: ``python launch.py experiment SPEC.json`` (or ``--preset "CPU smoke"``).

Generates each training set, fine-tunes one adapter per set and evaluates the base model and every
adapter on the held-out problems; one progress line per stage update (stage i/n, units, ETA) on
stderr, the table on stdout, and ``table.md`` / ``table.csv`` in the experiment's folder
(``<data dir>/experiments/<name>``). Rerun the same command to continue a stopped or killed run:
finished stages are not redone. Bad input is one ``error:`` line and exit status 2.

Example::

    python launch.py experiment --preset "CPU smoke" --name smoke1
    python launch.py experiment runs/paper.json --out bench/results/paper_table.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from cli.common import ENGINE_HELP, UsageError, open_store
from cli.models import prepare
from core.backends import add_engine_flag
from core.experiments.run import ExperimentRun, StageProgress
from core.experiments.spec import PRESETS, ExperimentError, ExperimentSpec
from core.experiments.table import table_rows, to_csv, to_markdown
from core.llm import BackendError
from core.paths import data_dir

NAME = "experiment"
HELP = "the paper's table: data by each method, one LoRA each, all evaluated on held-out problems"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="a JSON experiment spec (see core/experiments/spec.py)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset instead of a file")
    p.add_argument("--name", help="the experiment's name (its folder); overrides the spec's")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=JSON", help="override a field")
    p.add_argument("--out", help="also write the Markdown table here (e.g. bench/results/paper_table.md)")
    add_engine_flag(p, f"{ENGINE_HELP} (sets the spec's backend)", dest="engine")


def load_spec(args: argparse.Namespace) -> ExperimentSpec:
    if bool(args.spec) == bool(args.preset):
        raise UsageError("give a spec file or --preset, not both and not neither")
    try:
        data = (
            json.loads(Path(args.spec).read_text(encoding="utf-8"))
            if args.spec
            else dict(PRESETS[args.preset])
        )
    except OSError as exc:
        raise UsageError(f"{args.spec}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{args.spec}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError("an experiment spec is a JSON object")
    if args.preset:
        data.setdefault("name", args.preset.lower().replace(" ", "-"))
    if args.name:
        data["name"] = args.name
    if getattr(args, "engine", None):
        data["backend"] = args.engine
    for item in args.set:
        field, _, value = item.partition("=")
        try:
            data[field] = json.loads(value)
        except ValueError:
            data[field] = value
    try:
        return ExperimentSpec.from_dict(data)
    except ExperimentError as exc:
        raise UsageError(str(exc)) from None


def folder_of(spec: ExperimentSpec) -> Path:
    return data_dir() / "experiments" / spec.name


def progress_line(p: StageProgress) -> str:
    units = f" {p.done}/{p.total}" if p.total else ""
    eta = f" ETA {p.eta_s:.0f}s" if p.eta_s is not None else ""
    return f"[{p.index}/{p.stages}] {p.stage}{units} {p.elapsed_s:.0f}s{eta} {p.note}".rstrip()


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        spec = load_spec(args)
        folder = folder_of(spec)
        store = open_store()
        experiment = ExperimentRun(spec, folder, store, backend_for(spec, err), progress=_printer(err))
    except (UsageError, ExperimentError) as exc:
        err.write(f"error: {exc}\n")
        return 2
    (folder / "spec.json").write_text(json.dumps(spec.to_dict(), indent=1), encoding="utf-8")
    err.write(f"experiment {spec.name}: {len(experiment.stages())} stages in {folder}\n")
    try:
        state = experiment.run()
    except KeyboardInterrupt:
        err.write("interrupted: rerun the same command to continue\n")
        return 130
    except BackendError as exc:
        err.write(f"error: {exc}\n")
        return 2
    rows = table_rows(state, store)
    table = to_markdown(rows, state)
    (folder / "table.md").write_text(table, encoding="utf-8")
    (folder / "table.csv").write_text(to_csv(rows, state), encoding="utf-8")
    if args.out:
        Path(args.out).write_text(table, encoding="utf-8")
    out.write(table)
    if state.status != "finished":
        err.write(f"{state.status}: {state.message}\n")
        return 1
    return 0


def backend_for(spec: ExperimentSpec, err: TextIO):
    def load(adapter: str | None):
        from core.backends import load_backend  # torch loads only when a stage needs the model

        if spec.backend != "openai":
            prepare(spec.model, err)
        err.write(f"loading {spec.backend} model {spec.model!r}{' + ' + adapter if adapter else ''} ...\n")
        options = {"adapter": adapter} if adapter else {}
        return load_backend(spec.backend, spec.model, **options)

    return load


def _printer(err: TextIO):
    last = [0.0]

    def show(p: StageProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or p.done == p.total:  # a line a second at most
            last[0] = now
            err.write(progress_line(p) + "\n")
            err.flush()

    return show
