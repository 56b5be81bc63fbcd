"""Opening the studio database, with one clear :class:`StoreError` for each kind of bad input.

Start-up meets three kinds of bad input: a data folder that cannot be written, a
file that is not a (healthy) SQLite database, and a database from a newer studio.
Each becomes one line that names the file or folder, says what is wrong and what
to do. The checks come before SQLite writes anything, so a file that is refused
is left byte for byte as it was: never migrated, switched to WAL, recreated or
truncated. ``os.access`` is asked up front because SQLite's own answer for a
read-only folder ("unable to open database file") does not say which is at fault.

Example::

    conn = open_database(Path("/data/studio.db"))   # migrated, WAL; or, for a text file there:
    # StoreError: /data/studio.db is not a studio database (or is damaged): it does not start with an
    # SQLite header. Move it away (the studio then starts a new one), or set SRA_STUDIO_DATA to another
    # folder; the file was left as it is
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from core.store.schema import SCHEMA_VERSION, NotStudioDatabase, SchemaTooNew, connect

SQLITE_MAGIC = b"SQLite format 3\x00"
ELSEWHERE = "set SRA_STUDIO_DATA to another folder"


class StoreError(Exception):
    """The database cannot be used as it is (unwritable, damaged, or from a newer studio): one clear line."""


def open_database(path: Path) -> sqlite3.Connection:
    """Check the folder and the file, then connect (WAL, migrated); any failure is a :class:`StoreError`."""
    ensure_folder(path.parent)
    check_file(path)
    private_file(path)
    try:
        return connect(path)
    except SchemaTooNew as exc:
        raise StoreError(
            f"{path} was written by a newer studio (schema version {exc.version}; this studio knows up to"
            f" {SCHEMA_VERSION}): upgrade the studio, or {ELSEWHERE}; the file was left as it is"
        ) from exc
    except NotStudioDatabase as exc:
        raise StoreError(
            f"{path} is an SQLite database of some other program ({exc}): move it away, or {ELSEWHERE}"
        ) from exc
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            raise _damaged(path, text) from exc
        if "locked" in text:
            raise StoreError(
                f"the studio database {path} is held by another process ({text}): let it finish or stop"
                f" it, or {ELSEWHERE}"
            ) from exc
        raise StoreError(
            f"cannot open the studio database {path} ({text}): check that it and its folder are"
            f" writable by you, or {ELSEWHERE}"
        ) from exc


def private_file(path: Path) -> None:
    """The database readable by its owner only (0600): created so, or tightened when it is ours.

    SQLite gives its -wal and -shm files the database's own mode, so they follow.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        return
    except FileExistsError:
        pass
    except OSError:
        return  # connect() names the problem
    st = path.stat()
    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
        os.chmod(path, 0o600)


def ensure_folder(folder: Path) -> None:
    """Create the data folder if needed (0700: runs, exports and logs are the user's own).

    A folder that already exists keeps its mode: it may be shared on purpose (or be /tmp).
    """
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else (exc.strerror or str(exc)).lower()
        raise StoreError(f"cannot create the studio data folder {folder}: {why}; {ELSEWHERE}") from exc
    # The database writes its -wal and -shm files beside itself, so the folder must be writable too.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"the studio data folder {folder} is not writable: make it writable, or {ELSEWHERE}")


def check_file(path: Path) -> None:
    """Refuse, without opening it in SQLite, a file that is read-only or plainly not a database."""
    if not path.exists():
        return
    if not path.is_file():
        raise StoreError(f"{path} is not a file (a studio database was expected there): {ELSEWHERE}")
    if not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"the studio database {path} is read-only: make it writable, or {ELSEWHERE}")
    size = path.stat().st_size
    if size == 0:  # a database that was created but not yet written: SQLite starts it afresh
        return
    with path.open("rb") as fh:
        header = fh.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise _damaged(path, "it does not start with an SQLite header")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise _damaged(path, f"its header gives an impossible page size ({page_size})")
    # SQLite writes whole pages only, so any other length means a truncated (or padded) file.
    # Not while another process may be writing it (a -wal or -journal exists): leave that to SQLite.
    in_use = any(path.with_name(path.name + end).exists() for end in ("-wal", "-journal"))
    if size % page_size and not in_use:
        raise _damaged(path, f"its length ({size} bytes) is not a whole number of {page_size}-byte pages")


def _damaged(path: Path, why: str) -> StoreError:
    return StoreError(
        f"{path} is not a studio database (or is damaged): {why}. Move it away (the studio then starts"
        f" a new one), or {ELSEWHERE}; the file was left as it is"
    )
