"""bench/snapshot.py: a data folder copied while a writer goes on holds a whole, self-contained database."""

from __future__ import annotations

import importlib.util
import sqlite3
import threading
from pathlib import Path

import pytest

from core.evaluation.spec import EvalResult, EvalSpec
from core.evaluation.tables import EvalTables
from core.store.runs import Store

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("snapshot", ROOT / "bench" / "snapshot.py")
snapshot_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(snapshot_module)


def test_a_copy_taken_mid_write_is_whole_and_keeps_the_other_files(tmp_path):
    src, dst = tmp_path / "data", tmp_path / "copy"
    (src / "experiments" / "x").mkdir(parents=True)
    (src / "experiments" / "x" / "state.json").write_text("{}")
    store = Store(src / "studio.db")
    stop, wrote = threading.Event(), threading.Event()

    def write() -> None:
        tables = EvalTables(Store(store.path))
        while not stop.is_set():
            tables.save_eval(EvalResult(EvalSpec(("HumanEval/0",)), [], {}, 0.0, 0.0, "m", None))
            wrote.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert wrote.wait(30)  # a busy machine may start the writer late: copy once it has written
        for _ in range(3):
            snapshot_module.snapshot(src, dst)
    finally:
        stop.set()
        writer.join()
    assert (dst / "experiments" / "x" / "state.json").read_text() == "{}"
    assert not list(dst.glob("studio.db-*"))  # one file: nothing beside it to lose in a commit
    conn = sqlite3.connect(dst / "studio.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("SELECT count(*) FROM evals").fetchone()[0] > 0
    assert EvalTables(Store(dst / "studio.db")).evals()  # the studio opens the copy


def test_a_folder_without_a_database_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no studio.db"):
        snapshot_module.snapshot(tmp_path, tmp_path / "copy")
