"""The study report: one self-contained HTML page (plotly.js inline, works offline) and PNGs beside it.

:func:`build_report` writes ``studies/<name>/report.html`` (or ``out``) from the template
``alignlab/results/templates/report.html.j2`` (package data) with, as plotly figures (``<div id="plot-<key>">``):

- ``history``: optimisation history of the first objective (optuna.visualization);
- ``parallel``: parallel coordinates of the params against it (optuna.visualization);
- ``importance``: parameter importances per objective (optuna.importance, PED-ANOVA), from 2 complete trials;
- ``pareto``: the reward (the first objective, or win_rate / gold_reward / preference_accuracy) against
  KL; Optuna's Pareto-front plot when the study's objectives are exactly that pair;
- ``param``: the main searched params (beta, desirable_weight, kl_target, kl_coef) against the
  objective (optuna.visualization's slice plot);
- ``curves``: learning curves of the top trials: MLflow histories of ``eval/<objective>`` and ``loss``,
  else the trials' intermediate values;

and the trial table with links to the MLflow runs. A plot without the data for it becomes a note.
PNGs (matplotlib, alignlab.results.report_pngs) of history, pareto, param, importance and curves go
beside the page as ``<stem>-<key>.png``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignlab.paths import study_dir, write_atomic
from alignlab.results.report_figures import (
    Section,
    complete_trials,
    curves_section,
    fmt,
    history_section,
    importance_section,
    parallel_section,
    param_section,
    params_text,
    pareto_data,
    pareto_section,
)
from alignlab.run.tracking import DEFAULT_UI_URL, metric_histories, run_url
from alignlab.sweep.records import StudyRecord, TrialRecord, open_study, trial_records
from alignlab.sweep.secrets import mask as mask_url

PLOT_KEYS: tuple[str, ...] = ("history", "parallel", "importance", "pareto", "param", "curves")
#: Main searched parameter of each algorithm, in the order the report looks for them.
MAIN_PARAMS: tuple[str, ...] = ("beta", "desirable_weight", "kl_target", "kl_coef")


@dataclass
class ReportResult:
    html_path: Path
    png_paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Plots left out, and why."""


def templates_dir() -> Path:
    """The HTML templates, shipped as package data beside this module."""
    return Path(__file__).resolve().parent / "templates"


# ---- data helpers ----------------------------------------------------------------------------------


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's logger at ERROR for the duration (plots warn on studies without trials), then as it was."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def main_params(trials: Sequence[TrialRecord]) -> list[str]:
    """The study's main searched params (MAIN_PARAMS) that trials have."""
    present = {k for t in trials for k in t.params}
    return [p for p in MAIN_PARAMS if p in present]


def _top_trials(record: StudyRecord, trials: Sequence[TrialRecord], n: int) -> list[TrialRecord]:
    if not record.objectives:
        return []
    obj = record.objectives[0]
    done = [t for t in complete_trials(trials) if t.metric(obj.metric, record.objectives) is not None]
    return sorted(
        done, key=lambda t: (-1 if obj.maximize else 1) * (t.metric(obj.metric, record.objectives) or 0.0)
    )[:n]


def _curves(record: StudyRecord, top: Sequence[TrialRecord]) -> dict[int, dict[str, list[tuple[int, float]]]]:
    """trial number -> {"eval": points, "loss": points}: MLflow histories, else intermediate values."""
    metric = f"eval/{record.objectives[0].metric}"
    out: dict[int, dict[str, list[tuple[int, float]]]] = {}
    for t in top:
        found = (
            metric_histories(record.tracking_uri, t.mlflow_run_id, [metric, "loss"])
            if t.mlflow_run_id
            else {}
        )
        curves: dict[str, list[tuple[int, float]]] = {}
        if metric in found:
            curves["eval"] = found[metric]
        elif t.intermediate:
            curves["eval"] = sorted(t.intermediate.items())
        if "loss" in found:
            curves["loss"] = found["loss"]
        if curves:
            out[t.number] = curves
    return out


# ---- table and page -------------------------------------------------------------------------------


def _table_rows(df: Any, mlflow_url: str) -> tuple[list[str], list[dict[str, Any]]]:
    from alignlab.results.compare import to_records

    hidden = {"study", "mlflow_run_id"}
    columns = [c for c in df.columns if c not in hidden] + ["mlflow"]
    exp_ids: dict[str, str | None] = df.attrs.get("experiment_ids", {})
    rows = []
    for rec in to_records(df):
        cells = {c: fmt(rec.get(c)) for c in columns if c != "mlflow"}
        run_id = rec.get("mlflow_run_id")
        cells["mlflow"] = run_id[:8] if run_id else ""
        rows.append(
            {
                "cells": cells,
                "url": run_url(exp_ids.get(str(rec["study"])), run_id, base=mlflow_url),
                "state": rec.get("state"),
            }
        )
    return columns, rows


def build_report(
    name: str,
    *,
    out: str | Path | None = None,
    mlflow_url: str = DEFAULT_UI_URL,
    top_curves: int = 3,
    pngs: bool = True,
) -> ReportResult:
    """Write the HTML report of a study (default ``studies/<name>/report.html``) and PNGs beside it.

    ``mlflow_url`` is where run links point (``alignlab ui`` serves there by default). An unknown
    study raises UserInputError.
    """
    with quiet_optuna():
        return _build(name, out=out, mlflow_url=mlflow_url, top_curves=top_curves, pngs=pngs)


def _build(
    name: str, *, out: str | Path | None, mlflow_url: str, top_curves: int, pngs: bool
) -> ReportResult:
    import jinja2
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    from alignlab.results.compare import table
    from alignlab.results.report_pngs import write_pngs

    record = open_study(name)
    path = Path(out) if out is not None else study_dir(name) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    df = table([record])  # joins MLflow run ids and sets record.experiment_id when the store has them
    trials = trial_records(record)
    run_ids = dict(zip(df["trial"].tolist(), df["mlflow_run_id"].tolist(), strict=True))
    for t in trials:
        t.mlflow_run_id = t.mlflow_run_id or run_ids.get(t.number)
    complete = complete_trials(trials)
    params = main_params(trials)
    pareto = pareto_data(record, trials)
    curves = _curves(record, _top_trials(record, trials, top_curves))

    if record.objectives:
        importance, importances = importance_section(record, complete)
        sections = [
            history_section(record, complete),
            parallel_section(record, complete),
            importance,
            pareto_section(record, pareto),
            param_section(record, complete, params),
            curves_section(record, curves),
        ]
    else:
        importances = {}
        sections = [Section(k, k, note="the study records no objectives") for k in PLOT_KEYS]
    columns, rows = _table_rows(df, mlflow_url)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    best = _top_trials(record, trials, 1)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["mask_url"] = mask_url  # a password in a storage or tracking URL never reaches the page
    page = env.get_template("report.html.j2").render(
        study=record,
        objectives=record.objectives,
        counts=counts,
        n_trials=len(trials),
        best=best[0] if best else None,
        best_params=params_text(best[0]) if best else "",
        best_value=fmt(best[0].metric(record.objectives[0].metric, record.objectives)) if best else "",
        best_url=run_url(record.experiment_id, best[0].mlflow_run_id, base=mlflow_url) if best else None,
        sections=[{**s.__dict__, "html": Markup(s.html)} for s in sections],
        columns=columns,
        rows=rows,
        mlflow_url=mlflow_url,
        experiment_url=f"{mlflow_url.rstrip('/')}/#/experiments/{record.experiment_id}"
        if record.experiment_id
        else None,
        generated=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        plotly_js=Markup(get_plotlyjs()),
    )
    write_atomic(path, page)
    png_paths = (
        write_pngs(record, path.with_suffix(""), complete, pareto, params, importances, curves)
        if pngs
        else []
    )
    notes = [f"{s.key}: {s.note}" for s in sections if s.note]
    return ReportResult(html_path=path, png_paths=png_paths, notes=notes)
