"""The `alignlab` command line. It parses, calls the library, and renders; nothing else.

One module per command group; each defines its command functions (and sub-apps such as ``data``),
and :func:`_register` below adds them to :data:`app`, explicitly, in the order ``alignlab --help``
lists them. Heavy modules (torch, trl, mlflow) are imported inside the command functions, so
``alignlab --help`` and ``alignlab recommend`` stay instant.

Errors (:mod:`alignlab.cli.errors`): a :class:`~alignlab.errors.UserInputError` prints one ``error:``
line per problem to stderr and exits with code 2. Anything else is a bug: one line and exit 1, the
traceback only with ``--debug``.
"""

from __future__ import annotations

from typing import Any

import typer

from alignlab.cli.errors import handle_errors, set_debug

app = typer.Typer(
    name="alignlab",
    help="Choose, sweep and compare preference-alignment runs (PPO, DPO, KTO) with TRL, Optuna and MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from alignlab import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    set_debug(debug)


def _register() -> None:
    """Every command and command group on :data:`app`; called once, below."""
    from alignlab.cli import compare, data, quickstart, recommend, sweep, train, validate

    app.command()(recommend.recommend)
    app.command()(validate.validate)
    app.command()(train.train)
    app.command()(sweep.best)
    app.command()(quickstart.quickstart)
    app.command()(compare.compare)
    app.command()(compare.report)
    app.command()(compare.ui)
    app.add_typer(data.data_app, name="data")
    app.add_typer(sweep.sweep_app, name="sweep")
    app.add_typer(sweep.studies_app, name="studies")


_register()


class _Never(Exception):
    """Stands in for an exception class the installed click does not have."""


def main(argv: list[str] | None = None) -> None:
    """The console script (``argv``: the arguments, default ``sys.argv[1:]``; it exits either way).

    Usage errors (unknown option, missing argument, bad choice) become one ``error:`` line naming
    the command, with exit code 2, like every other bad input; libraries' log records, thread errors
    and warnings print no stacks without ``--debug`` (:func:`alignlab.cli.errors.quiet_tracebacks`)."""
    import sys

    from alignlab.cli.errors import quiet_tracebacks

    # Typer vendors click (typer._click); its UsageError is the base of BadParameter, which Typer exports.
    usage_error: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    click_exception: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    no_args_is_help: Any = getattr(sys.modules[usage_error.__module__], "NoArgsIsHelpError", _Never)
    code: Any
    set_debug(False)
    try:
        with quiet_tracebacks():
            code = app(args=argv, prog_name="alignlab", standalone_mode=False)
    except no_args_is_help as exc:  # `alignlab` or `alignlab sweep` alone: the help, as before
        typer.echo(exc.ctx.get_help() if exc.ctx is not None else str(exc))
        code = 0
    except usage_error as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "alignlab"
        typer.echo(f"error: {where}: {exc.format_message()} (see '{where} --help')", err=True)
        code = 2
    except typer.Abort:
        typer.echo("interrupted", err=True)
        code = 130
    except click_exception as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        code = 2
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "handle_errors", "main"]

if __name__ == "__main__":  # pragma: no cover
    main()
