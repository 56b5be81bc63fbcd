"""The child side of the sandbox: confine this process, then run setup, code and tests.

The parent passes this file's source to ``python -I -c`` (so nothing on disk near it
is importable), with argv: result fd, uid, gid, work dir, nproc limit, the parent's
mount-namespace inode. It reads {token, setup, code, tests} as JSON from stdin and
writes one JSON line per stage, tagged with the token, to the result fd.

Confinement, all before any user code runs:
- in a fresh mount namespace (ours differs from the parent's), bind the work dir onto
  itself and remount every other mount read-only, so /tmp, /var/tmp and /dev/shm are
  not writable;
- as root, drop to the given unprivileged uid/gid (no supplementary groups), then cap
  the process count for that uid.
Names are bound to locals first, so user code replacing json/os attributes later does
not change the reporting.
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


def _readonly_mounts(workdir):
    """Remount all but ``workdir`` read-only; True if every remount worked."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def mount(target, flags, source=None, fstype=None, data=None):
        return libc.mount(source, target.encode(), fstype, flags, data) == 0

    ok = True
    for path in {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.realpath(sys.executable))}:
        ok = _expose(path, mount) and ok
    ok = mount(workdir, MS_BIND, workdir.encode())
    ok = ok and mount(workdir, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f]
    for row in rows:
        target = row[4].encode().decode("unicode_escape")
        if target == workdir:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for opt in row[5].split(","):
            flags |= _KEEP.get(opt, 0)
        ok = mount(target, flags) and ok
    return ok


def _expose(path, mount):
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
            ok = mount(private, MS_NOSUID | MS_NODEV, b"tmpfs", b"tmpfs", b"mode=0755")
            os.mkdir(keep) if os.path.isdir(via) else open(keep, "w").close()
            return ok and mount(keep, MS_BIND | MS_REC, via.encode())
        finally:
            os.close(fd)
    return True


def _confine(uid, gid, workdir, nproc, parent_mnt_ns):
    report = {"readonly": False, "uid": os.getuid()}
    own_ns = os.stat("/proc/self/ns/mnt").st_ino
    if parent_mnt_ns and own_ns != parent_mnt_ns:
        report["readonly"] = _readonly_mounts(workdir)
        os.chdir(workdir)  # the old cwd is the path under the bind mount, now read-only
    if uid >= 0 and os.getuid() == 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        report["uid"] = os.getuid()
    if nproc > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    return report


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


def _main():
    fd, uid, gid, workdir, nproc, parent_ns = sys.argv[1:7]
    payload = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    fd, token, write, dumps = int(fd), payload.pop("token"), os.write, json.dumps

    def emit(**rec):
        rec["token"] = token
        data = (dumps(rec) + "\n").encode("utf-8", "replace")
        while data:
            data = data[write(fd, data) :]

    emit(stage="confine", **_confine(int(uid), int(gid), workdir, int(nproc), int(parent_ns)))
    sys.argv = ["solution.py"]
    describe = _describe
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
        filename = f"<test {i}>"
        try:
            exec(compile(source, filename, "exec"), ns)
        except BaseException as exc:
            emit(stage="test", index=i, passed=False, **describe(exc, filename, source))
        else:
            emit(stage="test", index=i, passed=True)
    emit(stage="done")


if __name__ == "__main__":
    _main()
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib would be one more import before user code
            stream.flush()
        except BaseException:
            pass
    os._exit(0)
