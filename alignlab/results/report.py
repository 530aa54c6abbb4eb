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
- ``curves``: learning curves of the top trials: MLflow histories of ``eval/<objective>`` (every
  evaluation the run logged) and ``loss``, else the trials' intermediate values and final value;

and, at the top, the "best vs default" card: the best trial (alignlab.sweep.best.select_best) against the
enqueued literature default on the first objective, each with its standard error, their paired
difference with its interval and whether it is beyond noise (alignlab.sweep.noise); then the trial
table with links to the MLflow runs. A plot without the data for it becomes a note. Each plot has one
title, its section's heading.
PNGs (matplotlib, alignlab.results.report_pngs) of history, pareto, param, importance and curves go
beside the page as ``<stem>-<key>.png``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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
from alignlab.sweep.catalog import open_study
from alignlab.sweep.records import StudyRecord, TrialRecord, trial_records
from alignlab.sweep.secrets import mask as mask_url
from alignlab.sweep.warm_start import own_trials, without_priors

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
        elif t.intermediate:  # no MLflow: the evaluations Optuna has, and the final one
            final = t.metric(record.objectives[0].metric, record.objectives)
            last = [(t.steps, final)] if t.steps is not None and final is not None else []
            curves["eval"] = sorted({**t.intermediate, **dict(last)}.items())
        if "loss" in found:
            curves["loss"] = found["loss"]
        if curves:
            out[t.number] = curves
    return out


# ---- the best against the default -----------------------------------------------------------------


def versus_card(record: StudyRecord, trials: Sequence[TrialRecord]) -> dict[str, Any] | None:
    """What the "best vs default" card shows: the best trial (as ``alignlab best`` picks it) and the
    enqueued default on the first objective, with standard errors and their difference; None when no
    trial completed."""
    from alignlab.sweep.best import enqueued_baseline, select_best
    from alignlab.sweep.noise import NO_UNITS, unit_name, versus

    chosen = select_best(record, trials)
    if chosen is None or not record.objectives:
        return None
    obj = record.objectives[0]
    best = next(t for t in trials if t.number == chosen.number)
    card: dict[str, Any] = {
        "metric": obj.metric,
        "best": best,
        "best_value": _pm(chosen.values[0] if chosen.values else None, (chosen.standard_errors or [None])[0]),
        "best_interval": _interval_text((chosen.intervals or [None])[0]),
        "rule": chosen.rule,
        "noise": chosen.noise,
        "trust": list(chosen.trust),
        "default": None,
        "confirmed": "",
    }
    if chosen.confirmed:
        c = chosen.confirmed
        se = f" ± {c['se']:.4f}" if c.get("se") is not None else ""
        card["confirmed"] = f"confirmed {c['value']:.4f}{se} on {c['n_prompts']} prompts x {len(c['seeds'])} seeds"
    default = enqueued_baseline(trials)
    if default is None:
        card["verdict"] = "no enqueued literature default completed in this study: nothing to compare with"
        return card
    card["default"] = default
    if default.number == best.number:
        card["verdict"] = "the literature default is the best trial: the sweep did not beat it"
        return card
    vs = versus(best, default, obj.metric, maximize=obj.maximize, names=(f"trial {best.number}", "the default"))
    card["default_value"] = _pm(vs.other_value, vs.other_se)
    card["default_params"] = params_text(default)
    d = vs.difference
    if d is not None and d.se == d.se:  # NaN: fewer than 2 units
        card["difference"] = f"{d.value:+.4f} ± {d.se:.4f}"
        unit = unit_name(best.units.get(obj.metric))
        how = f"paired over {d.n_a} {unit}" if d.paired else f"unpaired, {d.n_a} and {d.n_b} {unit}"
        card["difference_detail"] = f"{d.level:.0%} interval {d.low:+.4f} to {d.high:+.4f}, {how}"
    else:
        card["difference"] = f"{(vs.value or 0.0) - (vs.other_value or 0.0):+.4f}"
        card["difference_detail"] = NO_UNITS
    card["beyond_noise"] = d.beyond_noise if d is not None else None
    card["verdict"] = vs.verdict.split(":")[0] if d is not None else vs.verdict
    return card


def _pm(value: float | None, se: float | None) -> str:
    if value is None:
        return ""
    return fmt(value) if se is None else f"{value:.4f} ± {se:.4f}"


def _se(value: Any) -> str:
    return f" ± {value:.2g}" if isinstance(value, float) else ""


def _interval_text(interval: list[float] | None) -> str:
    return "" if interval is None else f"95% interval {interval[0]:.4f} to {interval[1]:.4f}"


# ---- table and page -------------------------------------------------------------------------------


def _table_rows(df: Any, mlflow_url: str) -> tuple[list[str], list[dict[str, Any]]]:
    from alignlab.results.compare import to_records

    hidden = {"study", "mlflow_run_id"} | {c for c in df.columns if c.endswith("_se")}
    columns = [c for c in df.columns if c not in hidden] + ["mlflow"]
    exp_ids: dict[str, str | None] = df.attrs.get("experiment_ids", {})
    rows = []
    for rec in to_records(df):
        cells = {c: fmt(rec.get(c)) + _se(rec.get(f"{c}_se")) for c in columns if c != "mlflow"}
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
    df = table([record])  # joins MLflow run ids and sets record.experiment_id when the store has them
    every = trial_records(record)
    trials = own_trials(record, every)  # warm-start priors: in the table (marked), in no plot or card
    if len(trials) < len(every):
        record = replace(record, study=without_priors(record.study))
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
    for t in every:
        state = t.state if t in trials else "PRIOR"
        counts[state] = counts.get(state, 0) + 1
    card = versus_card(record, trials)
    best = [card["best"]] if card is not None else []
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
        n_trials=len(every),
        best=best[0] if best else None,
        best_params=params_text(best[0]) if best else "",
        best_value=card["best_value"] if card is not None else "",
        best_url=run_url(record.experiment_id, best[0].mlflow_run_id, base=mlflow_url) if best else None,
        card=card,
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
