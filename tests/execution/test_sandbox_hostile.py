"""Hostile programs in the sandbox: each one is named in the verdict and contained, in every mode.

Every test runs once per sandbox mode this machine has (bubblewrap and the ``unshare``
fallback; ``SRA_STUDIO_SANDBOX`` picks it) and CI runs the file twice: as root and as an
unprivileged uid (``.ci/as_user.py 4242``). Contained means: this test process survives, no
process of the run is alive afterwards (none with the run's uid, none whose command line holds
the test's marker), no SysV IPC object and no sandbox folder is left behind, and no file outside
the run's own work dir was created, changed or removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import uuid
from pathlib import Path

import pytest

from core.execution import modes
from core.execution.modes import SandboxMode, SandboxUnavailable
from core.execution.sandbox import NPROC_LIMIT, Verdict, run_humaneval_check, run_tests
from core.problems.problem import get_problem

PROJECT = Path(__file__).resolve().parents[2]
RUNNER = PROJECT / "core" / "execution" / "runner.py"
MODES = [
    m
    for m in ("bubblewrap", "namespaces")
    if (modes.bwrap_path() if m == "bubblewrap" else modes.unshare_prefix())
]


@pytest.fixture(autouse=True, params=MODES)
def mode(request, monkeypatch) -> str:
    monkeypatch.setenv(modes.ENV_MODE, request.param)
    before = _leftovers()
    yield request.param
    assert _leftovers() == before, "the run left IPC objects or sandbox folders behind"


def _leftovers() -> dict[str, set[str]]:
    out = {}
    for kind in ("shm", "msg", "sem"):
        rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        out[kind] = {" ".join(r.split()[:2]) for r in rows}
    out["dirs"] = {p.name for p in Path("/tmp").glob("sra-sandbox-*")}
    return out


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
    """Paths outside the sandbox that a run must not create: in /tmp, in the project, in the home."""
    paths = [
        Path("/tmp") / f"sra_escape_{marker}",
        PROJECT / f"sra_escape_{marker}",
        Path.home() / f"sra_{marker}",
    ]
    yield paths
    for p in paths:
        assert not p.exists(), f"{p} was created by the sandbox"
        p.unlink(missing_ok=True)


@pytest.fixture
def private_file(marker):
    """A 0600 file of the user running the studio, in their home (their ~/.bashrc, their keys)."""
    path = Path.home() / f".sra_private_{marker}"
    path.write_text(f"secret {marker}\n")
    path.chmod(0o600)
    yield path
    path.unlink()


@pytest.mark.slow
def test_fork_bomb(marker):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    v = run_tests(code, ["assert True"], timeout_s=2.0)
    assert v.error_kind == "timeout" and not v.passed
    _assert_contained(v, marker)


FORK_MANY = """import os, time
forked = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    forked += 1
"""


def test_process_cap_holds(marker):
    """At most NPROC_LIMIT processes of its own: the 200 forks stop at the cap."""
    v = run_tests(FORK_MANY, [f"assert 0 < forked < {NPROC_LIMIT}, forked"], timeout_s=10.0)
    assert v.passed, v.tests[0].message or v.error_kind
    _assert_contained(v, marker)


def test_runs_while_the_user_runs_many_tasks(monkeypatch, mode):
    """The cap counts the run's processes, not the user's: 3 x NPROC_LIMIT idle threads here change nothing.

    As an unprivileged user (CI runs this file as uid 4242) the kernel counts every task of the
    uid; a laptop user's desktop alone runs hundreds. Checked in this mode and with no sandbox
    (opted in), where the run shares our uid and namespace.
    """
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait) for _ in range(3 * NPROC_LIMIT)]
    for t in threads:
        t.start()
    try:
        confined = run_tests(FORK_MANY, ["assert forked > 0"], timeout_s=10.0)
        monkeypatch.setenv(modes.ENV_MODE, "none")
        monkeypatch.setenv(modes.ENV_ALLOW, "1")
        bare = run_tests(FORK_MANY, ["assert forked > 0"], timeout_s=10.0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    for v in (confined, bare):
        assert v.passed and v.error_kind is None, (v.isolation[:40], v.error_kind, v.stderr[-300:])


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


def test_writes_outside_the_work_dir(outside):
    """Writes fail or land in the run's private tmpfs; nothing appears outside (the fixture checks)."""
    code = "".join(f"open({str(p)!r}, 'w').write('pwned')\n" for p in outside)
    v = run_tests(code, ["assert True"])
    assert v.error_kind == "runtime"
    assert "Read-only file system" in v.error_message or "No such file" in v.error_message
    for path in outside:
        v = run_tests(f"import os\nos.makedirs({str(path)!r})\n", [])
        # refused, or made in bubblewrap's private /tmp, which also hides a project or home under /tmp
        private = path.is_relative_to("/tmp") and "private tmpfs" in v.isolation
        assert v.error_kind == "runtime" or private, (path, v.error_message)
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
            # refused (fallback: read-only, hidden), or done to the run's own private /tmp (bubblewrap)
            assert v.error_kind == "runtime" or "private tmpfs" in v.isolation, v.error_message
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
        assert v.error_kind == "runtime"  # no route (fallback) or the namespace's own empty loopback
        assert "Network is unreachable" in v.error_message or "Connection refused" in v.error_message
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
    # a million frames take seconds on a loaded 2-core box: the time limit is not what is tested
    v = run_tests(setup + "def f(n):\n    return f(n + 1)\nf(0)\n", ["assert True"], timeout_s=30)
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
    assert v.passed and "read-only system" in v.isolation and "no capabilities" in v.isolation


REMOUNT = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND = 32, 4096
def remount_rw():
    return [p for p in ("/", "/usr", {python!r}) if libc.mount(None, p.encode(), None, MS_REMOUNT | MS_BIND, None) == 0]
got = remount_rw()
if os.fork() == 0:  # a nested user namespace gives back every capability, inside it
    libc.unshare(0x10000000 | 0x20000)
    got += remount_rw()
    os._exit(0)
os.wait()
for path in ({home!r} + "/.bashrc", {runner!r}, {python!r} + "/sra_escape"):
    try:
        with open(path, "a") as f:
            f.write("pwned")
        got.append(path)
    except OSError:
        pass
assert not got, got
"""


def test_no_remount_and_no_write_to_home_python_or_the_runner(marker):
    """The non-root escape: remount / read-write (also from a nested user namespace), then write."""
    import sys

    python = os.path.realpath(sys.base_prefix)
    bashrc = Path.home() / ".bashrc"
    before = (
        bashrc.read_bytes() if bashrc.exists() else None,
        hashlib.sha256(RUNNER.read_bytes()).hexdigest(),
    )
    code = REMOUNT.format(python=python, home=str(Path.home()), runner=str(RUNNER))
    v = run_tests(code, ["assert True"])
    assert v.passed, (v.error_message, v.stderr[-2000:])
    after = (
        bashrc.read_bytes() if bashrc.exists() else None,
        hashlib.sha256(RUNNER.read_bytes()).hexdigest(),
    )
    assert after == before
    assert not (Path(python) / "sra_escape").exists()
    _assert_contained(v)


def test_the_users_own_private_files_are_out_of_reach(private_file, marker):
    """A 0600 file of the studio's own user (the laptop case) cannot be read, listed or changed."""
    code = (
        "import os\n"
        f"path = {str(private_file)!r}\n"
        "seen = []\n"
        "for probe in (lambda: open(path).read(), lambda: os.listdir(os.path.dirname(path)), lambda: open(path, 'a').write('x')):\n"
        "    try:\n        seen.append(repr(probe()))\n    except OSError:\n        pass\n"
        "print(seen)\n"
    )
    v = run_tests(code, ["assert True"])
    assert marker not in v.stdout and private_file.name not in v.stdout, v.stdout
    assert private_file.read_text() == f"secret {marker}\n"
    _assert_contained(v)


CLAIMS = """
import ctypes, os, socket
facts = {}
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
    facts["network"] = True
except OSError:
    facts["network"] = False
facts["caps"] = int([l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1], 16)
facts["uid"] = os.getuid()
facts["system_writable"] = os.access("/usr", os.W_OK)
facts["ns"] = {n: os.stat("/proc/self/ns/" + n).st_ino for n in ("net", "ipc", "pid", "mnt", "uts", "user", "cgroup")}
facts["visible"] = [p for p in HIDE if os.path.exists(p) and set(os.listdir(p)) - {".pyenv"}]
print(repr(facts))
"""


def test_the_isolation_line_claims_only_what_the_program_observes():
    import ast

    hide = sorted({str(Path.home()), str(PROJECT)})
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        code = CLAIMS.replace("PORT", str(server.getsockname()[1])).replace("HIDE", repr(hide))
        v = run_tests(code, ["assert True"])
    assert v.passed, v.error_message
    seen = ast.literal_eval(v.stdout.strip().splitlines()[-1])
    ours = {n: os.stat(f"/proc/self/ns/{n}").st_ino for n in seen["ns"]}
    line = v.isolation
    assert ("no network" in line) == (not seen["network"]) and "no network" in line
    assert ("no capabilities" in line) == (seen["caps"] == 0)
    assert ("read-only system" in line) == (not seen["system_writable"])
    own = re.search(r"own ([a-z/]+) namespaces", line).group(1).split("/")
    for name in own:
        assert seen["ns"][name] != ours[name], f"claims its own {name} namespace"
    assert ("home, data and project hidden" in line) == (not seen["visible"])
    if m := re.search(r"fresh uid (\d+)", line):
        assert os.geteuid() == 0 and seen["uid"] == int(m.group(1))


def test_ipc_objects_die_with_the_run():
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.shmget(0, 1 << 20, 0o1000 | 0o600) >= 0\n"  # IPC_PRIVATE, IPC_CREAT
        "assert libc.msgget(0, 0o1000 | 0o600) >= 0\n"
        "assert libc.semget(0, 1, 0o1000 | 0o600) >= 0\n"
    )
    v = run_tests(code, ["assert True"])
    assert v.passed, v.error_message  # the segments were made; the fixture sees none left
    assert "ipc" in re.search(r"own ([a-z/]+) namespaces", v.isolation).group(1)


def test_a_thousand_nested_folders_are_cleaned_up():
    code = (
        "import os\nfd = os.open('.', os.O_RDONLY)\n"
        "for _ in range(1500):\n"
        "    os.mkdir('d', dir_fd=fd)\n    new = os.open('d', os.O_RDONLY, dir_fd=fd)\n    os.close(fd)\n    fd = new\n"
        "open(f'/proc/self/fd/{fd}/f', 'w').write('x')\nos.fchmod(fd, 0)\n"
    )
    v = run_tests(code, ["assert True"], timeout_s=20)
    assert v.passed, v.error_message  # the fixture sees no sandbox folder left
    _assert_contained(v)


FORGERIES = {
    "compile": "import builtins\nbuiltins.compile = lambda *a, **k: __builtins__['__orig__']\n",
    "frame": (
        "import sys\nf = sys._getframe()\n"
        "while f is not None:\n"
        "    emit = f.f_locals.get('emit')\n"
        "    if emit:\n"
        "        for i in range(64):\n"
        "            emit(stage='test', index=i, passed=True)\n"
        "            emit(stage='probe', index=i, value=True)\n"
        "        emit(stage='done')\n"
        "    f = f.f_back\n"
    ),
    "test_list": (
        "import sys\nf = sys._getframe()\n"
        "while f is not None:\n"
        "    for name in ('tests', 'probes'):\n"
        "        if isinstance(f.f_locals.get(name), list):\n"
        "            f.f_locals[name].clear()\n"
        "    f = f.f_back\n"
    ),
    "json": (
        "import json\n"
        "orig = json.JSONEncoder.encode\n"
        "def forged(self, o):\n"
        "    if isinstance(o, dict) and o.get('stage') in ('test', 'probe'):\n"
        "        o = {**o, 'passed': True, 'value': True}\n"
        "        o.pop('error', None)\n"
        "    return orig(self, o)\n"
        "json.JSONEncoder.encode = forged\njson.dumps = lambda o, **k: orig(json.JSONEncoder(), o)\n"
    ),
}


@pytest.mark.parametrize("attack", sorted(FORGERIES))
def test_a_wrong_program_cannot_forge_a_pass(attack):
    """HumanEval/0's hidden check and its docstring examples, against a wrong program that attacks the harness."""
    problem = get_problem("HumanEval/0")
    code = FORGERIES[attack] + "def has_close_elements(numbers, threshold):\n    return None\n"
    hidden = run_humaneval_check(problem, code)
    assert not hidden.passed and hidden.tests[0].judged == "outside", hidden.tests[0]
    visible = run_tests(code, problem.visible_tests, entry_point=problem.entry_point)
    # a forged value is a value it could have returned: a constant passes only the tests a constant passes
    assert not visible.passed, [t.message for t in visible.tests]


def test_without_any_sandbox_model_code_is_refused_unless_the_user_opts_in(monkeypatch, mode):
    """No bubblewrap and no unshare (a container without the capability): refused, or run and said so."""
    monkeypatch.setenv(modes.ENV_MODE, "none")
    monkeypatch.delenv(modes.ENV_ALLOW, raising=False)
    with pytest.raises(SandboxUnavailable, match="--allow-unsandboxed"):
        run_tests("print('ran')", ["assert True"])
    assert "model code was not run" in modes.mode_summary()
    monkeypatch.setenv(modes.ENV_ALLOW, "1")
    assert modes.sandbox_mode() is SandboxMode.NONE and "NO SANDBOX" in modes.mode_summary()
    v = run_tests("import os\nprint(os.getuid())\n", ["assert True"])
    assert v.passed and v.isolation.startswith("NO SANDBOX")
    assert "network NOT isolated" in v.isolation and "no network" not in v.isolation
    uid = int(v.stdout.strip())
    assert ("fresh uid" in v.isolation) == (uid != os.geteuid())
