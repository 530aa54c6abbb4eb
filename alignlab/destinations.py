"""Where a command will write, checked before anything is written: folders, SQLite files, MLflow stores.

``sweep run`` and ``train`` (through :mod:`alignlab.validate`, which ``alignlab validate`` shares)
call these first, so that a read-only folder, a studies root that is a file, a corrupt database file
or an MLflow server that does not answer is one line naming the key and the path, and nothing has been
created yet. Nothing here writes, creates a folder, or imports mlflow or optuna: a folder that does not
exist yet is judged by its nearest existing parent; a SQLite file is opened read-only to see whose
tables it holds; a server is only connected to.

Every function returns problems, one line each, ``key: path: what is wrong (what was expected)``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

from alignlab.paths import cache_dir, studies_root

#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"

#: Seconds to wait for a tracking server to accept a TCP connection.
CONNECT_TIMEOUT_S = 5.0


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _not_writable(path: Path) -> str:
    """Why a folder that exists cannot be written: a read-only file system, or its permissions."""
    if _read_only_fs(path):
        return "is on a read-only file system"
    return "is read-only (no write permission)"


def folder_problems(path: str | Path, *, key: str, purpose: str = "") -> list[str]:
    """Whether ``path`` is (or can be created as) a folder this process can write in.

    ``purpose`` says what goes there, for the message (``"the study's storage and trials"``).
    """
    folder = Path(path).expanduser().absolute()
    why = f" ({purpose})" if purpose else ""
    if folder.exists():
        if not folder.is_dir():
            return [f"{key}: {folder} is a file, not a folder{why}"]
        if not os.access(folder, os.W_OK | os.X_OK):
            return [f"{key}: {folder} {_not_writable(folder)}{why}"]
        return []
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return [f"{key}: {folder} cannot be created: {parent} is a file, not a folder{why}"]
    if not os.access(parent, os.W_OK | os.X_OK):
        return [f"{key}: {folder} cannot be created: {parent} {_not_writable(parent)}{why}"]
    if problem := _refuses_folders(parent):
        return [f"{key}: {folder} cannot be created: {parent} {problem}{why}"]
    return []


def _refuses_folders(parent: Path) -> str | None:
    """Why ``parent`` refuses new folders though its permissions allow them, or None: a read-only mount
    (root passes every permission check there) or a filesystem that stores no files (a pseudo filesystem
    such as /proc). Read from statvfs, without writing."""
    try:
        stats = os.statvfs(parent)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return "is on a read-only filesystem"
    if stats.f_blocks == 0:
        return "accepts no new folders (a filesystem that stores no files, such as /proc)"
    return None


def file_problems(path: str | Path, *, key: str, purpose: str = "") -> list[str]:
    """Whether ``path`` is (or can be created as) a file this process can write."""
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        return [f"{key}: {target} is a folder, not a file" + (f" ({purpose})" if purpose else "")]
    if target.exists():
        if not os.access(target, os.W_OK):
            return [f"{key}: {target} {_not_writable(target)}" + (f" ({purpose})" if purpose else "")]
        # SQLite (and write_atomic) also create files beside it.
        return folder_problems(target.parent, key=key, purpose=purpose)
    return folder_problems(target.parent, key=key, purpose=purpose)


def sqlite_tables(path: Path) -> list[str]:
    """The tables of an SQLite file, read without writing; raises sqlite3.DatabaseError if it is not one."""
    connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        connection.close()
    return sorted(str(r[0]) for r in rows)


def sqlite_content_problems(path: str | Path, *, key: str, owner: str, marker: str) -> list[str]:
    """Whether an existing SQLite file is ``owner``'s (Optuna, MLflow): a database, not corrupt, and
    either empty or holding the ``marker`` table. A missing or empty (0-byte) file is fine."""
    target = Path(path).expanduser().absolute()
    if not target.is_file() or target.stat().st_size == 0:
        return []
    try:
        with target.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return [f"{key}: {target} cannot be read ({exc.strerror or exc})"]
    if header != SQLITE_HEADER:
        return [
            f"{key}: {target} is not an SQLite database (corrupt, or another kind of file; "
            f"expected {owner}'s SQLite file: move it away to start over)"
        ]
    try:
        tables = sqlite_tables(target)
    except sqlite3.DatabaseError as exc:
        return [f"{key}: {target} is a corrupt SQLite database ({exc}; move it away to start over)"]
    if tables and marker not in tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        return [
            f"{key}: {target} is an SQLite database of something else (tables {shown}), not {owner}'s "
            "(give another file)"
        ]
    return []


def studies_root_key() -> str:
    """How the user named the studies root: ``$ALIGNLAB_STUDIES``, or the default ``./studies``."""
    return "$ALIGNLAB_STUDIES" if os.environ.get("ALIGNLAB_STUDIES") else "studies folder (./studies)"


def studies_root_problems() -> list[str]:
    """The studies root (and a separate ``$ALIGNLAB_CACHE``) can be written: a folder, or creatable."""
    problems = folder_problems(
        studies_root(), key=studies_root_key(), purpose="where studies, runs and the MLflow store go"
    )
    if os.environ.get("ALIGNLAB_CACHE"):
        problems += folder_problems(cache_dir(), key="$ALIGNLAB_CACHE", purpose="built models and caches")
    return problems


def studies_root_is_file() -> str | None:
    """The problem of a studies root that exists but is not a folder (what reading commands check)."""
    root = studies_root()
    if root.exists() and not root.is_dir():
        return f"{studies_root_key()}: {root} is a file, not a folder (expected the folder that holds the studies)"
    return None


def tcp_problem(host: str, port: int, *, key: str, shown: str) -> str | None:
    """A server that does not accept a TCP connection, in one line; None when it does."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer in {CONNECT_TIMEOUT_S:g} s"
        return f"{key}: {shown}: cannot connect to {host}:{port}: {reason.lower()}"
