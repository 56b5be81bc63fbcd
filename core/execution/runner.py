"""The child side of the sandbox: confine this process, then run setup, code, probes and tests.

The parent passes this file's source to ``python -I -S -c`` (nothing on disk near it is
importable), with argv: result fd, uid, gid, work dir, nproc limit, the parent's namespace
inodes (JSON), and the mode (``bubblewrap``, ``namespaces`` or ``none``). It reads {token,
setup, code, probes, tests} as JSON from stdin and writes one JSON line per stage, tagged with
the token, to the result fd.

Confinement, all before any user code runs:
- ``bubblewrap``: bwrap has done it (empty root, read-only binds, every namespace, no
  capabilities); the runner only measures it;
- ``namespaces`` (the fallback, under ``unshare``): cover every non-system top-level directory
  with an empty tmpfs (homes, the data folder, the project, /tmp), bind back only Python and
  the work dir, remount everything but the work dir read-only, then give up every capability
  (as root: drop to the run's fresh uid), so the mounts cannot be undone;
- the process count is capped (per uid: a fresh one per run when the studio is root).
The first line it writes says what holds (uid, capabilities, unshared namespaces, read-only
system), measured here. Every source is compiled before user code runs, and names are bound
to locals first, so replacing ``compile``, ``json`` or ``os`` attributes later does not change
the reporting. Probes (calls of the function under test) send back their values; the parent
compares them with the expected ones, which never enter this process.
"""

import gc
import json
import os
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_RELATIME = 16384, 1 << 21
_KEEP = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME}
_KEEP.update(nodiratime=MS_NODIRATIME, relatime=MS_RELATIME)
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 24, 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYSTEM = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev"}


def _mount(target, flags, source=None, fstype=None, data=None):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.mount(source, target.encode(), fstype, flags, data) == 0


def _hide_private(keep):
    """Cover every top-level directory but the system ones with an empty tmpfs; bind ``keep`` back.

    This hides homes, the data folder, the project and /tmp (bubblewrap starts from an empty
    root instead); ``keep`` (Python, the work dir) is bound back at its own path.
    """
    ok = True
    for name in sorted(os.listdir("/")):
        top = "/" + name
        if name in _SYSTEM or os.path.islink(top) or not os.path.isdir(top):
            continue
        inside = [k for k in keep if k == top or k.startswith(top + "/")]
        if top in inside:
            continue
        fds = [(k, os.open(k, os.O_PATH)) for k in inside]
        try:
            ok = _mount(top, MS_NOSUID | MS_NODEV, b"tmpfs", b"tmpfs", b"mode=0755,size=1m") and ok
            for k, fd in fds:
                via = f"/proc/self/fd/{fd}"
                if os.path.isdir(via):
                    os.makedirs(k, exist_ok=True)
                else:
                    open(k, "w").close()
                ok = _mount(k, MS_BIND | MS_REC, via.encode()) and ok
        finally:
            for _, fd in fds:
                os.close(fd)
    return ok


def _reachable(target, dev):
    """Is the mount at ``target`` (device ``major:minor``) what that path shows, not covered by a tmpfs?"""
    major, minor = (int(x) for x in dev.split(":"))
    try:
        return os.stat(target, follow_symlinks=False).st_dev == os.makedev(major, minor)
    except OSError:
        return False


def _readonly_mounts(workdir):
    """Bind ``workdir`` onto itself and remount everything else read-only; True if all worked."""
    ok = _mount(workdir, MS_BIND, workdir.encode())
    ok = ok and _mount(workdir, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f]
    for row in rows:
        target = row[4].encode().decode("unicode_escape")
        if target == workdir or not _reachable(target, row[2]):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for opt in row[5].split(","):
            flags |= _KEEP.get(opt, 0)
        ok = _mount(target, flags) and ok
    return ok


def _drop_capabilities():
    """Give up every capability (the namespace's root keeps none), so the mounts stay as they are."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    return libc.capset(header, data) == 0


def _confine(mode, uid, gid, workdir, nproc, parent_ns, hide):
    if mode == "namespaces":
        if os.stat("/proc/self/ns/mnt").st_ino == parent_ns.get("mnt"):
            return {"refused": "the fallback has no mount namespace of its own"}
        keep = {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.realpath(sys.executable)), workdir}
        hidden = _hide_private(sorted(keep))
        readonly = _readonly_mounts(workdir)
        os.chdir(workdir)  # the old cwd is the path under the bind mount, now read-only
        if not (hidden and readonly):
            return {"refused": "the fallback could not hide or lock the filesystem"}
    if uid >= 0 and os.getuid() == 0 and mode != "bubblewrap":
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    elif mode == "namespaces" and not _drop_capabilities():
        return {"refused": "the fallback could not drop its capabilities"}
    if nproc > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    return _facts(parent_ns, hide)


def _visible(path):
    """Whether ``path`` shows anything here beyond the way to Python (kept so the runner can start)."""
    keep = [os.path.realpath(sys.base_prefix), os.path.dirname(os.path.realpath(sys.executable))]
    try:
        names = os.listdir(path)
    except OSError:
        return os.path.exists(path)
    for name in names:
        full = os.path.join(path, name)
        if not any(k == full or k.startswith(full + "/") for k in keep):
            return True
    return False


def _facts(parent_ns, hide):
    """What holds for this process now, measured before any user code runs (``Verdict.isolation``)."""
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    unshared = []
    for name, inode in parent_ns.items():
        try:
            if os.stat("/proc/self/ns/" + name).st_ino != inode:
                unshared.append(name)
        except OSError:
            pass
    system = [p for p in ("/", "/usr", os.path.realpath(sys.base_prefix)) if os.path.exists(p)]
    return {
        "uid": os.getuid(),
        "caps": int(status.get("CapEff", "0").strip() or "0", 16),
        "unshared": sorted(unshared),
        "readonly": not any(os.access(p, os.W_OK) for p in system),
        "visible": [p for p in hide if _visible(p)],
    }


def _describe(exc, filename, source):
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


def _encode(value, depth=0):
    """A returned value as plain JSON, by exact type (a subclass could lie in ``==``); else TypeError."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is float or kind is str:
        return value
    if depth >= 64:
        raise TypeError("the value is nested too deeply to compare")
    if kind is list or kind is tuple:
        return [kind.__name__] + [_encode(v, depth + 1) for v in value]
    if kind is set or kind is frozenset:
        return ["set"] + [_encode(v, depth + 1) for v in value]
    if kind is dict:
        out = ["dict"]
        for k, v in value.items():
            out += [_encode(k, depth + 1), _encode(v, depth + 1)]
        return out
    raise TypeError(f"returned a {kind.__name__}, which is compared only as a plain value")


def _compiled(payload, emit, describe):
    """Every source compiled before the program runs: replacing builtins.compile changes nothing."""
    stages = []
    for stage in ("setup", "code"):
        source, filename = payload[stage], "<" + stage + ">"
        try:
            stages.append((stage, filename, source, compile(source, filename, "exec")))
        except BaseException as exc:
            emit(stage=stage, **describe(exc, filename, source))
            return None
    probes = []
    for j, source in enumerate(payload["probes"]):
        try:
            probes.append((j, source, compile(source, f"<probe {j}>", "eval"), None))
        except BaseException as exc:
            probes.append((j, source, None, describe(exc, f"<probe {j}>", source)))
    tests = []
    for i, source in payload["tests"]:
        try:
            tests.append((i, f"<test {i}>", source, compile(source, f"<test {i}>", "exec"), None))
        except BaseException as exc:
            tests.append((i, f"<test {i}>", source, None, describe(exc, f"<test {i}>", source)))
    return stages, probes, tests


def _main():
    fd, uid, gid, workdir, nproc, parent_ns, mode = sys.argv[1:8]
    payload = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    fd, token, write, dumps = int(fd), payload.pop("token"), os.write, json.dumps
    encode, describe = _encode, _describe

    def emit(**rec):
        rec["token"] = token
        data = (dumps(rec) + "\n").encode("utf-8", "replace")
        while data:
            data = data[write(fd, data) :]

    confined = _confine(mode, int(uid), int(gid), workdir, int(nproc), json.loads(parent_ns), payload["hide"])
    emit(stage="confine", **confined)
    compiled = None if "refused" in confined else _compiled(payload, emit, describe)
    del payload
    if compiled is None:
        return
    stages, probes, tests = compiled
    for name in [m for m in sys.modules if m == "json" or m.startswith("json.")]:
        del sys.modules[name]  # the program's ``import json`` gets its own copy, not our encoder
    sys.argv = ["solution.py"]
    ns = {"__name__": "solution", "__builtins__": __builtins__}
    for stage, filename, source, code in stages:
        try:
            exec(code, ns)
        except BaseException as exc:
            ns.clear()
            gc.collect()
            emit(stage=stage, **describe(exc, filename, source))
            return
    for j, source, code, error in probes:
        if error is None:
            try:
                emit(stage="probe", index=j, value=encode(eval(code, ns)))
                continue
            except BaseException as exc:
                error = describe(exc, f"<probe {j}>", source)
        emit(stage="probe", index=j, **error)
    for i, filename, source, code, error in tests:
        if error is None:
            try:
                exec(code, ns)
                emit(stage="test", index=i, passed=True)
                continue
            except BaseException as exc:
                error = describe(exc, filename, source)
        emit(stage="test", index=i, passed=False, **error)
    emit(stage="done")


if __name__ == "__main__":
    _main()
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib would be one more import before user code
            stream.flush()
        except BaseException:
            pass
    os._exit(0)
