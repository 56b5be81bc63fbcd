"""Remove a run's work dir, however deep or locked the program left it.

``shutil.rmtree`` recurses once per level (RecursionError near 1,000 nested directories) and
walks by path (ENAMETOOLONG past 4,096 bytes). This walks with an explicit stack of directory
file descriptors, so neither depth nor path length matters, and it makes each directory
writable and searchable before emptying it (a program may ``chmod 000`` its own folders).

Example::

    remove_tree("/tmp/sra-sandbox-x1y2")   # True when nothing is left
"""

from __future__ import annotations

import contextlib
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def remove_tree(path: str) -> bool:
    """Delete ``path`` and everything under it without following symlinks; True if it is gone."""
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    try:
        top = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return True
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return not os.path.lexists(path)
    stack: list[tuple[int, str | None]] = [(top, None)]  # (dir fd, its name in the dir below)
    tried: set[tuple[int, int]] = set()  # directories already emptied once (one that stays is skipped)
    while stack:
        fd, name = stack[-1]
        child = _empty_until_subdir(fd, tried)
        if child is not None:
            stack.append(child)
            continue
        os.close(fd)
        stack.pop()
        if name is not None and stack:
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=stack[-1][0])
    with contextlib.suppress(OSError):
        os.rmdir(path)
    return not os.path.lexists(path)


def _empty_until_subdir(fd: int, tried: set[tuple[int, int]]) -> tuple[int, str] | None:
    """Unlink the files of the directory ``fd``; return its first subdirectory not yet tried, opened."""
    with os.scandir(fd) as entries:
        names = [e.name for e in entries]
    for name in names:
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode):
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=fd)
            continue
        if (info.st_dev, info.st_ino) in tried:
            continue
        tried.add((info.st_dev, info.st_ino))
        with contextlib.suppress(OSError):  # the run is over: nothing swaps it for a link now
            os.chmod(name, 0o700, dir_fd=fd)
        try:
            sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError:
            sub = -1
        if sub < 0 or os.fstat(sub).st_ino != info.st_ino:
            if sub >= 0:
                os.close(sub)
            continue
        return sub, name
    return None
