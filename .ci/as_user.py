"""Run a command as an unprivileged uid that can still reach this Python and this checkout.

    python .ci/as_user.py 4242 -- .venv/bin/python -m pytest tests/execution/test_sandbox_hostile.py

As root only. In a private mount namespace (nothing changes for the rest of the machine), a
private ancestor of the interpreter or the checkout (e.g. /root, 0700) is covered by an empty
tmpfs with only what is needed bound back, like a laptop user whose Python lives in their own
home; then ``setpriv`` drops to the uid with no groups. HOME is a fresh 0700 folder of the uid.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.execution.limits import _LIBC, _MS_PRIVATE, _MS_REC, _expose, _mount  # noqa: E402

CLONE_NEWNS = 0x20000


def main() -> int:
    uid, rest = int(sys.argv[1]), sys.argv[sys.argv.index("--") + 1 :]
    if os.geteuid() != 0:
        raise SystemExit("as_user.py runs as root (it drops to the uid)")
    home = tempfile.mkdtemp(prefix=f"sra-home-{uid}-")
    os.chown(home, uid, uid)
    repo = str(Path(__file__).resolve().parents[1])
    if _LIBC.unshare(CLONE_NEWNS) != 0 or not _mount("/", _MS_REC | _MS_PRIVATE):
        raise SystemExit("as_user.py: no private mount namespace")
    for path in sorted({os.path.realpath(sys.base_prefix), repo}):
        if not _expose(path):
            raise SystemExit(f"as_user.py: could not expose {path}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRA_STUDIO_DATA", "SRA_STUDIO_CACHE"))}
    env.update(HOME=home, USER=f"u{uid}", PYTHONDONTWRITEBYTECODE="1")
    os.chdir(repo)
    argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *rest]
    os.execvpe("setpriv", argv, env)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
