"""The `alignlab` command line. It parses, calls the library, and renders; nothing else.

Each command group lives in its own module and registers itself on :data:`app`. Heavy modules (torch,
trl, mlflow) are imported inside the command functions, so ``alignlab --help`` and ``alignlab
recommend`` stay instant.

Errors: a :class:`~alignlab.errors.UserInputError` prints one ``error:`` line per problem to stderr
and exits with code 2. Anything else is a bug: one line and exit 1, the traceback only with ``--debug``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

app = typer.Typer(
    name="alignlab",
    help="Choose, sweep and compare preference-alignment runs (PPO, DPO, KTO) with TRL, Optuna and MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state: dict[str, bool] = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])


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


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    _state["debug"] = debug
    if version:
        from alignlab import __version__

        typer.echo(__version__)
        raise typer.Exit()


def _register() -> None:
    # Each module adds its commands to `app` when imported; the modules import nothing heavy at top level.
    import importlib

    for name in ("data", "recommend", "train", "sweep", "quickstart", "compare"):
        importlib.import_module(f"alignlab.cli.{name}")


def main() -> None:
    _register()
    app(prog_name="alignlab")


if __name__ == "__main__":  # pragma: no cover
    main()
