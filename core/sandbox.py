"""Run untrusted code against tests in a separate, limited process.

Monkey-patching inside the caller's interpreter is not a sandbox, so each call
starts a fresh ``python -I`` with a scrubbed environment, a temporary working
directory, resource limits, and its own process group that is killed as a whole
at the deadline. Test results come back over a private pipe, tagged with a
per-run token, so printing look-alike lines on stdout cannot fake a pass.

Example::

    v = run_tests("def inc(x):\\n    return x + 1\\n", ["assert inc(1) == 2", "assert inc(2) == 4"])
    v.passed, v.pass_rate                    # (False, 0.5)
    v.tests[1].message                       # 'failed: assert inc(2) == 4'

What this does not do (yet): no network isolation, no seccomp, and as root the
process-count limit does not apply, so a fork bomb is only stopped by the
deadline. Absolute paths outside the temp dir are writable if the OS allows.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.problems import Problem

OUTPUT_KEEP_BYTES = 64 * 1024  # per stream, what the verdict keeps
OUTPUT_KILL_BYTES = 16 * 1024 * 1024  # stdout+stderr beyond this: the run is killed
RESULTS_MAX_BYTES = 4 * 1024 * 1024
FILE_SIZE_LIMIT = 16 * 1024 * 1024
OPEN_FILES_LIMIT = 64
NPROC_LIMIT = 64
_EXIT_GRACE_S = 0.2  # after the runner exits, how long to wait for pipes held open by its children

ERROR_KINDS = ("syntax", "runtime", "timeout", "memory", "killed", "output_limit")


@dataclass
class TestResult:
    """One test's outcome; ``line`` is the source line that failed (e.g. the assert)."""

    __test__ = False  # not a pytest class

    test: str
    passed: bool
    error: str | None = None
    message: str = ""
    line: str | None = None


@dataclass
class Verdict:
    """What happened when code ran against tests.

    ``error_kind`` is None when the code loaded and every test ran (individual tests may
    still fail); otherwise it says why the run as a whole went wrong.
    """

    passed: bool
    tests: list[TestResult]
    error_kind: str | None
    duration_s: float
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    isolation: str = ""
    error_message: str = ""
    exit_code: int | None = None

    @property
    def pass_rate(self) -> float:
        """Passed tests / all tests; 0.0 if the code failed before the tests.

        With no tests at all it is 1.0 when the code ran cleanly and 0.0 otherwise, so
        "it at least runs" still counts for something in a reward.
        """
        if not self.tests:
            return 1.0 if self.passed else 0.0
        return sum(t.passed for t in self.tests) / len(self.tests)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pass_rate"] = self.pass_rate
        return d


# Runs inside the child. Reads {token, setup, code, tests} from stdin, then reports one
# JSON line per stage on the pipe fd given in argv[1]. Names are bound to locals before
# user code runs, so replacing json/os attributes later does not change the reporting.
_RUNNER = r"""
import gc, json, os, sys

def _main():
    fd = int(sys.argv[1])
    payload = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    token, write, dumps = payload.pop("token"), os.write, json.dumps
    sys.argv = ["solution.py"]

    def emit(**rec):
        rec["token"] = token
        data = (dumps(rec) + "\n").encode("utf-8", "replace")
        while data:
            data = data[write(fd, data):]

    def describe(exc, filename, source):
        try:
            text = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
        except BaseException:
            text = "<unprintable exception>"
        lineno = None
        if isinstance(exc, SyntaxError) and exc.filename == filename:
            lineno = exc.lineno
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                lineno = tb.tb_lineno
            tb = tb.tb_next
        lines = source.splitlines()
        line = lines[lineno - 1].strip() if lineno and 0 < lineno <= len(lines) else None
        return {"error": type(exc).__name__, "message": text[:2000], "line": line, "lineno": lineno}

    ns = {"__name__": "solution", "__builtins__": __builtins__}
    for stage in ("setup", "code"):
        source, filename = payload[stage], "<" + stage + ">"
        try:
            exec(compile(source, filename, "exec"), ns)
        except BaseException as exc:
            ns.clear()
            gc.collect()
            emit(stage=stage, **describe(exc, filename, source))
            return
    for i, source in enumerate(payload["tests"]):
        filename = "<test %d>" % i
        try:
            exec(compile(source, filename, "exec"), ns)
        except BaseException as exc:
            emit(stage="test", index=i, passed=False, **describe(exc, filename, source))
        else:
            emit(stage="test", index=i, passed=True)
    emit(stage="done")

_main()
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except BaseException:
        pass
os._exit(0)
"""


def _limits(timeout_s: float, memory_mb: int) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) triples. Hard limits too, so the code cannot raise them again."""
    cpu = max(1, math.ceil(timeout_s)) + 1  # a backstop; the wall-clock deadline comes first
    memory = memory_mb * 1024 * 1024
    limits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),  # SIGXCPU at soft (a timeout), SIGKILL at hard
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT, FILE_SIZE_LIMIT),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    # Root ignores RLIMIT_NPROC, and for other users it counts every process they own,
    # so it is only a best-effort cap against fork bombs.
    if os.geteuid() != 0:
        limits.append((resource.RLIMIT_NPROC, NPROC_LIMIT, NPROC_LIMIT))
    return limits


def _isolation(timeout_s: float, memory_mb: int) -> str:
    nproc = f", nproc {NPROC_LIMIT}" if os.geteuid() != 0 else " (nproc not enforceable as root)"
    return (
        "subprocess python -I, scrubbed env, temp cwd, own process group killed at "
        f"{timeout_s:g}s; rlimits: cpu, address space {memory_mb} MiB, file size "
        f"{FILE_SIZE_LIMIT // 2**20} MiB, {OPEN_FILES_LIMIT} open files{nproc}; network not isolated"
    )


def run_tests(
    code: str, tests: Sequence[str], *, timeout_s: float = 5.0, memory_mb: int = 512, setup: str = ""
) -> Verdict:
    """Run ``setup`` then ``code``, then each test in turn, in one fresh limited process.

    Tests share the code's namespace and run in order; one failing does not stop the rest.
    ``timeout_s`` bounds the whole run (wall clock), not each test.
    """
    if isinstance(tests, str):
        raise TypeError("tests must be a sequence of test sources, not one string")
    if timeout_s <= 0 or memory_mb <= 0:
        raise ValueError("timeout_s and memory_mb must be positive")
    tests = list(tests)
    token = secrets.token_hex(16)
    payload = json.dumps({"token": token, "setup": setup, "code": code, "tests": tests}).encode()
    limits = _limits(timeout_s, memory_mb)

    def preexec() -> None:  # runs in the child between fork and exec: keep it to setrlimit calls
        for which, soft, hard in limits:
            resource.setrlimit(which, (soft, hard))

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    result_r, result_w = os.pipe()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sra-sandbox-", ignore_cleanup_errors=True) as cwd:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _RUNNER, str(result_w)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                pass_fds=(result_w,),
                start_new_session=True,
                preexec_fn=preexec,
            )
        except BaseException:
            os.close(result_r)
            raise
        finally:
            os.close(result_w)
        try:
            out = _collect(proc, payload, result_r, start + timeout_s)
            if not (out.timed_out or out.output_limit):
                try:  # pipes closed but the runner may still be alive (it can close them itself)
                    proc.wait(timeout=max(0.0, start + timeout_s - time.monotonic()))
                except subprocess.TimeoutExpired:
                    out.timed_out = True
        finally:
            _kill_group(proc.pid)
            proc.wait()
            os.close(result_r)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
    duration = time.monotonic() - start
    return _verdict(out, proc.returncode, token, tests, duration, _isolation(timeout_s, memory_mb))


@dataclass
class _Collected:
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    results: bytearray = field(default_factory=bytearray)
    output_bytes: int = 0
    truncated: bool = False
    timed_out: bool = False
    output_limit: bool = False


def _collect(proc: subprocess.Popen, payload: bytes, result_r: int, deadline: float) -> _Collected:
    """Feed stdin and drain stdout, stderr and the result pipe until done or a limit trips.

    Output beyond the kept prefix is read and dropped, so a chatty child never blocks
    and never fills the parent's memory.
    """
    assert proc.stdin and proc.stdout and proc.stderr
    got = _Collected()
    sel = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
    sel.register(proc.stdout.fileno(), selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr.fileno(), selectors.EVENT_READ, "stderr")
    sel.register(result_r, selectors.EVENT_READ, "results")
    pending, exited_at = memoryview(payload), None
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                got.timed_out = True
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > _EXIT_GRACE_S:
                break  # its children still hold the pipes; the group kill below ends them
            for key, _ in sel.select(timeout=min(0.05, deadline - now)):
                fd, name = key.fd, key.data
                if name == "stdin":
                    try:
                        pending = pending[os.write(fd, pending) :]
                    except (BrokenPipeError, BlockingIOError) as exc:
                        if isinstance(exc, BlockingIOError):
                            continue
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    sel.unregister(fd)
                    continue
                if name == "results":
                    if len(got.results) < RESULTS_MAX_BYTES:
                        got.results += chunk
                    continue
                buf = got.stdout if name == "stdout" else got.stderr
                room = OUTPUT_KEEP_BYTES - len(buf)
                if room > 0:
                    buf += chunk[:room]
                got.truncated |= len(chunk) > room
                got.output_bytes += len(chunk)
                if got.output_bytes > OUTPUT_KILL_BYTES:
                    got.output_limit = True
                    return got
    finally:
        sel.close()
        if proc.stdin and not proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
    return got


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _records(raw: bytes, token: str) -> list[dict[str, Any]]:
    out = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.pop("token", None) == token:
            out.append(rec)
    return out


def _verdict(
    got: _Collected, returncode: int | None, token: str, tests: list[str], duration: float, isolation: str
) -> Verdict:
    results: dict[int, TestResult] = {}
    stage_error: dict[str, Any] | None = None
    done = False
    for rec in _records(bytes(got.results), token):
        stage = rec.get("stage")
        if stage == "test" and isinstance(rec.get("index"), int) and 0 <= rec["index"] < len(tests):
            i = rec["index"]
            results[i] = TestResult(
                test=tests[i],
                passed=rec.get("passed") is True,
                error=rec.get("error"),
                message=_test_message(rec),
                line=rec.get("line"),
            )
        elif stage in ("setup", "code") and stage_error is None:
            stage_error = rec
        elif stage == "done":
            done = True

    kind, message = None, ""
    if got.timed_out or returncode == -signal.SIGXCPU:
        kind, message = "timeout", "time limit reached; the process group was killed"
    elif got.output_limit:
        kind, message = "output_limit", f"more than {OUTPUT_KILL_BYTES // 2**20} MiB of output; killed"
    elif stage_error is not None:
        err = stage_error.get("error")
        kind = "syntax" if err in ("SyntaxError", "IndentationError", "TabError") else "runtime"
        kind = "memory" if err == "MemoryError" else kind
        where = f" (line {stage_error['lineno']})" if stage_error.get("lineno") else ""
        message = f"{stage_error['stage']}{where}: {err}: {stage_error.get('message', '')}".rstrip(": ")
    elif returncode is not None and returncode < 0:
        kind, message = "killed", f"killed by signal {_signal_name(-returncode)}"
    elif not done:
        kind = "runtime"
        message = f"the process exited (code {returncode}) before the tests finished"
    if kind is None and any(r.error == "MemoryError" for r in results.values()):
        kind, message = "memory", "a test ran out of memory"

    not_run = "not run: " + (message or "the run ended early")
    ordered = [
        results.get(i) or TestResult(test=t, passed=False, message=not_run) for i, t in enumerate(tests)
    ]
    passed = kind is None and done and returncode == 0 and all(r.passed for r in ordered)
    return Verdict(
        passed=passed,
        tests=ordered,
        error_kind=kind,
        duration_s=round(duration, 4),
        stdout=got.stdout.decode("utf-8", "replace"),
        stderr=got.stderr.decode("utf-8", "replace"),
        truncated=got.truncated,
        isolation=isolation,
        error_message=message,
        exit_code=returncode,
    )


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def _test_message(rec: dict[str, Any]) -> str:
    if rec.get("passed") is True:
        return ""
    text, line = rec.get("message") or "", rec.get("line")
    if rec.get("error") == "AssertionError" and line:
        return f"failed: {line}" + (f" ({text})" if text else "")
    where = f" at: {line}" if line else ""
    return f"{rec.get('error')}: {text}{where}"


def run_humaneval_check(
    problem: Problem, code: str, *, timeout_s: float = 10.0, memory_mb: int = 512
) -> Verdict:
    """Judge ``code`` (a full program) with HumanEval's hidden ``check``, as one test.

    For display beside the reward only: the hidden tests never feed the search.
    """
    if not problem.hidden_test or not problem.entry_point:
        raise ValueError(f"problem {problem.id} has no hidden test to run")
    test = f"{problem.hidden_test.rstrip()}\n\n\ncheck({problem.entry_point})\n"
    return run_tests(code, [test], timeout_s=timeout_s, memory_mb=memory_mb)
