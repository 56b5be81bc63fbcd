"""The paper's table on the default model (Qwen2.5-Coder-0.5B), run (and continued) across sessions.

The split and settings are declared in ``bench/paper_table.json`` (issues 16 and 29, before any run):
HumanEval/0-81 make the training data, HumanEval/82-163 judge every model on hidden tests, greedy
pass@1 and pass@1 / pass@10 from n = 10 samples at T = 0.8; CoT data, SRA-MCTS data with the paper's
settings and with the best search of ``bench/search_quality.py`` ("repairs what fails"), each
unfiltered and test-filtered; one LoRA per set with the "CPU 0.5B" preset. The searches' data are the
trees ``bench/search_quality.py`` made on the same problems with the same configs (its database is the
spec's ``reuse_trees``), so that bench runs first: this one refuses to start until every train
problem's newest tree of each searched config is one that bench's current settings made. The model
runs in fp32 on every CPU (``SRA_STUDIO_DTYPE=float32``), so a run that spans machines with and
without native bf16 computes the same numbers in every stage.

The experiment's data folder lives outside the repository (``--work``) while it runs, and is copied
into ``bench/results/paper-experiment-0.5b`` (``bench/snapshot.py``: a consistent database) after
each finished stage and every ``--every`` minutes inside data and evaluation stages; commit that
folder to keep the progress. A later session with no work folder starts from that copy and goes on
where it stood. The table goes to ``bench/results/paper_table.md`` (and ``.csv``) with the commit,
the machine of each stage and the progress so far. The 135M run of issue 16 is kept beside it
(``paper_table_135m.*``, ``paper-experiment-135m``, spec ``paper_table_135m.json``).

    python bench/paper_table.py              # run or continue; Ctrl-C or SIGTERM stops after a snapshot
    python bench/paper_table.py --table      # only write the table of the run so far
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SRA_STUDIO_DTYPE", "float32")

from snapshot import snapshot  # noqa: E402

from cli.experiment import backend_for, progress_line  # noqa: E402
from core.experiments.run import ExperimentRun, ExperimentState, StageProgress  # noqa: E402
from core.experiments.spec import ExperimentSpec  # noqa: E402
from core.experiments.table import table_rows, to_csv, to_markdown  # noqa: E402
from core.store.runs import Store  # noqa: E402

BENCH = Path(__file__).resolve().parent
SPEC = BENCH / "paper_table.json"
ROOT = BENCH.parent
SNAPSHOT = BENCH / "results" / "paper-experiment-0.5b"
SEARCH_ROWS = BENCH / "results" / "search_quality.jsonl"
TABLE = BENCH / "results" / "paper_table.md"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sra-paper-table")
    ap.add_argument("--every", type=float, default=10.0, help="minutes between snapshots inside a stage")
    ap.add_argument("--table", action="store_true", help="write the table of the run so far and stop")
    args = ap.parse_args()
    work = args.work.resolve()
    os.chdir(ROOT)  # the spec's reuse_trees is relative to the repository
    os.environ["SRA_STUDIO_DATA"] = str(work)  # the store, training jobs and adapters live there
    if not (work / "studio.db").exists() and (SNAPSHOT / "studio.db").exists():
        print(f"continuing from {SNAPSHOT}", file=sys.stderr)
        snapshot(SNAPSHOT, work)
    spec = ExperimentSpec.from_file(SPEC)
    store = Store(work / "studio.db")
    run = ExperimentRun(spec, work / "experiments" / spec.name, store, backend_for(spec, sys.stderr))
    if args.table:
        write_table(run.state, store, len(run.stages()))
        return 0
    missing = trees_not_from_the_bench(spec)
    if missing:
        print(
            f"not ready: {missing[0]} (and {len(missing) - 1} more); finish bench/search_quality.py first",
            file=sys.stderr,
        )
        return 2
    last_save, last_line, current = time.monotonic(), 0.0, ""

    def save(stage: str) -> None:
        nonlocal last_save
        snapshot(work, SNAPSHOT)
        last_save = time.monotonic()
        print(f"snapshot ({stage}) -> {SNAPSHOT}", file=sys.stderr, flush=True)

    def progress(p: StageProgress) -> None:
        nonlocal last_line, current
        now = time.monotonic()
        if p.stage != current:  # a new stage: the one before it is finished and in state.json
            if current:
                save(f"{current} finished")
                write_table(run.state, store, len(run.stages()))  # current after every stage
            current = p.stage
        if now - last_line >= 5 or p.done == p.total:
            last_line = now
            print(progress_line(p), file=sys.stderr, flush=True)
        # a training job's files are written by its worker process: copy only between its stages
        if not p.stage.startswith("train:") and now - last_save >= args.every * 60:
            save(f"inside {p.stage}")

    run.progress = progress
    # a background job from a script ignores SIGINT: take it back, and let SIGTERM stop cleanly too
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    try:
        run.run()
    except KeyboardInterrupt:
        print("interrupted: rerun to continue", file=sys.stderr)
    finally:
        save(run.state.status)
        write_table(run.state, store, len(run.stages()))
    return 0 if run.state.status == "finished" else 1


def trees_not_from_the_bench(spec: ExperimentSpec) -> list[str]:
    """Each searched train problem whose newest tree of the method's config is not one that
    ``bench/search_quality.py`` made under its current settings (the last settings of each method's
    rows): the experiment would take a stale tree, or search again. Empty when all are ready."""
    from core.backends.catalogue import resolve
    from core.generation.run import reusable_run
    from core.generation.spec import GenerateSpec

    rows = [json.loads(x) for x in SEARCH_ROWS.read_text(encoding="utf-8").splitlines() if x.strip()]
    latest = {r["method"]: r["settings"] for r in rows}
    current = {r["run_id"] for r in rows if r.get("run_id") and r["settings"] == latest[r["method"]]}
    trees = Store(ROOT / spec.reuse_trees)
    entry = resolve(spec.model)  # the id the experiment's backend reports, as generation matches it
    model_id = entry.model_id if entry else spec.model
    missing = []
    for m in spec.methods:
        if m.kind != "sra-mcts" or m.filter != "none":
            continue
        config = GenerateSpec(spec.train, "unused", preset=m.preset, iterations=m.iterations, search=m.search)
        digest = config.config().digest()
        for pid in spec.train_ids():
            run = reusable_run(trees, pid, digest, model_id)
            if run is None or run.id not in current:
                missing.append(
                    f"{m.preset} on {pid}: " + ("no tree" if run is None else f"tree {run.id} is stale")
                )
    return missing


def write_table(state: ExperimentState, store: Store, stages: int) -> None:
    """``paper_table.md`` (with the commit, the progress and the machines) and ``paper_table.csv``."""
    rows = table_rows(state, store)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    machines = sorted({s["machine"] for s in state.stages.values() if s.get("machine")})
    head = [
        f"# The paper's table on {ExperimentSpec.from_dict(state.spec).model} (`bench/paper_table.py`, "
        f"commit {commit.strip()})",
        "",
        f"Spec: `bench/paper_table.json` (digest {state.digest}). Status: **{state.status}**, "
        f"{len(state.stages)} of {stages} stages finished. Machines: {'; '.join(machines) or 'none yet'}.",
        "",
    ]
    TABLE.write_text("\n".join(head) + "\n" + to_markdown(rows, state), encoding="utf-8")
    TABLE.with_suffix(".csv").write_text(to_csv(rows, state), encoding="utf-8")
    print(f"{TABLE}: {state.status}, {len(state.stages)} of {stages} stages", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
