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
PNGs (matplotlib) of history, pareto, param, importance and curves go beside the page as
``<stem>-<key>.png``.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignlab.paths import study_dir, write_atomic
from alignlab.results.studyio import (
    DEFAULT_MLFLOW_URL,
    StudyRecord,
    TrialRecord,
    main_params,
    metric_histories,
    open_study,
    quiet_optuna,
    run_url,
    trial_records,
)

REWARD_METRICS: tuple[str, ...] = ("win_rate", "gold_reward", "preference_accuracy", "reward")
PLOT_KEYS: tuple[str, ...] = ("history", "parallel", "importance", "pareto", "param", "curves")


@dataclass
class Section:
    key: str
    title: str
    html: str = ""
    """Plotly divs (already HTML)."""
    note: str | None = None
    caption: str | None = None


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


def _complete(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    return [t for t in trials if t.state == "COMPLETE" and t.values is not None]


def _signed_target(record: StudyRecord, index: int, *, lower_is_better: bool) -> Callable[[Any], float]:
    """A target for Optuna functions: the objective ``index``, negated where the evaluator needs 'lower is better'."""
    flip = lower_is_better and record.objectives[index].maximize

    def target(trial: Any) -> float:
        value = float(trial.values[index])
        return -value if flip else value

    return target


def _reward_metric(record: StudyRecord, trials: Sequence[TrialRecord]) -> str | None:
    first = record.objectives[0].metric if record.objectives else None
    if first is not None and first != "kl":
        return first
    for obj in record.objectives[1:]:
        if obj.metric != "kl":
            return obj.metric
    present = {k for t in trials for k in t.metrics}
    return next((m for m in REWARD_METRICS if m in present), None)


def _pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: lower KL (x) and higher reward (y)."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (x2 <= x and y2 >= y) and (x2 < x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def _top_trials(record: StudyRecord, trials: Sequence[TrialRecord], n: int) -> list[TrialRecord]:
    if not record.objectives:
        return []
    obj = record.objectives[0]
    done = [t for t in _complete(trials) if t.metric(obj.metric, record.objectives) is not None]
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


# ---- plotly figures ------------------------------------------------------------------------------


def _div(fig: Any, div_id: str) -> str:
    import plotly.io as pio

    fig.update_layout(margin={"l": 60, "r": 30, "t": 50, "b": 50}, height=460)
    return str(
        pio.to_html(
            fig,
            include_plotlyjs=False,
            full_html=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


def _target_kwargs(record: StudyRecord) -> dict[str, Any]:
    obj = record.objectives[0]
    if record.multi_objective:
        return {"target": _signed_target(record, 0, lower_is_better=False), "target_name": obj.metric}
    return {"target_name": obj.metric}


def _history(record: StudyRecord, complete: list[TrialRecord]) -> Section:
    from optuna.visualization import plot_optimization_history

    sec = Section("history", f"Optimisation history ({record.objectives[0].metric})")
    if not complete:
        sec.note = "no complete trials yet"
        return sec
    sec.html = _div(plot_optimization_history(record.study, **_target_kwargs(record)), "plot-history")
    return sec


def _parallel(record: StudyRecord, complete: list[TrialRecord]) -> Section:
    from optuna.visualization import plot_parallel_coordinate

    sec = Section("parallel", "Parallel coordinates")
    if not complete:
        sec.note = "no complete trials yet"
        return sec
    if not any(record.study.trials[t.number].params for t in complete):
        sec.note = "the trials have no searched params"
        return sec
    sec.html = _div(plot_parallel_coordinate(record.study, **_target_kwargs(record)), "plot-parallel")
    return sec


def _importance(
    record: StudyRecord, complete: list[TrialRecord]
) -> tuple[Section, dict[str, dict[str, float]]]:
    from optuna.visualization import plot_param_importances

    sec = Section("importance", "Parameter importances")
    found: dict[str, dict[str, float]] = {}
    if len(complete) < 2:
        sec.note = f"importances need at least 2 complete trials; this study has {len(complete)}"
        return sec, found
    divs: list[str] = []
    problems: list[str] = []
    for i, obj in enumerate(record.objectives):
        target = _signed_target(record, i, lower_is_better=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig = plot_param_importances(record.study, target=target, target_name=obj.metric)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            problems.append(f"{obj.metric}: {exc}")
            continue
        if not fig.data:
            problems.append(f"{obj.metric}: no importances (the params may not vary)")
            continue
        fig.update_layout(title=f"Parameter importances for {obj.metric}")
        bars = fig.data[0]
        found[obj.metric] = {str(n): float(v) for n, v in zip(bars.y, bars.x, strict=False)}
        divs.append(_div(fig, "plot-importance" if not divs else f"plot-importance-{obj.metric}"))
    sec.html = "\n".join(divs)
    if problems:
        sec.note = "; ".join(problems)
    sec.caption = (
        "PED-ANOVA (Optuna's default): how much each param's good region differs from its whole range."
    )
    return sec, found


@dataclass
class _ParetoData:
    reward: str
    points: list[tuple[float, float]]
    """(kl, reward) per trial."""
    trials: list[TrialRecord]
    front: list[int]


def _pareto_data(record: StudyRecord, trials: Sequence[TrialRecord]) -> _ParetoData | None:
    reward = _reward_metric(record, trials)
    if reward is None:
        return None
    pts, used = [], []
    for t in _complete(trials):
        r, k = t.metric(reward, record.objectives), t.metric("kl", record.objectives)
        if r is not None and k is not None:
            pts.append((k, r))
            used.append(t)
    return _ParetoData(reward, pts, used, _pareto_front(pts)) if pts else None


def _pareto(record: StudyRecord, data: _ParetoData | None) -> Section:
    import plotly.graph_objects as go

    sec = Section("pareto", "Reward against KL")
    if data is None:
        sec.note = "no complete trial has both a reward metric and kl"
        return sec
    sec.title = f"{data.reward} against KL (Pareto front)"
    names = [o.metric for o in record.objectives]
    if sorted(names) == sorted([data.reward, "kl"]):
        from optuna.visualization import plot_pareto_front

        ki, ri = names.index("kl"), names.index(data.reward)
        fig = plot_pareto_front(
            record.study, target_names=["kl", data.reward], targets=lambda t: (t.values[ki], t.values[ri])
        )
        sec.html = _div(fig, "plot-pareto")
        return sec
    fig = go.Figure()
    by_alg: dict[str, list[int]] = {}
    for i, t in enumerate(data.trials):
        by_alg.setdefault(t.algorithm or "trial", []).append(i)
    for alg, idx in by_alg.items():
        fig.add_trace(
            go.Scatter(
                x=[data.points[i][0] for i in idx],
                y=[data.points[i][1] for i in idx],
                mode="markers",
                name=alg,
                marker={"size": 10},
                text=[f"trial {data.trials[i].number}<br>{_params_text(data.trials[i])}" for i in idx],
                hovertemplate="%{text}<br>kl=%{x:.4g}<br>" + data.reward + "=%{y:.4g}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[data.points[i][0] for i in data.front],
            y=[data.points[i][1] for i in data.front],
            mode="lines",
            name="Pareto front",
            line={"dash": "dash", "color": "#444"},
            hoverinfo="skip",
        )
    )
    fig.update_layout(title=f"{data.reward} against KL", xaxis_title="kl", yaxis_title=data.reward)
    sec.html = _div(fig, "plot-pareto")
    sec.caption = "Each complete trial; the dashed line joins the trials no other trial beats on both."
    return sec


def _params_text(t: TrialRecord) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())


def _param(record: StudyRecord, complete: list[TrialRecord], params: list[str]) -> Section:
    from optuna.visualization import plot_slice

    sec = Section("param", "Main parameter against the objective")
    if not params:
        sec.note = "none of beta, desirable_weight, kl_target, kl_coef was searched"
        return sec
    if not complete:
        sec.note = "no complete trials yet"
        return sec
    sec.title = f"{', '.join(params)} against {record.objectives[0].metric}"
    sec.html = _div(plot_slice(record.study, params=params, **_target_kwargs(record)), "plot-param")
    return sec


def _curves_section(record: StudyRecord, curves: dict[int, dict[str, list[tuple[int, float]]]]) -> Section:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metric = f"eval/{record.objectives[0].metric}"
    sec = Section("curves", "Learning curves of the top trials")
    if not curves:
        sec.note = "no metric history: neither MLflow eval/loss histories nor intermediate values"
        return sec
    with_loss = any("loss" in c for c in curves.values())
    fig = make_subplots(
        rows=1, cols=2 if with_loss else 1, subplot_titles=[metric, "loss"] if with_loss else [metric]
    )
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for i, (number, c) in enumerate(curves.items()):
        color = palette[i % len(palette)]
        for col, key in ((1, "eval"), (2, "loss")):
            if key not in c or (col == 2 and not with_loss):
                continue
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in c[key]],
                    y=[p[1] for p in c[key]],
                    mode="lines+markers",
                    name=f"trial {number}",
                    legendgroup=str(number),
                    showlegend=col == 1 or "eval" not in c,
                    line={"color": color},
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="step")
    fig.update_layout(title="Learning curves of the top trials")
    sec.html = _div(fig, "plot-curves")
    return sec


# ---- PNGs (matplotlib, no pyplot state) ----------------------------------------------------------


def _png(path: Path, draw: Callable[[Any], None], *, ncols: int = 1) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * ncols, 4.0), dpi=110, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    draw(axes)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return write_atomic(path, buffer.getvalue())


def _pngs(
    record: StudyRecord,
    stem: Path,
    complete: list[TrialRecord],
    pareto: _ParetoData | None,
    params: list[str],
    importances: dict[str, dict[str, float]],
    curves: dict[int, dict[str, list[tuple[int, float]]]],
) -> list[Path]:
    obj = record.objectives[0]
    out: list[Path] = []
    values = [(t.number, t.metric(obj.metric, record.objectives)) for t in complete]
    values = [(n, v) for n, v in values if v is not None]
    if values:

        def history(axes: Any) -> None:
            ax = axes[0]
            xs, ys = zip(*values, strict=True)
            best, run = [], -math.inf if obj.maximize else math.inf
            for y in ys:
                run = max(run, y) if obj.maximize else min(run, y)
                best.append(run)
            ax.scatter(xs, ys, label=obj.metric, zorder=3)
            ax.step(xs, best, where="post", color="tab:red", label="best so far")
            ax.set(xlabel="trial", ylabel=obj.metric, title=f"{record.name}: optimisation history")
            ax.legend()

        out.append(_png(stem.with_name(f"{stem.name}-history.png"), history))
    if pareto is not None:

        def pareto_plot(axes: Any) -> None:
            ax = axes[0]
            algs = sorted({t.algorithm or "trial" for t in pareto.trials})
            for alg in algs:
                idx = [i for i, t in enumerate(pareto.trials) if (t.algorithm or "trial") == alg]
                ax.scatter(
                    [pareto.points[i][0] for i in idx],
                    [pareto.points[i][1] for i in idx],
                    label=alg,
                    zorder=3,
                )
            ax.plot(
                [pareto.points[i][0] for i in pareto.front],
                [pareto.points[i][1] for i in pareto.front],
                "--",
                color="0.3",
                label="Pareto front",
            )
            for t, (x, y) in zip(pareto.trials, pareto.points, strict=True):
                ax.annotate(str(t.number), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
            ax.set(xlabel="kl", ylabel=pareto.reward, title=f"{pareto.reward} against KL")
            ax.legend()

        out.append(_png(stem.with_name(f"{stem.name}-pareto.png"), pareto_plot))
    if params and values:
        dists = _distributions(record)

        def param_plot(axes: Any) -> None:
            for ax, name in zip(axes, params, strict=True):
                by_alg: dict[str, list[tuple[float, float]]] = {}
                for t in complete:
                    y = t.metric(obj.metric, record.objectives)
                    if name in t.params and y is not None:
                        by_alg.setdefault(t.algorithm or "trial", []).append((float(t.params[name]), y))
                for alg, pts in sorted(by_alg.items()):
                    ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=alg, zorder=3)
                if len(by_alg) > 1:
                    ax.legend()
                if getattr(dists.get(name), "log", False):
                    ax.set_xscale("log")
                ax.set(xlabel=name, ylabel=obj.metric, title=f"{name} against {obj.metric}")

        out.append(_png(stem.with_name(f"{stem.name}-param.png"), param_plot, ncols=len(params)))
    if importances:

        def importance_plot(axes: Any) -> None:
            ax = axes[0]
            metric, imp = next(iter(importances.items()))
            ax.barh(list(imp), list(imp.values()))
            ax.set(xlabel="importance", title=f"Parameter importances for {metric}")

        out.append(_png(stem.with_name(f"{stem.name}-importance.png"), importance_plot))
    if curves:
        with_loss = any("loss" in c for c in curves.values())

        def curves_plot(axes: Any) -> None:
            for col, key, title in ((0, "eval", f"eval/{obj.metric}"), (1, "loss", "loss")):
                if col >= len(axes):
                    continue
                for number, c in curves.items():
                    if key in c:
                        axes[col].plot(
                            [p[0] for p in c[key]],
                            [p[1] for p in c[key]],
                            marker="o",
                            label=f"trial {number}",
                        )
                axes[col].set(xlabel="step", title=title)
                axes[col].legend()

        out.append(_png(stem.with_name(f"{stem.name}-curves.png"), curves_plot, ncols=2 if with_loss else 1))
    return out


def _distributions(record: StudyRecord) -> dict[str, Any]:
    dists: dict[str, Any] = {}
    for t in record.study.get_trials(deepcopy=False):
        dists.update(t.distributions)
    return dists


# ---- table and page -------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4g}"
    return str(value)


def _table_rows(df: Any, mlflow_url: str) -> tuple[list[str], list[dict[str, Any]]]:
    from alignlab.results.compare import to_records

    hidden = {"study", "mlflow_run_id"}
    columns = [c for c in df.columns if c not in hidden] + ["mlflow"]
    exp_ids: dict[str, str | None] = df.attrs.get("experiment_ids", {})
    rows = []
    for rec in to_records(df):
        cells = {c: _fmt(rec.get(c)) for c in columns if c != "mlflow"}
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
    mlflow_url: str = DEFAULT_MLFLOW_URL,
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

    record = open_study(name)
    path = Path(out) if out is not None else study_dir(name) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    df = table([record])  # joins MLflow run ids and sets record.experiment_id when the store has them
    trials = trial_records(record)
    run_ids = dict(zip(df["trial"].tolist(), df["mlflow_run_id"].tolist(), strict=True))
    for t in trials:
        t.mlflow_run_id = t.mlflow_run_id or run_ids.get(t.number)
    complete = _complete(trials)
    params = main_params(trials)
    pareto = _pareto_data(record, trials)
    curves = _curves(record, _top_trials(record, trials, top_curves))

    if record.objectives:
        importance, importances = _importance(record, complete)
        sections = [
            _history(record, complete),
            _parallel(record, complete),
            importance,
            _pareto(record, pareto),
            _param(record, complete, params),
            _curves_section(record, curves),
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
    page = env.get_template("report.html.j2").render(
        study=record,
        objectives=record.objectives,
        counts=counts,
        n_trials=len(trials),
        best=best[0] if best else None,
        best_params=_params_text(best[0]) if best else "",
        best_value=_fmt(best[0].metric(record.objectives[0].metric, record.objectives)) if best else "",
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
        _pngs(record, path.with_suffix(""), complete, pareto, params, importances, curves) if pngs else []
    )
    notes = [f"{s.key}: {s.note}" for s in sections if s.note]
    return ReportResult(html_path=path, png_paths=png_paths, notes=notes)
