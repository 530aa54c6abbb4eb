"""How a command's exceptions become messages and exit codes: :func:`handle_errors`.

A :class:`~alignlab.errors.UserInputError` prints one ``error:`` line per problem to stderr and exits
with code 2. So do the exceptions the user's machine causes rather than alignlab (:func:`known_problem`):
a full disk, a read-only or forbidden folder, an SQLite database that cannot be written; each is one
line naming the path (and the free space where the disk is full). Anything else is a bug: one line and
exit 1, the traceback only with ``--debug`` (:func:`set_debug`, set by the root callback).

:func:`quiet_tracebacks` (the console script installs it around every command) keeps the libraries'
own stacks off the terminal without ``--debug``: a log record keeps its one-line message but loses its
traceback (Optuna logs ``Trial N failed ... because of the following error: ...`` with the exception's
stack; MLflow logs some retries the same way) and its multi-line message (MLflow's SQL) becomes one
line, an exception in a background thread is one line, and a warning is one line without the echo of
the source line that raised it.

Every command module decorates its functions with :func:`handle_errors`; this module imports nothing of
the CLI, so the command modules depend on it and ``alignlab.cli`` depends on them, one way.
"""

from __future__ import annotations

import errno
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import typer

_state: dict[str, bool] = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])

#: click's base exception as Typer vendors it (usage errors): the console script formats those itself.
_CLICK_EXCEPTION: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

#: OSError numbers that the machine, not alignlab, causes: reported as bad input (exit 2).
_MACHINE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
)
#: SQLite's words for a database it cannot write (sqlite3 and SQLAlchemy carry them in the message).
_SQLITE_WRITE_FAILURES = (
    "database or disk is full",
    "disk i/o error",
    "attempt to write a readonly database",
    "unable to open database file",
)


def set_debug(debug: bool) -> None:
    """Show tracebacks (``--debug``) instead of one-line errors."""
    _state["debug"] = debug


def first_line(exc: BaseException) -> str:
    """The exception's message on one line (SQLAlchemy, for one, appends the SQL and a link): see :func:`gist`."""
    return gist(str(exc)) or type(exc).__name__


def known_problem(exc: BaseException) -> str | None:
    """The one-line problem of an exception the user's machine caused (a full disk, a read-only or
    forbidden path, an SQLite file that cannot be written), or ``None`` for anything else (a bug)."""
    from alignlab.paths import free_bytes, human_bytes, os_problem, studies_root

    if isinstance(exc, OSError) and exc.errno in _MACHINE_ERRNOS:
        if exc.filename:
            return os_problem(exc, str(exc.filename), doing="use")
        root = studies_root()
        free = free_bytes(root)
        room = f"; {human_bytes(free)} free on the file system of {root}" if free is not None else ""
        return f"{exc.strerror or first_line(exc)}{room}"
    failure = _sqlite_failure(exc)
    if failure is not None:
        root = studies_root()
        free = free_bytes(root)
        room = f", {human_bytes(free)} free there" if free is not None else ""
        return (
            f"an SQLite database (a study's optuna.db or the MLflow store under {root}{room}) could not be "
            f"written: {failure} (expected a writable folder with free space)"
        )
    return None


def _sqlite_failure(exc: BaseException) -> str | None:
    """SQLite's words for a write it could not do, found in ``exc`` or what it wraps (MLflow wraps
    SQLAlchemy, which wraps sqlite3), or ``None``."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        text = str(seen).lower()
        if "sqlite" in text or type(seen).__name__ == "OperationalError":
            found = next((m for m in _SQLITE_WRITE_FAILURES if m in text), None)
            if found is not None:
                return found
        seen = seen.__cause__ or seen.__context__
    return None


def reason(exc: BaseException) -> str:
    """Why ``exc`` happened, on one line: SQLite's own words when a wrapped database write failed
    (Optuna's storage error then says "exceeding max length", which misleads), else its :func:`first_line`."""
    failure = _sqlite_failure(exc)
    return f"an SQLite write failed: {failure}" if failure is not None and failure not in first_line(exc) else first_line(exc)


def gist(text: str) -> str:
    """One line of a multi-line message: the line that names an SQLite write failure if there is one
    (MLflow and SQLAlchemy put it after their own preamble), else the first, with `` ...`` when lines
    were left out."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    telling = next((line for line in lines if any(m in line.lower() for m in _SQLITE_WRITE_FAILURES)), lines[0])
    return telling + (" ..." if len(lines) > 1 else "")


def handle_errors(func: F) -> F:
    """Turn library exceptions into one-line messages and exit codes (2: bad input, 1: bug)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from alignlab.errors import UserInputError

        try:
            return func(*args, **kwargs)
        except UserInputError as exc:
            if _state["debug"]:
                raise
            for problem in exc.problems:
                typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:  # `alignlab ... | head`: the reader has gone, so stop without a word
            _silence_stdout()
            raise typer.Exit(141) from None
        except (typer.Exit, typer.Abort, _CLICK_EXCEPTION):
            raise
        except Exception as exc:
            if _state["debug"]:
                raise
            machine = known_problem(exc)
            if machine is not None:
                typer.echo(f"error: {machine}", err=True)
                raise typer.Exit(2) from None
            typer.echo(
                f"error: {type(exc).__name__}: {first_line(exc)} (run with --debug for the traceback)", err=True
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second BrokenPipeError."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


@contextmanager
def quiet_tracebacks() -> Iterator[None]:
    """While a command runs, and unless ``--debug`` is on: log records without tracebacks (their
    message stays, with the exception's one-line reason added when the message lacks it), one line for
    an exception in a thread, one line per warning. Restores the previous hooks at the end."""
    factory = logging.getLogRecordFactory()
    thread_hook = threading.excepthook
    format_warning = warnings.formatwarning

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        rec = factory(*args, **kwargs)
        if not _state["debug"]:
            _one_line(rec)
        return rec

    def thread_exception(hook: threading.ExceptHookArgs) -> None:
        if _state["debug"] or hook.exc_value is None:
            thread_hook(hook)
            return
        name = hook.thread.name if hook.thread is not None else "a thread"
        sys.stderr.write(
            f"warning: {name} stopped: {type(hook.exc_value).__name__}: {reason(hook.exc_value)} "
            "(run with --debug for the traceback)\n"
        )

    def one_line_warning(
        message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
    ) -> str:
        if _state["debug"]:
            return format_warning(message, category, filename, lineno, line)
        return f"warning: {category.__name__}: {str(message).strip().splitlines()[0] if str(message).strip() else ''}\n"

    logging.setLogRecordFactory(record)
    threading.excepthook = thread_exception
    warnings.formatwarning = one_line_warning
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)
        threading.excepthook = thread_hook
        warnings.formatwarning = format_warning


def _one_line(rec: logging.LogRecord) -> None:
    """A library's log record as one line: no traceback or stack, a multi-line message cut to its
    :func:`gist`, and the exception's one-line reason added when the message lacks it."""
    exc = rec.exc_info[1] if rec.exc_info else None
    if exc is None and not rec.stack_info and "\n" not in str(rec.msg) and not rec.args:
        return
    rec.exc_info = None
    rec.exc_text = None
    rec.stack_info = None
    try:
        shown = rec.getMessage()
    except (TypeError, ValueError):
        return
    line = gist(shown)
    if exc is not None and first_line(exc) not in line:
        line = f"{line} ({type(exc).__name__}: {reason(exc)})"
    if line != shown:
        rec.msg, rec.args = line, None
