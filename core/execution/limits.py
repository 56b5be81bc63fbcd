"""What confines a sandbox child: rlimits, the command for the mode, a run uid, and the final sweep.

``Confinement`` holds what one run asked for: its limits, its mode (``core/execution/modes.py``),
the uid it runs as, and builds the command line (bwrap or unshare in front of the runner).
``sweep()`` kills whatever of the run is still alive afterwards, found by uid (a fresh uid per
run, when we are root) or by process group and parentage.

Example::

    c = Confinement.for_run(timeout_s=5, memory_mb=512)
    c.command(["python", "-I", "-S", "-c", "pass"])   # ['bwrap', '--unshare-all', ..., 'python', ...]
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.execution.modes import BWRAP_FLAGS, SandboxMode, bwrap_path, fresh_uid, unshare_prefix

FILE_SIZE_LIMIT = 16 * 1024 * 1024
OPEN_FILES_LIMIT = 64
NPROC_LIMIT = 64
WORK_TMPFS_BYTES = 64 * 1024 * 1024  # bubblewrap: the private /sandbox and /tmp, each
BWRAP_WORKDIR = "/sandbox"
_CLONE_NEWNS, _MS_REC, _MS_PRIVATE, _MS_NOSUID, _MS_NODEV, _MS_BIND = 0x20000, 16384, 1 << 18, 2, 4, 4096
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: preexec only calls it


@functools.lru_cache(maxsize=1)
def python_reachable() -> bool:
    """Can any uid traverse to our Python install? (Else a fresh uid needs it exposed first.)"""
    path = Path(sys.base_prefix).resolve()
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def python_dirs() -> list[str]:
    """What of Python a run needs: the real interpreter's folder and the standard library's prefix."""
    exe_dir = os.path.dirname(os.path.realpath(sys.executable))
    return sorted({os.path.realpath(sys.base_prefix), exe_dir})


def _mount(
    target: str,
    flags: int,
    source: bytes | None = None,
    fstype: bytes | None = None,
    data: bytes | None = None,
) -> bool:
    return _LIBC.mount(source, target.encode(), fstype, flags, data) == 0


def _expose(path: str, mount=_mount) -> bool:
    """Keep ``path`` reachable for other uids when an ancestor is private (e.g. /root, 0700).

    The private ancestor is covered by an empty tmpfs and only the needed child is bound
    back into it, so the rest of the private directory stays hidden from the run.
    """
    parts = path.split("/")
    for i in range(2, len(parts)):
        private, keep = "/".join(parts[:i]), "/".join(parts[: i + 1])
        if os.stat(private).st_mode & 0o001:
            continue
        fd = os.open(keep, os.O_PATH)
        via = f"/proc/self/fd/{fd}"
        try:
            ok = mount(private, _MS_NOSUID | _MS_NODEV, b"tmpfs", b"tmpfs", b"mode=0755")
            os.mkdir(keep) if os.path.isdir(via) else open(keep, "w").close()
            return ok and mount(keep, _MS_BIND | _MS_REC, via.encode())
        finally:
            os.close(fd)
    return True


def _bwrap_args(python: list[str]) -> list[str]:
    args = [bwrap_path() or "bwrap", *BWRAP_FLAGS, "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = "/" + name
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for d in python:
        if not d.startswith("/usr/"):
            args += ["--ro-bind", d, d]
    args += ["--proc", "/proc", "--dev", "/dev", "--hostname", "sandbox"]
    for tmp in ("/tmp", BWRAP_WORKDIR):
        args += ["--size", str(WORK_TMPFS_BYTES), "--tmpfs", tmp]
    return [*args, "--remount-ro", "/", "--chdir", BWRAP_WORKDIR, "--"]


@dataclass(frozen=True)
class Confinement:
    """The limits and isolation of one run."""

    timeout_s: float
    memory_mb: int
    mode: SandboxMode
    uid: int  # -1: keep our own uid
    nproc: int = NPROC_LIMIT  # its RLIMIT_NPROC: see ``for_run``

    @classmethod
    def for_run(cls, timeout_s: float, memory_mb: int, mode: SandboxMode) -> Confinement:
        root = os.geteuid() == 0
        fresh = root and (mode is not SandboxMode.NONE or python_reachable())
        # The kernel counts every task of the real uid against RLIMIT_NPROC (the user's desktop,
        # the studio's threads). A fresh uid, or a new user namespace (bubblewrap; the fallback as
        # non-root: the runner sets it inside), counts only the run. With neither, the run shares
        # our uid: what it already runs plus NPROC_LIMIT, else a cap of 64 refuses every fork.
        shared = not fresh and mode is SandboxMode.NONE
        nproc = tasks_of(os.getuid()) + NPROC_LIMIT if shared else NPROC_LIMIT
        return cls(timeout_s, memory_mb, mode, fresh_uid() if fresh else -1, nproc)

    @property
    def workdir_inside(self) -> str | None:
        """Where the runner works: bubblewrap's private tmpfs, or None for a host temp dir."""
        return BWRAP_WORKDIR if self.mode is SandboxMode.BUBBLEWRAP else None

    def command(self, argv: list[str]) -> list[str]:
        if self.mode is SandboxMode.BUBBLEWRAP:
            return [*_bwrap_args(python_dirs()), *argv]
        if self.mode is SandboxMode.NAMESPACES:
            return [*unshare_prefix(), *argv]
        return list(argv)

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

    def preexec(self) -> Callable[[], None]:
        """What runs between fork and exec: the uid drop unless the runner does it later, then rlimits.

        Under bubblewrap as root, bwrap itself runs as the fresh uid (so the kernel counts the run's
        processes against RLIMIT_NPROC); a private mount namespace first exposes Python's folder to
        that uid when an ancestor is private (e.g. /root, 0700). Everything is computed here, in the
        parent; the child allocates as little as it can, and sets the address-space limit last: the
        child is a copy of the studio, whose address space (torch loaded) is far above the run's.
        """
        drop = self.uid >= 0 and self.mode is not SandboxMode.NAMESPACES
        expose = (
            tuple(python_dirs())
            if drop and self.mode is SandboxMode.BUBBLEWRAP and not python_reachable()
            else ()
        )
        limits = tuple(self.limits())
        if drop or (self.uid < 0 and self.mode is SandboxMode.NONE):
            limits += ((resource.RLIMIT_NPROC, self.nproc, self.nproc),)
        uid = self.uid

        def child() -> None:
            try:
                if expose:
                    if _LIBC.unshare(_CLONE_NEWNS) != 0 or not _mount("/", _MS_REC | _MS_PRIVATE):
                        raise OSError("no private mount namespace to expose Python in")
                    for d in expose:
                        if not _expose(d):
                            raise OSError(f"could not expose {d}")
                if drop:
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)
                for which, soft, hard in limits:
                    resource.setrlimit(which, (soft, hard))
            except BaseException as exc:  # say why on the run's stderr; the verdict names it "sandbox"
                os.write(2, f"sandbox set-up failed: {type(exc).__name__}: {exc}\n".encode())
                os._exit(126)

        return child

    def prepare_dir(self, path: str) -> None:
        if self.uid >= 0:
            os.chown(path, self.uid, self.uid)

    def describe(self, facts: dict, visible: list[str]) -> str:
        """What was applied, from the runner's own measurements (``facts``) where it can say."""
        parts = [
            {"bubblewrap": "bubblewrap", "namespaces": "fallback (unshare)", "none": "NO SANDBOX (opted in)"}[
                self.mode.value
            ],
            "subprocess python -I -S, scrubbed env",
            f"rlimits cpu/as {self.memory_mb} MiB/fsize {FILE_SIZE_LIMIT // 2**20} MiB/"
            f"nofile {OPEN_FILES_LIMIT}/nproc {NPROC_LIMIT}",
        ]
        uid = facts.get("uid")
        if self.uid >= 0 and isinstance(uid, int) and uid != 0:
            parts.append(f"fresh uid {self.uid}")
        elif uid == 0 and self.mode is SandboxMode.NONE:
            parts.append("runs as root (nproc not enforced)")
        unshared = facts.get("unshared") if isinstance(facts.get("unshared"), list) else []
        parts.append("no network" if "net" in unshared else "network NOT isolated")
        spaces = [n for n in ("pid", "ipc", "mnt", "uts", "user", "cgroup") if n in unshared]
        if spaces:
            parts.append("own " + "/".join(spaces) + " namespaces")
        parts.append("no capabilities" if facts.get("caps") == 0 else "capabilities kept")
        parts.append("read-only system" if facts.get("readonly") is True else "system writable")
        parts.append("home, data and project hidden" if not visible else "VISIBLE: " + ", ".join(visible))
        work = "private tmpfs cwd" if self.mode is SandboxMode.BUBBLEWRAP else "temp cwd"
        parts.append(f"own session; {work}; killed at {self.timeout_s:g}s")
        return "; ".join(parts)


def _statuses() -> Iterator[tuple[Path, dict[str, str]]]:
    """(/proc/PID, its status fields) of every process we can read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        yield entry, dict(line.split(":", 1) for line in status.splitlines() if ":" in line)


def tasks_of(uid: int) -> int:
    """How many tasks (threads included: RLIMIT_NPROC counts them) have real uid ``uid`` now."""
    count = 0
    for _, fields in _statuses():
        with contextlib.suppress(KeyError, ValueError, IndexError):
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
    return count


def _pid_namespace(pid: int | str) -> int:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return 0


def _proc_rows() -> list[tuple[int, int, int, set[int], str, int]]:
    """(pid, ppid, pgid, uids, state, pid-namespace inode) of every process we can read."""
    rows = []
    for entry, fields in _statuses():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        uids = {int(x) for x in fields.get("Uid", "").split()}
        rows.append((int(entry.name), int(stat[1]), int(stat[2]), uids, stat[0], _pid_namespace(entry.name)))
    return rows


def _targets(root_pid: int, uid: int, spaces: set[int]) -> set[int]:
    """The run's live processes: its group, its uid, its descendants, and all in its pid namespaces.

    ``spaces`` collects the pid namespaces of what was found (not ours): a process whose parent
    died is reparented out of the tree, but stays in the run's namespace, so later passes still
    find it.
    """
    rows = [r for r in _proc_rows() if r[4] != "Z"]
    found = {pid for pid, _, pgid, uids, _, ns in rows if pgid == root_pid or uid in uids or ns in spaces}
    children: dict[int, list[int]] = {}
    for pid, ppid, *_ in rows:
        children.setdefault(ppid, []).append(pid)
    stack = [root_pid]
    while stack:  # descendants, for when we could not give the run its own uid
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    found.discard(os.getpid())
    ours = _pid_namespace("self")
    spaces.update(ns for pid, *_, ns in rows if pid in found and ns and ns != ours)
    return found


def sweep(root_pid: int, uid: int, settle_s: float = 2.0) -> int:
    """SIGKILL the run's group, its descendants, its pid namespaces and (uid >= 0) its uid.

    The run is found before the first kill, while its tree is whole, then again until nothing
    is left (a fork bomb may still be forking) or ``settle_s`` passes; returns how many
    processes were still alive at the end (0 when clean).
    """
    spaces: set[int] = set()
    who = uid if uid >= 0 else -2
    left = _targets(root_pid, who, spaces)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root_pid, signal.SIGKILL)
    deadline = time.monotonic() + settle_s
    while True:
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
        left = _targets(root_pid, who, spaces)
        if not left or time.monotonic() > deadline:
            return len(left)
