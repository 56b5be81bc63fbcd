"""The paper's table on the embedded model, run (and continued) across sessions.

The split and settings are declared in ``bench/paper_table.json`` (issue 16, before any run):
HumanEval/0-81 make the training data, HumanEval/82-163 judge every model on hidden tests, greedy
pass@1 and pass@10 from n = 10 samples, CoT and SRA-MCTS ("paper defaults") data, each unfiltered
and test-filtered, one LoRA per set with the "CPU quick" preset. The model runs in fp32 on every CPU
(``SRA_STUDIO_DTYPE=float32``), so a run that spans machines with and without native bf16 computes
the same numbers in every stage.

The experiment's data folder lives outside the repository (``--work``) while it runs, and is copied
into ``bench/results/paper-experiment`` (``bench/snapshot.py``: a consistent database) after each
finished stage and every ``--every`` minutes inside data and evaluation stages; commit that folder
to keep the progress. A later session with no work folder starts from that copy and goes on where
it stood. The table goes to ``bench/results/paper_table.md`` with the commit, the machine of each
stage and the progress so far.

    python bench/paper_table.py              # run or continue; Ctrl-C stops after a snapshot
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SRA_STUDIO_DTYPE", "float32")

BENCH = Path(__file__).resolve().parent
SPEC = BENCH / "paper_table.json"
SNAPSHOT = BENCH / "results" / "paper-experiment"
TABLE = BENCH / "results" / "paper_table.md"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sra-paper-table")
    ap.add_argument("--every", type=float, default=10.0, help="minutes between snapshots inside a stage")
    args = ap.parse_args()
    work = args.work.resolve()
    os.environ["SRA_STUDIO_DATA"] = str(work)  # before core.paths is read

    from snapshot import snapshot

    from cli.experiment import backend_for, progress_line
    from core.experiments.run import ExperimentRun, StageProgress
    from core.experiments.spec import ExperimentSpec
    from core.experiments.table import table_rows, to_markdown
    from core.store.runs import Store

    if not (work / "studio.db").exists() and (SNAPSHOT / "studio.db").exists():
        print(f"continuing from {SNAPSHOT}", file=sys.stderr)
        snapshot(SNAPSHOT, work)
    spec = ExperimentSpec.from_file(SPEC)
    store = Store(work / "studio.db")
    last = [time.monotonic(), 0.0]
    current = [""]

    def save(stage: str) -> None:
        snapshot(work, SNAPSHOT)
        last[0] = time.monotonic()
        print(f"snapshot after {stage} -> {SNAPSHOT}", file=sys.stderr, flush=True)

    def progress(p: StageProgress) -> None:
        now = time.monotonic()
        if p.stage != current[0]:  # a new stage: the one before it is finished and in state.json
            if current[0]:
                save(current[0])
            current[0] = p.stage
        if now - last[1] >= 5 or p.done == p.total:
            last[1] = now
            print(progress_line(p), file=sys.stderr, flush=True)
        # a training job's files are written by its worker process: copy only between its stages
        if not p.stage.startswith("train:") and now - last[0] >= args.every * 60:
            save(p.stage)

    run = ExperimentRun(spec, work / "experiments" / spec.name, store, backend_for(spec, sys.stderr))
    run.progress = progress
    state = run.state
    try:
        state = run.run()
    except KeyboardInterrupt:
        print("interrupted: rerun to continue", file=sys.stderr)
    finally:
        save(state.status)
        write_table(table_rows(state, store), state, len(run.stages()), to_markdown)
    return 0 if state.status == "finished" else 1


def write_table(rows, state, stages: int, to_markdown) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    machines = sorted({s.get("machine", "") for s in state.stages.values() if s.get("machine")})
    head = [
        f"# The paper's table on the embedded model (`bench/paper_table.py`, commit {commit.strip()})",
        "",
        f"Spec: `bench/paper_table.json` (digest {state.digest}). Status: **{state.status}**, "
        f"{len(state.stages)} of {stages} stages finished. Machines: {'; '.join(machines) or 'none yet'}.",
        "",
    ]
    TABLE.write_text("\n".join(head) + to_markdown(rows, state), encoding="utf-8")
    print(json.dumps({"table": str(TABLE), "status": state.status}), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
