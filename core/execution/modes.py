"""Which sandbox this machine gives: bubblewrap, the ``unshare`` fallback, or none (only when opted in).

``sandbox_mode()`` probes once per process (cached) and picks the strongest that works:

- ``bubblewrap``: ``bwrap`` (Debian's ``bubblewrap``, the sandbox under Flatpak) with every
  namespace unshared, all capabilities dropped, an empty root with read-only binds of the
  system and Python, private tmpfs work dir and /tmp;
- ``namespaces``: ``unshare`` (network, PID, mount, IPC, UTS; a user namespace when not root),
  with the runner hiding and locking the filesystem itself;
- ``none``: neither works. Model code is then refused (``SandboxUnavailable``) unless the user
  opted in (``--allow-unsandboxed`` or ``$SRA_STUDIO_ALLOW_UNSANDBOXED=1``), which the studio
  shows as a banner.

``$SRA_STUDIO_SANDBOX`` (``bubblewrap``, ``namespaces``, ``none``) asks for one mode; one that does
not work here is refused rather than silently weakened.

Example::

    sandbox_mode()      # SandboxMode.BUBBLEWRAP
    mode_summary()      # 'bubblewrap: no network, own namespaces, no capabilities, read-only system'
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import subprocess
from enum import Enum

ENV_MODE = "SRA_STUDIO_SANDBOX"
ENV_ALLOW = "SRA_STUDIO_ALLOW_UNSANDBOXED"
RUN_UID_BASE = 2_000_000  # fresh uids come from [BASE, BASE + SPAN): no user owns them
RUN_UID_SPAN = 1_000_000
BWRAP_FLAGS = ("--unshare-all", "--cap-drop", "ALL", "--die-with-parent", "--new-session")
UNSHARE_FLAGS = ("--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc")
_allowed = False


class SandboxMode(str, Enum):
    BUBBLEWRAP = "bubblewrap"
    NAMESPACES = "namespaces"
    NONE = "none"


class SandboxUnavailable(RuntimeError):
    """Model code was not run: no sandbox works here and the user did not opt in."""


def fresh_uid() -> int:
    return RUN_UID_BASE + secrets.randbelow(RUN_UID_SPAN)


def _drop_to(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


@functools.lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """``bwrap`` if it starts a sandbox here (as the run's uid would run it), else None."""
    exe = shutil.which("bwrap")
    if not exe:
        return None
    root = os.geteuid() == 0
    uid = fresh_uid()
    try:
        done = subprocess.run(
            [exe, *BWRAP_FLAGS, "--ro-bind", "/", "/", "true"],
            capture_output=True,
            timeout=10,
            preexec_fn=(lambda: _drop_to(uid)) if root else None,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return exe if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def unshare_prefix() -> tuple[str, ...]:
    """The ``unshare`` prefix that works here, or () when namespaces are not allowed."""
    exe = shutil.which("unshare")
    if not exe:
        return ()
    prefix = [exe, *UNSHARE_FLAGS] + (["--map-root-user"] if os.geteuid() != 0 else [])
    try:
        done = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(prefix) if done.returncode == 0 else ()


def sandbox_mode() -> SandboxMode:
    """The mode runs get now: the one ``$SRA_STUDIO_SANDBOX`` asks for, else the strongest that works.

    Raises ``SandboxUnavailable`` when the asked-for mode does not work here.
    """
    wanted = os.environ.get(ENV_MODE, "").strip().lower() or "auto"
    if wanted not in ("auto", *(m.value for m in SandboxMode)):
        raise SandboxUnavailable(f"${ENV_MODE}={wanted!r}: use auto, bubblewrap, namespaces or none")
    if wanted in ("auto", "bubblewrap") and bwrap_path():
        return SandboxMode.BUBBLEWRAP
    if wanted == "bubblewrap":
        raise SandboxUnavailable(f"${ENV_MODE}=bubblewrap but bwrap does not run here: {INSTALL_HINT}")
    if wanted in ("auto", "namespaces") and unshare_prefix():
        return SandboxMode.NAMESPACES
    if wanted == "namespaces":
        raise SandboxUnavailable(f"${ENV_MODE}=namespaces but unshare does not work here")
    return SandboxMode.NONE


INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
)


def allow_unsandboxed(allowed: bool = True) -> None:
    """The user's opt-in (``--allow-unsandboxed``) to run model code with no sandbox at all."""
    global _allowed
    _allowed = allowed


def unsandboxed_allowed() -> bool:
    return _allowed or os.environ.get(ENV_ALLOW, "") == "1"


def refusal() -> str:
    return (
        "model code was not run: no sandbox works here (neither bubblewrap nor unshare). "
        f"{INSTALL_HINT}, or start with --allow-unsandboxed to run it without one"
    )


def mode_summary() -> str:
    """One line for the CLI and the studio's banner."""
    try:
        mode = sandbox_mode()
    except SandboxUnavailable as exc:
        return f"sandbox unavailable: {exc}"
    if mode is SandboxMode.BUBBLEWRAP:
        return "bubblewrap: no network, own namespaces, no capabilities, empty root with read-only binds"
    if mode is SandboxMode.NAMESPACES:
        return f"fallback (unshare; bubblewrap not found: {INSTALL_HINT}): no network, own namespaces"
    if unsandboxed_allowed():
        return "NO SANDBOX: model code runs as this user, with network and a writable filesystem"
    return refusal()
