"""The study's storage (SQLite or PostgreSQL through SQLAlchemy): drivers, connections, and locks.

- :func:`storage_problems`: a storage URL checked before anything is created: a kind SQLAlchemy knows
  (``foo://`` is named), its driver installed (``postgresql://`` needs the ``alignlab[postgres]``
  extra), a SQLite file that can be written and is Optuna's (not corrupt, not another program's), a
  server that answers. :func:`tracking_problems` does the same for an MLflow tracking URI.
- :func:`open_storage`: Optuna's RDBStorage with heartbeats, created under a lock, so that workers
  started at the same instant do not race to create the tables (alembic ``CommandError``, PostgreSQL
  ``UniqueViolation``); a connection that fails is one line naming host and port, never the password.
- :func:`url_lock`: a lock every process that shares the URL respects: a lock file beside a SQLite
  file (one machine), a PostgreSQL advisory lock held on a connection of the same database (any
  machine). Workers take the study's lock to create the study, to join it, and to claim each trial.
- :func:`open_for_reading`: what best, compare, report, status and ui open: no lock, no table creation,
  nothing written; a corrupt or foreign SQLite file is one line naming it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.destinations import file_problems, sqlite_content_problems, sqlite_tables, tcp_problem
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
    """The URL's kind is known and its SQLAlchemy driver importable (a missing one named, with how to
    install it): :func:`storage_problems` without a connection or a look at the SQLite file's folder."""
    return storage_problems(url, key=where, writing=False, connect=False)


def is_database_url(url: str) -> bool:
    """Whether SQLAlchemy knows the URL's kind (``sqlite``, ``postgresql``, ``mysql``, ...)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return False
    return True


def storage_problems(
    url: str,
    *,
    key: str,
    writing: bool = True,
    connect: bool = True,
    owner: str = "Optuna",
    marker: str = "studies",
) -> list[str]:
    """Whether a database URL can be used, found without creating anything; one line each, naming
    ``key`` and the URL (its password masked).

    The kind must be one SQLAlchemy knows and its driver installed. A SQLite file must be (or be
    creatable as) a writable file (``writing``), and if it exists, a SQLite database that is empty or
    ``owner``'s (it has the ``marker`` table); an in-memory database is refused (the study would be
    lost). A server must answer (``connect``).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = secrets.mask(url)
    expected = "expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not scheme:
        return [f"{key}: {shown!r} is not a database URL ({expected})"]
    if scheme == "postgres":
        return [f"{key}: {shown}: write postgresql://, not postgres:// (SQLAlchemy's name for it)"]
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return [f"{key}: {shown}: unknown kind of database {scheme + '://'!r} ({expected})"]
    except (ArgumentError, ValueError) as exc:
        return [f"{key}: {shown}: not a database URL ({str(exc).splitlines()[0]}; {expected})"]
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = exc.name or scheme
        install = next((hint for m, hint in DRIVERS.values() if m == module), f"pip install {module}")
        return [f"{key}: {shown}: the {parsed.get_backend_name()} driver {module} is not installed: {install}"]
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            return [f"{key}: {shown}: an in-memory database is lost when the process ends ({expected})"]
        if database.startswith("file:"):
            return []  # a SQLite URI filename (mode=ro, ...): the user's own arrangement
        path = Path(database).expanduser().resolve()
        problems = file_problems(path, key=key, purpose=f"{owner}'s storage") if writing else []
        return problems or sqlite_content_problems(path, key=key, owner=owner, marker=marker)
    if not connect:
        return []
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    connect_args = {"connect_timeout": 5} if parsed.get_backend_name() in ("postgresql", "mysql") else {}
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as exc:
        return [f"{key}: {shown}: {_cannot_connect(url, exc)}"]
    finally:
        engine.dispose()
    return []


def tracking_problems(uri: str, *, key: str) -> list[str]:
    """Whether an MLflow tracking URI can be used: a known kind; a SQLite store that can be written and
    is MLflow's (or a file store's folder, which MLflow 3.17 allows only with
    ``MLFLOW_ALLOW_FILE_STORE=true``); a server (http, https, a database) that answers."""
    from urllib.parse import urlsplit

    from alignlab.destinations import folder_problems

    shown = secrets.mask(uri)
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        parts = urlsplit(uri)
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            return [f"{key}: {shown}: the port is not a number (expected http://HOST:PORT, an MLflow server)"]
        if not parts.hostname:
            return [f"{key}: {shown}: no host (expected http://HOST:PORT, an MLflow server)"]
        problem = tcp_problem(parts.hostname, port, key=key, shown=shown)
        return [problem] if problem else []
    if scheme.startswith("databricks") or scheme == "uc":
        return []  # a hosted MLflow, reached with its own credentials: not checked here
    if scheme == "file" or not scheme:
        folder = Path(uri.removeprefix("file://").removeprefix("file:"))
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("1", "true"):
            return [
                f"{key}: {shown}: MLflow 3.17 refuses a file store unless MLFLOW_ALLOW_FILE_STORE=true "
                "(expected sqlite:///PATH, or http://HOST:PORT for an MLflow server)"
            ]
        return folder_problems(folder, key=key, purpose="the MLflow file store")
    if is_database_url(uri):
        return storage_problems(uri, key=key, owner="MLflow", marker="experiments")
    return [
        f"{key}: {shown}: unknown kind of tracking URI {scheme + '://'!r} (expected sqlite:///PATH, "
        "http://HOST:PORT for an MLflow server, or postgresql://USER@HOST:PORT/DB)"
    ]


def _cannot_connect(url: str, exc: BaseException) -> str:
    """``cannot connect to HOST:PORT: the server's reason`` (a password hint where it is about one)."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = next((line for line in reason if line.strip()), type(exc).__name__)
    first = first.removeprefix("(psycopg.OperationalError) ").strip()
    hint = ""
    if "password" in first.lower() or "authentication" in first.lower():
        hint = " (the password comes from the URL, $PGPASSWORD or ~/.pgpass; studies/NAME/ records the URL without it)"
    where = endpoint(url) if sqlite_file(url) is None else str(sqlite_file(url))
    return secrets.mask_text(f"cannot connect to {where}: {first}{hint}")


def connection_error(url: str, exc: BaseException, *, what: str = "storage") -> UserInputError:
    """One line for a database that cannot be reached or refuses us: host and port, the server's reason."""
    return UserInputError(secrets.mask_text(f"{what} {secrets.mask(url)}: {_cannot_connect(url, exc)}"))


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

    problems = storage_problems(url, key="storage", connect=False)
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


def open_for_reading(url: str, *, key: str = "storage") -> optuna.storages.RDBStorage:
    """The storage of a finished or running study, for reading: no heartbeat, no lock file, no table
    creation, nothing written. ``key`` names where the URL came from, for the messages.

    A SQLite file must exist (the caller says which study is unknown) and be an Optuna storage; a
    corrupt or foreign file, an unreachable server, or a schema of another Optuna version is one line.
    """
    import sqlalchemy
    from optuna.storages import RDBStorage

    shown = secrets.mask(url)
    problems = storage_problems(url, key=key, writing=False, connect=False)
    path = sqlite_file(url)
    if not problems and path is not None and path.is_file() and "studies" not in sqlite_tables(path):
        problems = [f"{key}: {path} holds no Optuna study (an empty SQLite database)"]  # Optuna would write
    if problems:
        raise UserInputError(problems)
    try:
        if path is None and "studies" not in _server_tables(url):
            raise UserInputError(f"{key}: {shown}: the database holds no Optuna study (no studies table)")
        return RDBStorage(url, engine_kwargs=engine_kwargs(url), skip_table_creation=True)
    except sqlalchemy.exc.OperationalError as exc:
        raise connection_error(url, exc, what=key) from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise UserInputError(secrets.mask_text(f"{key}: {shown}: not a readable Optuna storage ({first})")) from None
    except RuntimeError as exc:  # Optuna: the tables were written by another Optuna version
        raise UserInputError(f"{key}: {shown}: {str(exc).splitlines()[0]}") from None


def _server_tables(url: str) -> list[str]:
    """The tables of a database server's database (read, nothing created)."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        return list(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
