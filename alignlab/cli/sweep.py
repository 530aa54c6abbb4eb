"""`alignlab sweep run|status`, `alignlab studies list`, `alignlab best`: running and reading studies.

alignlab.cli registers :data:`sweep_app` (``sweep``), :data:`studies_app` (``studies``) and :func:`best`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from alignlab.cli.errors import handle_errors
from alignlab.cli.render import LiveProgress, render_best

sweep_app = typer.Typer(
    help="Run a sweep file as an Optuna study, or show a study's progress.", no_args_is_help=True
)
studies_app = typer.Typer(help="The studies under studies/.", no_args_is_help=True)


@sweep_app.command("run")
@handle_errors
def sweep_run(
    spec_path: Path = typer.Argument(
        ..., metavar="SPEC", help="A sweep file (YAML), e.g. sweeps/quickstart.yaml."
    ),
    n_trials: int = typer.Option(
        None, "--n-trials", min=1, help="Finished trials to reach (default: the file's budget)."
    ),
    storage: str = typer.Option(
        None, "--storage", help="Optuna storage URL (default: the file's, else sqlite under studies/<name>/)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Run (or resume) a sweep until its budget of finished trials is reached."""
    from rich.console import Console

    from alignlab.sweep.study import run_sweep
    from alignlab.validate import load_valid_sweep

    spec = load_valid_sweep(spec_path)
    console = Console(stderr=True)
    with console.status(f"{spec.name}: starting...") as status:
        outcome = run_sweep(
            spec, n_trials=n_trials, storage=storage, on_event=LiveProgress(spec.name, status)
        )
    if as_json:
        typer.echo(json.dumps(_outcome_dict(outcome), indent=2, default=str))
        return
    render_best(outcome.best, spec.name)
    console = Console()
    console.print(f"study {outcome.name}: {outcome.n_finished} trials finished; storage {outcome.storage}")
    console.print(
        f"MLflow: parent run {outcome.mlflow_parent_run_id} in {outcome.tracking_uri} (alignlab ui to browse)"
    )


def _outcome_dict(outcome: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(outcome)


@sweep_app.command("status")
@handle_errors
def sweep_status(
    name: str = typer.Argument(..., help="The study (sweep) name."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Trials by state, the budget and the best trial of a study."""
    from alignlab.sweep.best import study_status
    from alignlab.sweep.records import open_study

    status = study_status(open_study(name))
    if as_json:
        typer.echo(json.dumps({"name": name, **status}, indent=2))
        return
    states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(status["states"].items())) or "no trials"
    typer.echo(f"{name}: {status['finished']} of {status['n_trials']} finished ({states})")
    if status["best_trial"] is not None:
        values = ", ".join(
            f"{m}={v:.4f}" for m, v in zip(status["objectives"], status["best_values"], strict=False)
        )
        typer.echo(f"best: trial {status['best_trial']} ({values})")


@studies_app.command("list")
@handle_errors
def studies_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every study under studies/ with its progress and best value."""
    from rich.console import Console
    from rich.table import Table

    from alignlab.sweep.best import study_summaries

    rows = study_summaries()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no studies yet (alignlab sweep run SPEC, or alignlab quickstart)")
        return
    table = Table("study", "algorithms", "finished", "states", "best trial", "best")
    for row in rows:
        best = ", ".join(f"{v:.4f}" for v in row["best_values"] or [])
        states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(row["states"].items()))
        table.add_row(
            row["name"],
            ",".join(row["algorithms"]),
            f"{row['finished']}/{row['n_trials']}",
            states,
            str(row["best_trial"]),
            best,
        )
    Console().print(table)


@handle_errors
def best(
    name: str = typer.Argument(..., help="The study (sweep) name."),
    export: Path = typer.Option(
        None, "--export", help="Write the best trial as a run config `alignlab train` accepts."
    ),
    max_steps: int = typer.Option(
        None, "--max-steps", min=1, help="With --export: train this many steps instead."
    ),
    full_data: bool = typer.Option(
        False, "--full-data", help="With --export: drop the sweep's max_examples cap."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The best configuration of a study, the rule that chose it, and where its adapter is."""
    from dataclasses import asdict

    from alignlab.errors import UserInputError
    from alignlab.sweep.best import export_best, select_best
    from alignlab.sweep.records import open_study

    chosen = select_best(open_study(name))
    if chosen is None:
        raise UserInputError(f"study {name!r}: no trial has completed yet")
    if export is not None:
        export_best(chosen, export, name=f"{name}-best", max_steps=max_steps, full_data=full_data)
    if as_json:
        typer.echo(
            json.dumps({**asdict(chosen), "exported": str(export) if export else None}, indent=2, default=str)
        )
        return
    render_best(chosen, name)
    if export is not None:
        typer.echo(f"exported: {export} (alignlab train {export})")
