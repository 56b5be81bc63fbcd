"""What confines a sandbox child: rlimits, the namespace wrapper, a run uid, and the final sweep.

``wrapper()`` probes once per process (cached) whether ``unshare`` can give the child its
own network, PID and mount namespaces here; ``Confinement`` holds what one run asked for,
and ``sweep()`` kills whatever of the run is still alive afterwards, found by uid
(a fresh uid per run, when we are root) or by process group and parentage.

Example::

    c = Confinement.for_run(timeout_s=5, memory_mb=512)
    c.command(["python", "-I", "-c", "pass"])   # ['unshare', '--net', ..., 'python', ...]
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FILE_SIZE_LIMIT = 16 * 1024 * 1024
OPEN_FILES_LIMIT = 64
NPROC_LIMIT = 64
RUN_UID_BASE = 2_000_000  # fresh uids come from [BASE, BASE + SPAN): no user owns them
RUN_UID_SPAN = 1_000_000
_NS_FLAGS = ["--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


@functools.lru_cache(maxsize=1)
def wrapper() -> tuple[str, ...]:
    """The ``unshare`` prefix that works here, or () when namespaces are not allowed."""
    exe = shutil.which("unshare")
    if not exe:
        return ()
    prefix = [exe, *_NS_FLAGS] + (["--map-root-user"] if os.geteuid() != 0 else [])
    try:
        done = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(prefix) if done.returncode == 0 else ()


@functools.lru_cache(maxsize=1)
def python_reachable() -> bool:
    """Can any uid traverse to our Python install? (Needed to drop to a fresh uid before exec.)"""
    path = Path(sys.base_prefix).resolve()
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


@dataclass(frozen=True)
class Confinement:
    """The limits and isolation of one run."""

    timeout_s: float
    memory_mb: int
    prefix: tuple[str, ...]
    uid: int  # -1: keep our own uid

    @classmethod
    def for_run(cls, timeout_s: float, memory_mb: int) -> Confinement:
        prefix = wrapper()  # with namespaces the runner exposes Python to the new uid itself
        fresh = os.geteuid() == 0 and (bool(prefix) or python_reachable())
        uid = RUN_UID_BASE + secrets.randbelow(RUN_UID_SPAN) if fresh else -1
        return cls(timeout_s, memory_mb, prefix, uid)

    def command(self, argv: list[str]) -> list[str]:
        return [*self.prefix, *argv]

    def limits(self) -> list[tuple[int, int, int]]:
        """(resource, soft, hard); hard too, so the code cannot raise them again."""
        cpu = max(1, math.ceil(self.timeout_s)) + 1  # a backstop; the wall-clock deadline comes first
        memory = self.memory_mb * 1024 * 1024
        return [
            (resource.RLIMIT_CPU, cpu, cpu + 1),  # SIGXCPU at soft, SIGKILL at hard
            (resource.RLIMIT_AS, memory, memory),
            (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT, FILE_SIZE_LIMIT),
            (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
            (resource.RLIMIT_CORE, 0, 0),
        ]

    def preexec(self) -> None:
        """Between fork and exec: rlimits, and the uid drop when no namespace wrapper runs it later."""
        for which, soft, hard in self.limits():
            resource.setrlimit(which, (soft, hard))
        if self.uid >= 0 and not self.prefix:
            os.setgroups([])
            os.setgid(self.uid)
            os.setuid(self.uid)
            resource.setrlimit(resource.RLIMIT_NPROC, (NPROC_LIMIT, NPROC_LIMIT))
        elif self.uid < 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (NPROC_LIMIT, NPROC_LIMIT))

    def prepare_dir(self, path: str) -> None:
        if self.uid >= 0:
            os.chown(path, self.uid, self.uid)

    def describe(self, readonly: bool, uid: int | None) -> str:
        parts = [
            "subprocess python -I, scrubbed env",
            f"rlimits cpu/as {self.memory_mb} MiB/fsize {FILE_SIZE_LIMIT // 2**20} MiB/"
            f"nofile {OPEN_FILES_LIMIT}/nproc {NPROC_LIMIT}",
        ]
        if uid is not None and uid != 0 and uid == self.uid:
            parts.append(f"fresh uid {uid}")
        elif uid == 0:
            parts.append("runs as root (nproc not enforced)")
        parts.append("own session")
        if self.prefix:
            flag = " --map-root-user" if "--map-root-user" in self.prefix else ""
            parts.append(f"no network, own pid+mount namespace (unshare -n -p -m{flag})")
        else:
            parts.append("network NOT isolated (unshare unavailable)")
        parts.append("read-only filesystem except temp cwd" if readonly else "filesystem writable per uid")
        parts.append(f"temp cwd; killed at {self.timeout_s:g}s")
        return "; ".join(parts)


def _proc_rows() -> list[tuple[int, int, int, set[int], str]]:
    """(pid, ppid, pgid, uids, state) of every process we can read."""
    rows = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        uids: set[int] = set()
        for line in status.splitlines():
            if line.startswith("Uid:"):
                uids = {int(x) for x in line.split()[1:]}
                break
        rows.append((int(entry.name), int(stat[1]), int(stat[2]), uids, stat[0]))
    return rows


def _targets(root_pid: int, uid: int) -> set[int]:
    rows = _proc_rows()
    found = {pid for pid, _, pgid, uids, state in rows if state != "Z" and (pgid == root_pid or uid in uids)}
    children: dict[int, list[int]] = {}
    for pid, ppid, _, _, state in rows:
        if state != "Z":
            children.setdefault(ppid, []).append(pid)
    stack = [root_pid]
    while stack:  # descendants, for when we could not give the run its own uid
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    found.discard(os.getpid())
    return found


def sweep(root_pid: int, uid: int, settle_s: float = 2.0) -> int:
    """SIGKILL the run's group, its descendants and (uid >= 0) every process of its uid.

    Repeats until nothing is left (a fork bomb may still be forking) or ``settle_s`` passes;
    returns how many processes were still alive at the end (0 when clean).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root_pid, signal.SIGKILL)
    deadline = time.monotonic() + settle_s
    while True:
        left = _targets(root_pid, uid if uid >= 0 else -2)
        if not left or time.monotonic() > deadline:
            return len(left)
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
