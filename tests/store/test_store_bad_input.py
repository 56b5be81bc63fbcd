"""Bad input at start-up: one clear StoreError (one ``error:`` line from launch.py), and no byte on disk changed.

Each case builds a bad data folder: one that cannot be created or written, a file that
is not a (healthy) database, a database of a newer studio or of another program. It
goes through ``Store(path)`` and through ``launch.py studio``. Tests run as root, which
ignores chmod, so read-only cases use ``chattr +i`` (immutable), which binds root too.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.store.runs import Store, StoreError
from core.store.schema import SCHEMA_VERSION
from tests.scripted import ScriptedBackend

ROOT = Path(__file__).resolve().parents[2]
Freeze = Callable[[Path], None]


def real_database(folder: Path) -> Path:
    """A studio database with one saved run, checkpointed and closed (no -wal or -shm beside it)."""
    from core.config import SearchConfig
    from core.problems.problem import get_problem
    from core.search.mcts import Search

    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder / "studio.db")
    search = Search.start(
        get_problem("HumanEval/0"), SearchConfig(seed=0, max_iterations=12, end_gate=1.0), ScriptedBackend()
    )
    search.run()
    store.save_tree("kept", search.tree)
    store.close()
    assert sorted(p.name for p in folder.iterdir()) == ["studio.db"]
    return folder / "studio.db"


def parent_is_a_file(root: Path, freeze: Freeze) -> tuple[Path, str]:
    (root / "notes.txt").write_text("my notes\n")
    return root / "notes.txt" / "studio", "notes.txt is a file, not a folder"


def folder_not_writable(root: Path, freeze: Freeze) -> tuple[Path, str]:
    real_database(root / "data")
    freeze(root / "data")
    return root / "data", "is not writable"


def database_read_only(root: Path, freeze: Freeze) -> tuple[Path, str]:
    freeze(real_database(root / "data"))
    return root / "data", "is read-only"


def random_bytes(root: Path, freeze: Freeze) -> tuple[Path, str]:
    (root / "data").mkdir()
    (root / "data" / "studio.db").write_bytes(random.Random(0).randbytes(8192))
    return root / "data", "is not a studio database (or is damaged)"


def text_file(root: Path, freeze: Freeze) -> tuple[Path, str]:
    (root / "data").mkdir()
    (root / "data" / "studio.db").write_text("run,problem\nr1,HumanEval/0\n" * 50)
    return root / "data", "is not a studio database (or is damaged)"


def truncated_at_a_page(root: Path, freeze: Freeze) -> tuple[Path, str]:
    path = real_database(root / "data")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 // 4096 * 4096])  # SQLite itself finds it malformed
    return root / "data", "is not a studio database (or is damaged)"


def truncated_mid_page(root: Path, freeze: Freeze) -> tuple[Path, str]:
    path = real_database(root / "data")
    path.write_bytes(path.read_bytes()[:-100])  # SQLite alone would open this one
    return root / "data", "is not a studio database (or is damaged)"


def newer_schema(root: Path, freeze: Freeze) -> tuple[Path, str]:
    conn = sqlite3.connect(real_database(root / "data"))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    return root / "data", f"schema version {SCHEMA_VERSION + 1}; this studio knows up to {SCHEMA_VERSION}"


def other_programs_database(root: Path, freeze: Freeze) -> tuple[Path, str]:
    (root / "data").mkdir()
    conn = sqlite3.connect(root / "data" / "studio.db")
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.execute("INSERT INTO contacts VALUES ('ada')")
    conn.commit()
    conn.close()
    return root / "data", "SQLite database of some other program"


CASES = [
    parent_is_a_file,
    folder_not_writable,
    database_read_only,
    random_bytes,
    text_file,
    truncated_at_a_page,
    truncated_mid_page,
    newer_schema,
    other_programs_database,
]
WHAT_TO_DO = ("SRA_STUDIO_DATA", "upgrade the studio", "move it away")


@pytest.fixture(scope="module")
def freeze() -> Iterator[Freeze]:
    """Make a file or folder read-only even for root; undone afterwards, so pytest can clean up."""
    frozen: list[Path] = []

    def make_read_only(path: Path) -> None:
        if os.geteuid() != 0:
            path.chmod(0o555 if path.is_dir() else 0o444)
        else:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"root ignores chmod and `chattr +i` failed here: {done.stderr.strip()}")
        frozen.append(path)

    try:
        yield make_read_only
    finally:
        for path in frozen:
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(path)], check=False)
            path.chmod(0o755 if path.is_dir() else 0o644)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` and the sha256 of its bytes: a changed byte or a stray -wal shows up."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def assert_clear(message: str, where: Path, expected: str) -> None:
    assert expected in message, message
    assert str(where) in message, f"the message should name {where}: {message}"
    assert "\n" not in message, message
    assert any(hint in message for hint in WHAT_TO_DO), f"the message should say what to do: {message}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_store_refuses_with_one_clear_error(case, tmp_path, freeze):
    data, expected = case(tmp_path, freeze)
    before = snapshot(tmp_path)
    with pytest.raises(StoreError) as caught:
        Store(data / "studio.db")
    where = data if case in (parent_is_a_file, folder_not_writable) else data / "studio.db"
    assert_clear(str(caught.value), where, expected)
    assert snapshot(tmp_path) == before


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Launch:
    done: subprocess.CompletedProcess
    before: dict[str, str]  # snapshot() of the case's folder before and after the launch
    after: dict[str, str]
    data: Path
    expected: str


@pytest.fixture(scope="module")
def launched(tmp_path_factory, freeze) -> dict[str, Launch]:
    """Every case through ``launch.py studio``, all at once: importing the UI takes seconds, so wait once."""
    procs = {}
    for case in CASES:
        root = tmp_path_factory.mktemp(case.__name__)
        data, expected = case(root, freeze)
        env = {**os.environ, "SRA_STUDIO_DATA": str(data), "GRADIO_ANALYTICS_ENABLED": "False"}
        proc = subprocess.Popen(
            [sys.executable, "launch.py", "studio", "--port", str(free_port())],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs[case.__name__] = (proc, root, data, expected, snapshot(root))
    results = {}
    for name, (proc, root, data, expected, before) in procs.items():
        try:  # a guard against a studio that starts serving, not a speed target
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += "\n<still running after 120 s: the studio started instead of stopping>"
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        results[name] = Launch(done, before, snapshot(root), data, expected)
    return results


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_launch_stops_with_one_error_line(case, launched):
    run = launched[case.__name__]
    assert run.done.returncode == 2, run.done.stderr
    assert "Traceback" not in run.done.stderr and "Running on" not in run.done.stdout, run.done.stderr
    [line] = run.done.stderr.splitlines()
    assert line.startswith("error: "), line
    assert_clear(line, run.data, run.expected)
    assert run.after == run.before


def test_an_empty_file_is_a_new_database_and_a_good_one_is_kept(tmp_path):
    (tmp_path / "studio.db").touch()  # created but never written, e.g. by a crash at the first open
    assert Store(tmp_path / "studio.db").list_runs() == []
    path = real_database(tmp_path / "good")
    assert [r.id for r in Store(path).list_runs()] == ["kept"]
