"""`alignlab sweep run|status`, `alignlab studies list`, `alignlab best`: running and reading studies."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from alignlab.cli import app, handle_errors

sweep_app = typer.Typer(
    help="Run a sweep file as an Optuna study, or show a study's progress.", no_args_is_help=True
)
studies_app = typer.Typer(help="The studies under studies/.", no_args_is_help=True)
app.add_typer(sweep_app, name="sweep")
app.add_typer(studies_app, name="studies")


class LiveProgress:
    """A one-line live display of a running sweep: trial k of N, best so far, the trial's step, ETA."""

    def __init__(self, name: str, status: Any) -> None:
        self.name = name
        self.status = status
        self.started = time.monotonic()
        self.trial_times: list[float] = []
        self.trial_started = self.started
        self.best: float | None = None
        self.lines: list[str] = []

    def __call__(self, event: Any) -> None:
        if event.kind == "trial_started":
            self.trial_started = time.monotonic()
        elif event.kind == "trial_finished":
            self.trial_times.append(time.monotonic() - self.trial_started)
            self.best = event.best_value if event.best_value is not None else self.best
            result = event.result
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in event.params.items())
            metrics = ", ".join(
                f"{k}={v:.3f}"
                for k, v in sorted(result.metrics.items())
                if k in ("win_rate", "preference_accuracy", "kl", "gold_reward")
            )
            line = f"trial {event.trial_number}: {result.status} ({result.runtime_s:.0f}s) {shown}"
            if metrics:
                line += f" -> {metrics}"
            if result.reason:
                line += f" [{result.reason}]"
            self.status.console.print(line)
        remaining = max(0, event.n_trials - event.finished)
        eta = ""
        if self.trial_times:
            eta = f", ETA {remaining * sum(self.trial_times) / len(self.trial_times) / 60:.1f} min"
        best = f", best {self.best:.4f}" if self.best is not None else ""
        step = f", step {event.step}/{event.max_steps}" if event.kind == "step" and event.max_steps else ""
        self.status.update(
            f"{self.name}: trial {min(event.finished + 1, event.n_trials)} of {event.n_trials} (#{event.trial_number}{step}){best}{eta}"
        )


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


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

    from alignlab.sweep.spec import load_sweep
    from alignlab.sweep.study import run_sweep

    spec = load_sweep(spec_path)
    console = Console(stderr=True)
    with console.status(f"{spec.name}: starting...") as status:
        outcome = run_sweep(
            spec, n_trials=n_trials, storage=storage, on_event=LiveProgress(spec.name, status)
        )
    if as_json:
        typer.echo(json.dumps(_outcome_dict(outcome), indent=2, default=str))
        return
    _render_best(outcome.best, spec.name)
    console = Console()
    console.print(f"study {outcome.name}: {outcome.n_finished} trials finished; storage {outcome.storage}")
    console.print(
        f"MLflow: parent run {outcome.mlflow_parent_run_id} in {outcome.tracking_uri} (alignlab ui to browse)"
    )


def _outcome_dict(outcome: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(outcome)


def _render_best(best: Any, name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if best is None:
        console.print(f"{name}: no trial completed yet")
        return
    console.print(
        f"[bold]best trial {best.number}[/] ({best.rule})"
        + (" - an enqueued literature default" if best.enqueued else "")
    )
    table = Table("param", "value")
    for key, value in best.params.items():
        table.add_row(key, _fmt(value))
    console.print(table)
    metrics = Table("metric", "value")
    for key, value in sorted(best.metrics.items()):
        metrics.add_row(key, f"{value:.4f}")
    console.print(metrics)
    if best.output_dir:
        console.print(f"adapter: {best.output_dir}")


@sweep_app.command("status")
@handle_errors
def sweep_status(
    name: str = typer.Argument(..., help="The study (sweep) name."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Trials by state, the budget and the best trial of a study."""
    from alignlab.sweep.study import load_study, study_status

    study, spec = load_study(name)
    status = study_status(study, spec)
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

    from alignlab.sweep.study import list_studies

    rows = list_studies()
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


@app.command()
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
    from alignlab.sweep.study import export_best, load_study, select_best

    study, spec = load_study(name)
    chosen = select_best(study, spec)
    if chosen is None:
        raise UserInputError(f"study {name!r}: no trial has completed yet")
    if export is not None:
        export_best(chosen, export, name=f"{name}-best", max_steps=max_steps, full_data=full_data)
    if as_json:
        typer.echo(
            json.dumps({**asdict(chosen), "exported": str(export) if export else None}, indent=2, default=str)
        )
        return
    _render_best(chosen, name)
    if export is not None:
        typer.echo(f"exported: {export} (alignlab train {export})")
