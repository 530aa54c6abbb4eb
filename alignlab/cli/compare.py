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
from alignlab.cli.outputs import check_force, check_outputs, wrote
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
    with_se = {c.removesuffix("_se") for c in df.columns if c.endswith("_se")}
    columns = [c for c in df.columns if (show_study or c != "study") and not c.endswith("_se")]
    table = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        header = {"runtime_s": "runtime s", "mlflow_run_id": "mlflow run", "enqueued": "default"}.get(c, c)
        if c in with_se and df[f"{c}_se"].notna().any():
            header += " ± se"
        table.add_column(
            header, justify="left" if c in ("study", "algorithm", "state", "mlflow_run_id") else "right"
        )
    styles = {"PRUNED": "dim", "FAIL": "red", "RUNNING": "yellow"}
    for rec in to_records(df):
        cells = [_cell(rec[c], c) + _se_cell(rec.get(f"{c}_se")) for c in columns]
        table.add_row(*cells, style=styles.get(str(rec["state"])))
    console = Console(highlight=False)
    if not console.is_terminal:  # piped or redirected: no terminal width to fit, print it whole
        console = Console(width=max(console.width, 240), highlight=False)
    console.print(table)
    if df.attrs.get("noise"):
        console.print(df.attrs["noise"], markup=False)
    for study, judge in (df.attrs.get("judges") or {}).items():
        console.print(
            f"judge of {study}: {judge.get('source')}, ranks {float(judge.get('accuracy', 0.0)):.1%} of the held-out "
            "pairs right (pairs it never trained on)",
            markup=False,
        )
    from alignlab.sweep.noise import NO_UNITS

    if df.attrs.get("no_units"):
        console.print(f"note: {', '.join(df.attrs['no_units'])}: {NO_UNITS}", markup=False)


def _se_cell(se: Any) -> str:
    """`` ± 0.025`` after a value with a standard error."""
    return f" ± {se:.2g}" if isinstance(se, float) and not math.isnan(se) else ""


@handle_errors
def compare(
    names: list[str] = typer.Argument(..., metavar="NAME...", help="Study names (folders under studies/)."),
    top: int | None = typer.Option(
        None, "--top", min=1, help="Show only the best K trials (over all studies)."
    ),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the whole table as CSV to this path."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON records instead of a table."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Read the Optuna storage only."),
    force: bool = typer.Option(False, "--force", help="With --csv: replace the file if it exists."),
) -> None:
    """One table of the trials of one or more studies, best first by the (first) objective."""
    import json

    from alignlab.results.compare import compare_table, to_records, write_csv

    check_force(force, option="--csv", given=csv is not None)
    replaced = bool(check_outputs([("--csv", csv)], force=force)) if csv is not None else False
    df = compare_table(names, top=top, use_mlflow=not no_mlflow)
    if csv is not None:
        written = write_csv(df, csv)
        typer.echo(wrote(written, replaced=replaced), err=as_json)
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
    force: bool = typer.Option(
        False, "--force", help="With --out: replace the page (and its PNGs) if they exist."
    ),
) -> None:
    """A self-contained HTML report of a study (works offline), with PNGs of the key plots beside it.

    Without --out it goes to studies/NAME/report.html, replacing the study's previous report (it says
    so); a page at an --out path that exists is replaced only with --force."""
    from alignlab.errors import UserInputError
    from alignlab.paths import study_dir
    from alignlab.results.report import build_report

    check_force(force, option="--out", given=out is not None)
    html = out if out is not None else study_dir(name) / "report.html"
    before = _report_files(html)
    check_outputs([("--out" if out is not None else "", html)], force=True)  # a folder, not writable
    if out is not None and before and not force:  # the study's own report is replaced: that is the point
        shown = ", ".join(str(p) for p in sorted(before))
        raise UserInputError(f"--out {out}: the report's files exist ({shown}); add --force to replace them")
    result = build_report(name, out=out, mlflow_url=mlflow_url, top_curves=top_curves)
    typer.echo(wrote(result.html_path, replaced=result.html_path in before))
    for png in result.png_paths:
        typer.echo(wrote(png, replaced=png in before))
    for note in result.notes:
        typer.echo(f"note: {note}")


def _report_files(html: Path) -> set[Path]:
    """The page and the PNGs beside it (``<stem>-<plot>.png``) that exist now."""
    pngs = set(html.parent.glob(f"{html.stem}-*.png")) if html.parent.is_dir() else set()
    return pngs | ({html} if html.exists() or html.is_dir() else set())


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
    from alignlab.sweep.catalog import open_study
    from alignlab.sweep.portable import follow_moved_artifacts

    ports = [(port, "--port")] + ([(optuna_port, "--optuna-port")] if optuna else [])
    uilib.check_ports(ports)
    storage = open_study(optuna).storage_url if optuna else None
    follow_moved_artifacts(store)  # a moved studies folder: the UI shows each run's artifacts where they are
    handles: list[uilib.ServerHandle] = []
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        handles.append(uilib.start_mlflow(tracking_uri=store, port=port))
        if storage is not None:
            handles.append(uilib.start_optuna_dashboard(storage, port=optuna_port))
        typer.echo("starting " + ", ".join(h.name for h in handles) + " ...", err=True)
        for h in handles:
            uilib.wait_ready(h)
        pages = uilib.mlflow_pages(handles[0].url, tracking_uri=store)  # each study opens on its trials
        typer.echo(f"MLflow UI:        {pages[0][1]}")
        for name, url in pages[1:]:
            typer.echo(f"  {name}: {url}")
        if optuna:
            typer.echo(f"optuna-dashboard: {uilib.dashboard_study_url(handles[1], optuna)}")
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
