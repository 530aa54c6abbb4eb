"""`alignlab compare`, `alignlab report` and `alignlab ui`: looking at finished studies.

alignlab.cli registers :func:`compare`, :func:`report` and :func:`ui`. Nothing heavy at import time:
pandas, optuna, mlflow and plotly load inside the commands.
"""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from alignlab.cli.errors import handle_errors
from alignlab.run.tracking import DEFAULT_UI_URL

if TYPE_CHECKING:
    import pandas as pd


def _cell(value: Any, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ("no" if column == "feasible" else "")
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.3g}" if column in ("learning_rate",) or abs(value) < 1e-3 else f"{value:.4g}"
    if column == "mlflow_run_id":
        return str(value)[:8]
    return str(value)


def _render_table(df: pd.DataFrame) -> None:
    from rich.console import Console
    from rich.table import Table

    from alignlab.results.compare import to_records

    studies = list(df.attrs.get("objectives", {}))
    title = (
        f"{len(df)} trials of {', '.join(studies)}, sorted by {df.attrs.get('sort_by')} "
        f"({df.attrs.get('direction')})"
    )
    show_study = len(studies) > 1
    columns = [c for c in df.columns if show_study or c != "study"]
    table = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        header = {"runtime_s": "runtime s", "mlflow_run_id": "mlflow run", "enqueued": "default"}.get(c, c)
        table.add_column(
            header, justify="left" if c in ("study", "algorithm", "state", "mlflow_run_id") else "right"
        )
    styles = {"PRUNED": "dim", "FAIL": "red", "RUNNING": "yellow"}
    for rec in to_records(df):
        table.add_row(*(_cell(rec[c], c) for c in columns), style=styles.get(str(rec["state"])))
    console = Console()
    if not console.is_terminal:  # piped or redirected: no terminal width to fit, print it whole
        console = Console(width=max(console.width, 240))
    console.print(table)


@handle_errors
def compare(
    names: list[str] = typer.Argument(..., metavar="NAME...", help="Study names (folders under studies/)."),
    top: int | None = typer.Option(
        None, "--top", min=1, help="Show only the best K trials (over all studies)."
    ),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the whole table as CSV to this path."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON records instead of a table."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Read the Optuna storage only."),
) -> None:
    """One table of the trials of one or more studies, best first by the (first) objective."""
    import json

    from alignlab.results.compare import compare_table, to_records, write_csv

    df = compare_table(names, top=top, use_mlflow=not no_mlflow)
    if csv is not None:
        written = write_csv(df, csv)
        typer.echo(f"wrote {written}", err=as_json)
    if as_json:
        typer.echo(json.dumps(to_records(df), indent=2))
    else:
        _render_table(df)


@handle_errors
def report(
    name: str = typer.Argument(..., help="Study name (a folder under studies/)."),
    out: Path | None = typer.Option(
        None, "--out", help="Where the HTML goes (default studies/NAME/report.html)."
    ),
    mlflow_url: str = typer.Option(
        DEFAULT_UI_URL,
        "--mlflow-url",
        help="Where run links point (the MLflow UI of `alignlab ui`).",
    ),
    top_curves: int = typer.Option(3, "--curves", min=1, help="Learning curves of this many top trials."),
) -> None:
    """A self-contained HTML report of a study (works offline), with PNGs of the key plots beside it."""
    from alignlab.results.report import build_report

    result = build_report(name, out=out, mlflow_url=mlflow_url, top_curves=top_curves)
    typer.echo(f"wrote {result.html_path}")
    for png in result.png_paths:
        typer.echo(f"wrote {png}")
    for note in result.notes:
        typer.echo(f"note: {note}")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@handle_errors
def ui(
    port: int = typer.Option(5000, "--port", min=1, max=65535, help="Port of the MLflow UI."),
    optuna: str | None = typer.Option(
        None, "--optuna", metavar="NAME", help="Also serve optuna-dashboard over this study's storage."
    ),
    optuna_port: int = typer.Option(
        8080, "--optuna-port", min=1, max=65535, help="Port of optuna-dashboard."
    ),
    store: str | None = typer.Option(
        None, "--store", help="MLflow backend store URI (default: the shared studies/mlflow.db)."
    ),
) -> None:
    """Serve the MLflow UI over the shared store (and optuna-dashboard with --optuna) until Ctrl-C."""
    from alignlab.results import ui as uilib
    from alignlab.sweep.records import open_study

    ports = [(port, "--port")] + ([(optuna_port, "--optuna-port")] if optuna else [])
    uilib.check_ports(ports)
    storage = open_study(optuna).storage_url if optuna else None
    handles: list[uilib.ServerHandle] = []
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        handles.append(uilib.start_mlflow(tracking_uri=store, port=port))
        if storage is not None:
            handles.append(uilib.start_optuna_dashboard(storage, port=optuna_port))
        typer.echo("starting " + ", ".join(h.name for h in handles) + " ...", err=True)
        for h in handles:
            uilib.wait_ready(h)
        typer.echo(f"MLflow UI:        {handles[0].url}")
        if len(handles) > 1:
            typer.echo(f"optuna-dashboard: {handles[1].url}")
        typer.echo("Ctrl-C to stop.", err=True)
        while all(h.running for h in handles):
            time.sleep(0.5)
        gone = next(h for h in handles if not h.running)
        raise RuntimeError(
            f"{gone.name} stopped (exit code {gone.process.returncode}); log {gone.log_path}:\n{gone.log_tail()}"
        )
    except KeyboardInterrupt:
        typer.echo("stopping ...", err=True)
    finally:
        uilib.stop_all(handles)
        signal.signal(signal.SIGTERM, previous)
