"""How a command's exceptions become messages and exit codes: :func:`handle_errors`.

A :class:`~alignlab.errors.UserInputError` prints one ``error:`` line per problem to stderr and exits
with code 2. Anything else is a bug: one line and exit 1, the traceback only with ``--debug``
(:func:`set_debug`, set by the root callback). Every command module decorates its functions with
:func:`handle_errors`; this module imports nothing of the CLI, so the command modules depend on it and
``alignlab.cli`` depends on them, one way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

_state: dict[str, bool] = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])


def set_debug(debug: bool) -> None:
    """Show tracebacks (``--debug``) instead of one-line errors."""
    _state["debug"] = debug


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
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if _state["debug"]:
                raise
            typer.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
