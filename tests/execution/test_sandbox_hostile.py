"""Hostile programs in the sandbox: each one is named in the verdict and contained.

Contained means: this test process survives, no process of the run is alive afterwards
(none with the run's uid, none whose command line holds the test's marker), and no file
outside the run's temp dir was created, changed or removed.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path

import pytest

from core.execution.sandbox import Verdict, run_tests

PROJECT = Path(__file__).resolve().parents[2]


def _procs() -> list[tuple[int, set[int], bytes]]:
    """(pid, uids, cmdline) of live, non-zombie processes."""
    out = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if state == "Z":
            continue
        uid_line = next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
        out.append((int(entry.name), {int(x) for x in uid_line.split()[1:]}, cmdline))
    return out


def _assert_contained(v: Verdict, marker: str = "") -> None:
    assert "WARNING" not in v.isolation, v.isolation
    m = re.search(r"fresh uid (\d+)", v.isolation)
    for pid, uids, cmdline in _procs():
        if pid == os.getpid():
            continue
        assert not (m and int(m.group(1)) in uids), f"process {pid} of the run's uid is alive"
        assert not (marker and marker.encode() in cmdline), f"process {pid} with the marker is alive"


@pytest.fixture
def marker() -> str:
    return f"sra_marker_{uuid.uuid4().hex}"


@pytest.fixture
def outside(marker):
    """Paths outside the sandbox that a run must not create: in /tmp and in the project."""
    paths = [Path("/tmp") / f"sra_escape_{marker}", PROJECT / f"sra_escape_{marker}"]
    yield paths
    for p in paths:
        assert not p.exists(), f"{p} was created by the sandbox"
        p.unlink(missing_ok=True)


@pytest.mark.slow
def test_fork_bomb(marker):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    v = run_tests(code, ["assert True"], timeout_s=2.0)
    assert v.error_kind == "timeout" and not v.passed
    _assert_contained(v, marker)


def test_memory_bomb():
    v = run_tests("x = []\nwhile True:\n    x.append(b'm' * 2**26)\n", ["assert True"], memory_mb=256)
    assert v.error_kind == "memory" and not v.passed
    _assert_contained(v)


def test_infinite_loop():
    v = run_tests("while True:\n    pass\n", ["assert True"], timeout_s=1.0)
    assert v.error_kind == "timeout" and v.duration_s < 2.5
    _assert_contained(v)


@pytest.mark.parametrize("how", ["subprocess", "fork"])
def test_orphan_that_outlives_its_parent(marker, how):
    if how == "subprocess":
        spawn = (
            "import subprocess, sys\n"
            f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'],"
            " start_new_session=True)\n"
        )
    else:  # a double fork whose grandchild leaves the session and execs a sleeper
        spawn = (
            "import os\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        os.execv('/bin/sh', ['sh', '-c', 'sleep 60; : {marker}'])\n"
            "    os._exit(0)\n"
        )
    v = run_tests(spawn + "import os, time\ntime.sleep(0.3)\nos._exit(0)\n", ["assert True"])
    assert v.error_kind == "runtime" and "before the tests finished" in v.error_message
    _assert_contained(v, marker)


def test_100_mb_of_stdout():
    v = run_tests("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 2**20)\n", ["assert True"])
    assert v.error_kind == "output_limit" and v.truncated and not v.passed
    assert len(v.stdout) <= 64 * 1024
    _assert_contained(v)


def test_writes_outside_the_temp_dir(outside):
    code = "".join(f"open({str(p)!r}, 'w').write('pwned')\n" for p in outside)
    v = run_tests(code, ["assert True"])
    assert v.error_kind == "runtime" and "Read-only file system" in v.error_message
    v = run_tests(
        "import os\n" + code.replace("open(", "os.mkdir(").replace(", 'w').write('pwned')", ")"), []
    )
    assert v.error_kind == "runtime"
    _assert_contained(v)


def test_reads_of_files_outside(tmp_path):
    secret = f"secret-{uuid.uuid4().hex}"
    (tmp_path / "secret.txt").write_text(secret)
    for path in (tmp_path / "secret.txt", Path("/etc/shadow"), Path("/root/.bash_history")):
        v = run_tests(f"print(open({str(path)!r}).read())", ["assert True"])
        assert v.error_kind == "runtime", (path, v.error_message)
        assert secret not in v.stdout + v.stderr + v.error_message
        _assert_contained(v)


def test_deleting_files_outside(marker):
    victim = Path("/tmp") / f"sra_victim_{marker}"
    victim.write_text("keep me")
    victim.chmod(0o666)
    try:
        for action in (f"os.remove({str(victim)!r})", f"open({str(victim)!r}, 'w').write('gone')"):
            v = run_tests(f"import os\n{action}\n", ["assert True"])
            assert v.error_kind == "runtime", v.error_message
            assert victim.read_text() == "keep me"
        v = run_tests(f"import shutil\nshutil.rmtree({str(PROJECT / 'core')!r})\n", [])
        assert v.error_kind == "runtime" and (PROJECT / "core" / "execution" / "sandbox.py").exists()
    finally:
        victim.unlink()


def test_socket_to_loopback():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hi')\n"
        v = run_tests(code, ["assert True"])
        assert v.error_kind == "runtime" and "Network is unreachable" in v.error_message
        with pytest.raises(BlockingIOError):
            server.accept()
    assert "no network" in v.isolation
    _assert_contained(v)


def test_killing_the_parent():
    me = os.getpid()
    code = f"import os\nfor pid in (os.getppid(), {me}, 1):\n    try:\n        os.kill(pid, 9)\n    except OSError:\n        pass\n"
    v = run_tests(code + "os.kill(-1, 9)\n", ["assert True"])
    assert not v.passed and v.error_kind in ("killed", "runtime")
    assert os.getpid() == me  # still here
    _assert_contained(v)


def test_os_exit_before_tests():
    v = run_tests("import os\nos._exit(0)\n", ["assert True"])
    assert v.error_kind == "runtime" and not v.passed and v.pass_rate == 0.0
    _assert_contained(v)


@pytest.mark.parametrize("limit", [None, 10**6])
def test_deep_recursion(limit):
    setup = f"import sys\nsys.setrecursionlimit({limit})\n" if limit else ""
    v = run_tests(setup + "def f(n):\n    return f(n + 1)\nf(0)\n", ["assert True"])
    assert not v.passed
    # 3.11 raises RecursionError before the C stack overflows; a crash would read "killed"
    assert (v.error_kind, "RecursionError" in v.error_message) in (("runtime", True), ("killed", False))
    _assert_contained(v)


def test_signal_tampering():
    code = (
        "import signal\n"
        "for s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGXCPU, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "while True:\n    pass\n"
    )
    v = run_tests(code, ["assert True"], timeout_s=1.0)
    assert v.error_kind == "timeout" and v.duration_s < 2.5
    _assert_contained(v)


def test_subprocess_spawn(marker, outside):
    target = outside[0]
    code = f"import subprocess\nsubprocess.run(['sh', '-c', 'echo hi > {target}; sleep 30; : {marker}'])\n"
    v = run_tests(code, ["assert True"], timeout_s=1.0)
    assert v.error_kind == "timeout"
    _assert_contained(v, marker)


def test_escape_attempts_leave_the_sandbox_intact_for_the_next_run():
    v = run_tests("def inc(x):\n    return x + 1\n", ["assert inc(1) == 2"])
    assert v.passed and "read-only filesystem except temp cwd" in v.isolation
