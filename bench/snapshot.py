"""Copy a studio data folder with a consistent database, while a run may still write to it.

A long experiment (the paper's table: hours on a CPU) spans sessions; its data folder is copied
into the repository now and then and committed, and the next session copies it back and reruns
the same command, which goes on from where the copy stood. SQLite's backup API gives a copy of
the database as of one transaction (a plain file copy of a database in WAL mode can be torn).

    python bench/snapshot.py /work/paper-data bench/results/paper-experiment-0.5b   # save
    python bench/snapshot.py bench/results/paper-experiment-0.5b /work/paper-data   # restore, then rerun
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from pathlib import Path

DATABASE = "studio.db"
SKIP = (f"{DATABASE}-wal", f"{DATABASE}-shm", f"{DATABASE}-journal")


def snapshot(src: Path, dst: Path) -> int:
    """Copy ``src`` to ``dst`` (replacing it); the database through the backup API. Files copied."""
    if not (src / DATABASE).exists():
        raise SystemExit(f"error: {src} holds no {DATABASE}: not a studio data folder")
    staging = dst.with_name(dst.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(src, staging, ignore=shutil.ignore_patterns(DATABASE, *SKIP, "*.partial"))
    source = sqlite3.connect(f"file:{src / DATABASE}?mode=ro", uri=True, timeout=60)
    target = sqlite3.connect(staging / DATABASE)
    with target:
        source.backup(target)
    target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    ok = target.execute("PRAGMA integrity_check").fetchone()[0]
    source.close()
    target.close()
    if ok != "ok":
        raise SystemExit(f"error: the copied database fails its integrity check: {ok}")
    shutil.rmtree(dst, ignore_errors=True)
    staging.rename(dst)  # the old copy goes only once the new one is whole
    return sum(1 for p in dst.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args()
    files = snapshot(args.src, args.dst)
    size = sum(p.stat().st_size for p in args.dst.rglob("*") if p.is_file())
    print(f"{args.dst}: {files} files, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
