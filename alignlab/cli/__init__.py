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

import typer

from alignlab.cli.errors import handle_errors, set_debug

app = typer.Typer(
    name="alignlab",
    help="Choose, sweep and compare preference-alignment runs (PPO, DPO, KTO) with TRL, Optuna and MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    set_debug(debug)
    if version:
        from alignlab import __version__

        typer.echo(__version__)
        raise typer.Exit()


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


def main() -> None:
    app(prog_name="alignlab")


__all__ = ["app", "handle_errors", "main"]

if __name__ == "__main__":  # pragma: no cover
    main()
