"""The report's sections: plotly figures (optuna.visualization where it has the plot) and their notes.

Each ``*_section`` function returns a :class:`Section` with the figure's HTML, or a note saying why the
data for it is missing; alignlab.results.report puts them on the page. A plot has one title: the
section's heading on the page (:attr:`Section.title`); the figures themselves carry none.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alignlab.sweep.records import StudyRecord, TrialRecord

REWARD_METRICS: tuple[str, ...] = ("win_rate", "gold_reward", "preference_accuracy", "reward")


@dataclass
class Section:
    """One plot of the page: its figure, or a note saying why it is missing."""

    key: str
    title: str
    html: str = ""
    """Plotly divs (already HTML)."""
    note: str | None = None
    caption: str | None = None


def complete_trials(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
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


def _div(fig: Any, div_id: str) -> str:
    """The figure as a plotly div, without a title of its own (the section's heading is its title)."""
    import plotly.io as pio

    fig.update_layout(title={"text": ""}, margin={"l": 60, "r": 30, "t": 30, "b": 50}, height=460)
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


def history_section(record: StudyRecord, complete: list[TrialRecord]) -> Section:
    from optuna.visualization import plot_optimization_history

    sec = Section("history", f"Optimisation history ({record.objectives[0].metric})")
    if not complete:
        sec.note = "no complete trials yet"
        return sec
    sec.html = _div(plot_optimization_history(record.study, **_target_kwargs(record)), "plot-history")
    return sec


def parallel_section(record: StudyRecord, complete: list[TrialRecord]) -> Section:
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


def importance_section(
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
        bars = fig.data[0]
        found[obj.metric] = {str(n): float(v) for n, v in zip(bars.y, bars.x, strict=False)}
        div = _div(fig, "plot-importance" if not divs else f"plot-importance-{obj.metric}")
        if len(record.objectives) > 1:  # one figure per objective: each labelled by its metric
            div = f'<h3 class="sub">for {html.escape(obj.metric)}</h3>' + div
        divs.append(div)
    if len(record.objectives) == 1:
        sec.title = f"Parameter importances for {record.objectives[0].metric}"
    sec.html = "\n".join(divs)
    if problems:
        sec.note = "; ".join(problems)
    sec.caption = (
        "PED-ANOVA (Optuna's default): how much each param's good region differs from its whole range."
    )
    return sec, found


@dataclass
class ParetoData:
    """The reward-against-KL points of the complete trials and their Pareto front."""

    reward: str
    points: list[tuple[float, float]]
    """(kl, reward) per trial."""
    trials: list[TrialRecord]
    front: list[int]


def pareto_data(record: StudyRecord, trials: Sequence[TrialRecord]) -> ParetoData | None:
    reward = _reward_metric(record, trials)
    if reward is None:
        return None
    pts, used = [], []
    for t in complete_trials(trials):
        r, k = t.metric(reward, record.objectives), t.metric("kl", record.objectives)
        if r is not None and k is not None:
            pts.append((k, r))
            used.append(t)
    return ParetoData(reward, pts, used, _pareto_front(pts)) if pts else None


def pareto_section(record: StudyRecord, data: ParetoData | None) -> Section:
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
                text=[f"trial {data.trials[i].number}<br>{params_text(data.trials[i])}" for i in idx],
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
    fig.update_layout(xaxis_title="kl", yaxis_title=data.reward)
    sec.html = _div(fig, "plot-pareto")
    sec.caption = "Each complete trial; the dashed line joins the trials no other trial beats on both."
    return sec


def params_text(t: TrialRecord) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in t.params.items())


def param_section(record: StudyRecord, complete: list[TrialRecord], params: list[str]) -> Section:
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


def curves_section(record: StudyRecord, curves: dict[int, dict[str, list[tuple[int, float]]]]) -> Section:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metric = f"eval/{record.objectives[0].metric}"
    sec = Section("curves", "Learning curves of the top trials")
    if not curves:
        sec.note = "no metric history: neither MLflow eval/loss histories nor intermediate values"
        return sec
    with_loss = any("loss" in c for c in curves.values())
    fig = make_subplots(rows=1, cols=2 if with_loss else 1, horizontal_spacing=0.12)
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
    fig.update_yaxes(title_text=metric, row=1, col=1)
    if with_loss:
        fig.update_yaxes(title_text="training loss", row=1, col=2)
    sec.html = _div(fig, "plot-curves")
    n_eval = max((len(c.get("eval", [])) for c in curves.values()), default=0)
    sec.caption = (
        f"{metric} at every evaluation the trials logged (up to {n_eval} each: the intermediate ones every "
        "eval.every_n_steps, on fewer prompts, and the final one); the training loss at every logging step."
    )
    return sec


def fmt(value: Any) -> str:
    """A value as the report shows it: floats to 4 significant digits, booleans as yes/no, None as blank."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4g}"
    return str(value)
