"""The study report's PNGs (matplotlib, no pyplot state): the key plots as images beside the HTML page.

:func:`write_pngs` writes ``<stem>-history.png``, ``-pareto``, ``-param``, ``-importance`` and ``-curves``
for what the report has data for (alignlab.results.report gathers it).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.paths import write_atomic
from alignlab.sweep.records import StudyRecord, TrialRecord

if TYPE_CHECKING:
    from alignlab.results.report_figures import ParetoData


def _png(path: Path, draw: Callable[[Any], None], *, ncols: int = 1) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * ncols, 4.0), dpi=110, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    draw(axes)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return write_atomic(path, buffer.getvalue())


def write_pngs(
    record: StudyRecord,
    stem: Path,
    complete: list[TrialRecord],
    pareto: ParetoData | None,
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
