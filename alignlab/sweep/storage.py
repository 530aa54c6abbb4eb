"""The study's storage (SQLite or PostgreSQL through SQLAlchemy): drivers, connections, and locks.

- :func:`driver_problems`: a ``postgresql://`` URL needs the psycopg driver, the ``alignlab[postgres]``
  extra; a missing driver is named before anything starts.
- :func:`open_storage`: Optuna's RDBStorage with heartbeats, created under a lock, so that workers
  started at the same instant do not race to create the tables (alembic ``CommandError``, PostgreSQL
  ``UniqueViolation``); a connection that fails is one line naming host and port, never the password.
- :func:`url_lock`: a lock every process that shares the URL respects: a lock file beside a SQLite
  file (one machine), a PostgreSQL advisory lock held on a connection of the same database (any
  machine). Workers take the study's lock to create the study, to join it, and to claim each trial.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.sweep import secrets

if TYPE_CHECKING:
    import optuna

#: Seconds a SQLite connection waits for another process's write lock before it gives up.
SQLITE_TIMEOUT_S = 60

#: The driver module SQLAlchemy loads for a URL scheme, and how to install it.
DRIVERS: dict[str, tuple[str, str]] = {
    "postgresql": ("psycopg", "pip install 'alignlab[postgres]' (the psycopg driver)"),
    "postgresql+psycopg": ("psycopg", "pip install 'alignlab[postgres]' (the psycopg driver)"),
    "postgresql+psycopg2": ("psycopg2", "pip install psycopg2-binary, or use postgresql:// with alignlab[postgres]"),
    "mysql": ("MySQLdb", "pip install mysqlclient"),
    "mysql+pymysql": ("pymysql", "pip install pymysql"),
}


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (relative paths against the cwd), else None."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///")).resolve()


def is_postgres(url: str) -> bool:
    return url.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def endpoint(url: str) -> str:
    """``host:port`` of a server URL (PostgreSQL's default port 5432 when none is given)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (5432 if is_postgres(url) else None)
    return f"{host}:{port}" if port else host


def driver_problems(url: str, *, where: str) -> list[str]:
    """The URL's SQLAlchemy driver is importable (a missing one named, with how to install it)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not scheme:
        return [f"{where}: {secrets.mask(url)!r} is not a database URL (expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB)"]
    if scheme.startswith("sqlite"):
        return []
    if scheme == "postgres":
        return [f"{where}: {secrets.mask(url)}: write postgresql://, not postgres:// (SQLAlchemy's name for it)"]
    module, install = DRIVERS.get(scheme, ("", ""))
    if not module:
        return []
    try:
        importlib.import_module(module)
    except ImportError:
        return [f"{where}: {secrets.mask(url)}: the {scheme.split('+')[0]} driver {module} is not installed: {install}"]
    return []


def connection_error(url: str, exc: BaseException, *, what: str = "storage") -> UserInputError:
    """One line for a database that cannot be reached or refuses us: host and port, the server's reason."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = next((line for line in reason if line.strip()), type(exc).__name__)
    first = first.removeprefix("(psycopg.OperationalError) ").strip()
    hint = ""
    if "password" in first.lower() or "authentication" in first.lower():
        hint = " (the password comes from the URL, $PGPASSWORD or ~/.pgpass; studies/NAME/ records the URL without it)"
    where = endpoint(url) if sqlite_file(url) is None else str(sqlite_file(url))
    return UserInputError(
        secrets.mask_text(f"{what} {secrets.mask(url)}: cannot connect to {where}: {first}{hint}")
    )


def _lock_key(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def url_lock(url: str, key: str) -> Iterator[None]:
    """An exclusive lock named ``key`` among every process using the database at ``url``.

    SQLite: a lock file beside the database file (``<file>.<key hash>.lock``). PostgreSQL: an advisory
    lock on a connection of its own. Other URLs (a server that serialises its own writes): no lock.
    """
    path = sqlite_file(url)
    if path is not None:
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
        with FileLock(str(path.parent / f".{path.name}.{digest}.lock")):
            yield
        return
    if not is_postgres(url):
        yield
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        try:
            connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sqlalchemy.exc.OperationalError as exc:
            raise connection_error(url, exc) from None
        with connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(key)})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(key)})
    finally:
        engine.dispose()


def engine_kwargs(url: str) -> dict[str, Any]:
    """SQLAlchemy engine options: SQLite waits for other writers instead of failing at once."""
    if sqlite_file(url) is not None:
        return {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    return {"pool_pre_ping": True}


def open_storage(
    url: str, *, heartbeat_interval: int | None = None, grace_period: int | None = None, max_retry: int = 3
) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage over ``url``; tables are created (or migrated) under :func:`url_lock`.

    With ``heartbeat_interval``, running trials record heartbeats; one silent for ``grace_period`` is
    failed by the next worker that looks and retried (up to ``max_retry`` times) with the same params.
    """
    import warnings

    import sqlalchemy
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    problems = driver_problems(url, where="storage")
    if problems:
        raise UserInputError(problems)
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats are "experimental" since Optuna 2.8
        callback = RetryHeartbeatStaleTrialCallback(max_retry=max_retry) if heartbeat_interval else None
        try:
            with url_lock(url, "optuna-schema"):
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs(url),
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=callback,
                )
        except sqlalchemy.exc.OperationalError as exc:
            raise connection_error(url, exc) from None


def open_for_reading(url: str) -> optuna.storages.RDBStorage:
    """The storage of a finished or running study, for reading (no heartbeat, no retry)."""
    return open_storage(url)
