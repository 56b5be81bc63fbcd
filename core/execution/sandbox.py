"""Run untrusted code against tests in a separate, confined process.

Monkey-patching inside the caller's interpreter is not a sandbox, so each call starts a
fresh ``python -I -S`` (the script is ``core/execution/runner.py``) with a scrubbed
environment and rlimits, under bubblewrap where it works, else under ``unshare`` (the mode:
``core/execution/modes.py``; the command and limits: ``core/execution/limits.py``), and
with a fresh unprivileged uid when the studio is root. At the end everything of the run is
killed. Results come back over a private pipe, tagged with a per-run token; a test that
compares calls of the function with literal values is judged here, on the values sent back
(``core/execution/probes.py``), so the program cannot forge it. ``docs/SANDBOX.md`` has the
threat model.

Example::

    v = run_tests("def inc(x):\\n    return x + 1\\n", ["assert inc(1) == 2", "assert inc(2) == 4"])
    v.passed, v.pass_rate                    # (False, 0.5)
    v.tests[1].message                       # 'failed: assert inc(2) == 4'
    SandboxPool(workers=2).run_many([SandboxJob(code, tests), ...])   # -> list[Verdict]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.execution.cleanup import remove_tree
from core.execution.limits import FILE_SIZE_LIMIT, NPROC_LIMIT, OPEN_FILES_LIMIT, Confinement, sweep
from core.execution.modes import SandboxMode, SandboxUnavailable, refusal, sandbox_mode, unsandboxed_allowed
from core.execution.probes import SplitTest, decode, judge, split_test
from core.paths import cache_dir, data_dir
from core.problems.problem import Problem

OUTPUT_KEEP_BYTES = 64 * 1024  # per stream, what the verdict keeps
OUTPUT_KILL_BYTES = 16 * 1024 * 1024  # stdout+stderr beyond this: the run is killed
RESULTS_MAX_BYTES = 4 * 1024 * 1024
_RUNNER_PATH = Path(__file__).with_name("runner.py")
log = logging.getLogger(__name__)
__all__ = ["FILE_SIZE_LIMIT", "NPROC_LIMIT", "OPEN_FILES_LIMIT", "SandboxJob", "SandboxPool", "TestResult"]
__all__ += ["SandboxUnavailable", "Verdict", "run_humaneval_check", "run_tests"]
_EXIT_GRACE_S = 0.2  # after the runner exits, how long to wait for pipes held open by its children

ERROR_KINDS = ("syntax", "runtime", "timeout", "memory", "killed", "output_limit", "sandbox")


@dataclass
class TestResult:
    """One test's outcome; ``line`` is the source line that failed (e.g. the assert)."""

    __test__ = False  # not a pytest class

    test: str
    passed: bool
    error: str | None = None
    message: str = ""
    line: str | None = None
    judged: str = "inside"  # "outside": compared in the studio's process, out of the program's reach
    values: tuple[str, ...] = ()  # judged outside: what each call returned (a short repr), in call order


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


def _runner_source() -> str:
    return _RUNNER_PATH.read_text()


_NAMESPACES = ("net", "ipc", "pid", "mnt", "uts", "user", "cgroup")


def _our_namespaces() -> dict[str, int]:
    out = {}
    for name in _NAMESPACES:
        with contextlib.suppress(OSError):
            out[name] = os.stat(f"/proc/self/ns/{name}").st_ino
    return out


def _must_hide() -> list[str]:
    """Folders a run must not see: the user's home, the data folder, the model cache, the project."""
    return sorted({str(Path.home()), str(data_dir()), str(cache_dir()), str(_RUNNER_PATH.parents[2])})


@dataclass(frozen=True)
class _Plan:
    """Which tests are judged here (split into probes) and which run inside."""

    splits: dict[int, SplitTest]
    offsets: dict[int, int]  # test index -> index of its first probe
    probes: list[str]
    inside: list[list[Any]]  # [test index, source]

    @classmethod
    def of(cls, tests: list[str], entry_point: str | None) -> _Plan:
        splits, offsets, probes, inside = {}, {}, [], []
        for i, test in enumerate(tests):
            split = split_test(test, entry_point) if entry_point else None
            if split is None:
                inside.append([i, test])
                continue
            splits[i], offsets[i] = split, len(probes)
            probes += split.probes
        return cls(splits, offsets, probes, inside)


def run_tests(
    code: str,
    tests: Sequence[str],
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    setup: str = "",
    entry_point: str | None = None,
) -> Verdict:
    """Run ``setup`` then ``code``, then each test in turn, in one fresh confined process.

    Tests share the code's namespace and run in order; one failing does not stop the rest.
    ``timeout_s`` bounds the whole run (wall clock), not each test. With ``entry_point``, a test
    that only compares calls of it on literals with literal values is judged here, outside the
    process (``core/execution/probes.py``). Raises ``SandboxUnavailable`` when no sandbox works
    and the user did not opt in.
    """
    if isinstance(tests, str):
        raise TypeError("tests must be a sequence of test sources, not one string")
    if timeout_s <= 0 or memory_mb <= 0:
        raise ValueError("timeout_s and memory_mb must be positive")
    mode = sandbox_mode()
    if mode is SandboxMode.NONE and not unsandboxed_allowed():
        raise SandboxUnavailable(refusal())
    tests = list(tests)
    plan = _Plan.of(tests, entry_point)
    token = secrets.token_hex(16)
    payload = {"token": token, "setup": setup, "code": code, "probes": plan.probes, "tests": plan.inside}
    payload["hide"] = _must_hide()
    conf = Confinement.for_run(timeout_s, memory_mb, mode)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    result_r, result_w = os.pipe()
    start = time.monotonic()
    host_dir = None if conf.workdir_inside else tempfile.mkdtemp(prefix="sra-sandbox-")
    try:
        if host_dir:
            conf.prepare_dir(host_dir)
        workdir = conf.workdir_inside or host_dir or "/"
        argv = [os.path.realpath(sys.executable), "-I", "-S", "-c", _runner_source(), str(result_w)]
        argv += [str(conf.uid), str(conf.uid), workdir, str(conf.nproc), json.dumps(_our_namespaces())]
        argv.append(mode.value)
        try:
            proc = subprocess.Popen(
                conf.command(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=host_dir or "/",
                env=env,
                pass_fds=(result_w,),
                start_new_session=True,
                preexec_fn=conf.preexec(),
            )
        except BaseException:
            os.close(result_r)
            raise
        finally:
            os.close(result_w)
        try:
            out = _collect(proc, json.dumps(payload).encode(), result_r, start + timeout_s)
            if not (out.timed_out or out.output_limit):
                try:  # pipes closed but the runner may still be alive (it can close them itself)
                    proc.wait(timeout=max(0.0, start + timeout_s - time.monotonic()))
                except subprocess.TimeoutExpired:
                    out.timed_out = True
        finally:
            left = sweep(proc.pid, conf.uid)
            proc.wait()
            os.close(result_r)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
    finally:
        if host_dir and not remove_tree(host_dir):
            log.warning("could not remove the sandbox folder %s", host_dir)
    duration = time.monotonic() - start
    return _verdict(out, proc.returncode, token, tests, plan, duration, conf, left)


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
    got: _Collected,
    returncode: int | None,
    token: str,
    tests: list[str],
    plan: _Plan,
    duration: float,
    conf: Confinement,
    left: int,
) -> Verdict:
    results: dict[int, TestResult] = {}
    probes: dict[int, dict[str, Any]] = {}
    stage_error: dict[str, Any] | None = None
    done = False
    confined: dict[str, Any] = {}
    inside = {i for i, _ in plan.inside}
    for rec in _records(bytes(got.results), token):
        stage, index = rec.get("stage"), rec.get("index")
        if stage == "test" and index in inside and isinstance(index, int):
            results[index] = TestResult(
                test=tests[index],
                passed=rec.get("passed") is True,
                error=rec.get("error"),
                message=_test_message(rec),
                line=rec.get("line"),
            )
        elif stage == "probe" and isinstance(index, int) and 0 <= index < len(plan.probes):
            probes.setdefault(index, rec)
        elif stage in ("setup", "code") and stage_error is None:
            stage_error = rec
        elif stage == "done":
            done = True
        elif stage == "confine" and not confined:
            confined = rec
    if done:  # a probe that never answered (its record was cut) fails its test
        for i, split in plan.splits.items():
            results[i] = _judged(
                tests[i], split, [probes.get(plan.offsets[i] + j) for j in range(len(split.probes))]
            )

    kind, message = None, ""
    if "refused" in confined:
        kind, message = "sandbox", f"not run: {confined['refused']}"
    elif got.timed_out or returncode == -signal.SIGXCPU:
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
        if returncode == 126 and not confined:
            why = next(
                (ln for ln in got.stderr.decode("utf-8", "replace").splitlines() if "set-up failed" in ln), ""
            )
            kind, message = "sandbox", f"not run: the sandbox could not be set up ({why or 'exit 126'})"
    if kind is None and any(r.error == "MemoryError" for r in results.values()):
        kind, message = "memory", "a test ran out of memory"

    visible = confined.get("visible") if isinstance(confined.get("visible"), list) else []
    isolation = (
        conf.describe(confined, [str(v) for v in visible])
        if confined
        else "not confined: the runner did not start"
    )
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
        isolation=isolation + ("" if not left else f"; WARNING: {left} process(es) survived the final kill"),
        error_message=message,
        exit_code=returncode,
    )


def _judged(test: str, split: SplitTest, answers: list[dict[str, Any] | None]) -> TestResult:
    """A split test's result: each check judged here on the values its probes sent back."""
    values: list[Any] = []
    for rec in answers:
        if rec is None:
            return TestResult(
                test=test, passed=False, message="not run: a call sent back no value", judged="outside"
            )
        if "value" not in rec:
            return TestResult(
                test=test,
                passed=False,
                error=rec.get("error"),
                judged="outside",
                message=f"{rec.get('error')}: {rec.get('message') or ''} at: {rec.get('line') or ''}".strip(),
                line=rec.get("line"),
            )
        try:
            values.append(decode(rec["value"]))
        except ValueError as exc:
            return TestResult(test=test, passed=False, error="ValueError", message=str(exc), judged="outside")
    returned = tuple(_short_repr(v) for v in values)
    for check in split.checks:
        ok, why = judge(check, values)
        if not ok:
            detail = f" ({why})" if why else ""
            got = "; ".join(f"{split.probes[i]} returned {returned[i]}" for i in check.probes)
            return TestResult(
                test=test,
                passed=False,
                error="AssertionError",
                line=check.source,
                message=f"failed: {check.source}{detail}" + (f" — {got}" if got else ""),
                judged="outside",
                values=returned,
            )
    return TestResult(test=test, passed=True, judged="outside", values=returned)


def _short_repr(value: Any, limit: int = 200) -> str:
    """What a call returned, as the feedback and the inspector show it (cut to ``limit`` characters)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    return run_tests(code, [test], timeout_s=timeout_s, memory_mb=memory_mb, entry_point=problem.entry_point)


@dataclass(frozen=True)
class SandboxJob:
    """One call of ``run_tests``, for ``SandboxPool.run_many``."""

    code: str
    tests: tuple[str, ...] = ()
    timeout_s: float = 5.0
    memory_mb: int = 512
    setup: str = ""
    entry_point: str | None = None


class SandboxPool:
    """Runs jobs with at most ``workers`` sandboxes alive at once; results keep the jobs' order.

    Example::

        with SandboxPool(workers=2) as pool:
            verdicts = pool.run_many([SandboxJob(code, ("assert f(1) == 2",)), (code, ["assert f(0) == 1"])])
    """

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="sandbox")

    def run_many(self, jobs: Iterable[SandboxJob | tuple[str, Sequence[str]]]) -> list[Verdict]:
        todo = [j if isinstance(j, SandboxJob) else SandboxJob(j[0], tuple(j[1])) for j in jobs]
        return list(self._executor.map(self._run, todo))

    @staticmethod
    def _run(job: SandboxJob) -> Verdict:
        return run_tests(
            job.code,
            job.tests,
            timeout_s=job.timeout_s,
            memory_mb=job.memory_mb,
            setup=job.setup,
            entry_point=job.entry_point,
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
