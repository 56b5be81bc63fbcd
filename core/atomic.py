"""One atomic file write: readers see the old file or the new one, never half of either.

The text goes to a temp file in the target's folder (same file system, so the rename is atomic), is
fsynced, takes the target's mode (or ``mode`` for a new file), and replaces the target with
``os.replace``. On any failure the temp file is removed and the target is untouched.

Example::

    write_atomic(Path("tree.json"), tree.to_json())          # a new file is 0644
    write_atomic(Path("job.json"), text, mode=0o600)          # a new private file
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, text: str, *, mode: int = 0o644) -> Path:
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
