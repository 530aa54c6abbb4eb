"""What a sweep may optimise: the metrics its objectives and constraints name, what each needs (the
built-in task's gold reward, a judge), and how far each was measured to rank trials like the truth.

On data without a gold reward the proxies a sweep could optimise (held-out preference accuracy, the
implicit reward margin, the training reward model's own score) rank trials against the truth: on the
built-in task, where the gold win rate is known, their Kendall tau with it was negative in some studies
and their top trial a collapsed model. The win rate under a judge trained on held-out pairs ranked them
like the gold win rate. ``MEASURED`` holds those figures (docs/objectives.md, by
``tests/benchmarks/objective_fidelity.py``); ``alignlab validate`` warns where a sweep on your data
optimises an objective whose measured fidelity is poor, and names the better one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from alignlab.run.config import JUDGE_METRICS, METRICS

if TYPE_CHECKING:
    from alignlab.sweep.spec import SweepSpec

#: Metrics that exist only on the built-in task (its gold reward scores them).
GOLD_METRICS: tuple[str, ...] = ("win_rate", "gold_reward", "malformed_rate")
#: The objective for data without a gold reward, and the judge it needs, as a sweep file writes them.
RECOMMENDED = "judge_win_rate"
RECOMMENDED_JUDGE: dict[str, object] = {"train_on": "heldout", "fraction": 0.2}


@dataclass(frozen=True)
class Fidelity:
    """One objective's measured agreement with the gold win rate, over the benchmark's studies."""

    worst_tau: float
    """The lowest Kendall tau with the gold win rate in any of the studies."""
    worst_regret: float
    """The largest top-1 regret (gold win rate lost by taking the objective's best trial)."""


#: Measured on the built-in task (docs/objectives.md): 5 studies, DPO+SFT, KTO, SimPO, ORPO and plain DPO.
MEASURED: dict[str, Fidelity] = {}
#: Below this worst-case tau an objective is reported as poor by ``alignlab validate``.
POOR_TAU = 0.5


def metric_problems(spec: SweepSpec, where: str) -> list[str]:
    """Each objective and constraint names a known metric that this sweep can measure."""
    problems: list[str] = []
    named = [("objectives", i, o.metric) for i, o in enumerate(spec.objectives)] + [
        ("constraints", i, c.metric) for i, c in enumerate(spec.constraints)
    ]
    for section, i, metric in named:
        at = f"{where}: {section}.{i}.metric"
        if metric not in METRICS:
            problems.append(f"{at}: unknown metric {metric!r} (expected one of {', '.join(METRICS)})")
        elif spec.data.task is None and metric in GOLD_METRICS:
            problems.append(
                f"{at}: {metric} needs the built-in task's gold reward (data: {{task: builtin}}); on your data "
                f"use {RECOMMENDED} with judge: {{train_on: heldout, fraction: 0.2}} (docs/objectives.md)"
            )
        elif spec.judge is None and metric in JUDGE_METRICS:
            problems.append(
                f"{at}: {metric} needs a judge (judge: {{train_on: heldout, fraction: 0.2}}, "
                "{reward_model: PATH} or {function: module:fn})"
            )
    return problems


def fidelity_warnings(spec: SweepSpec, where: str) -> list[str]:
    """One line per objective of a sweep on data without a gold reward whose measured fidelity is poor."""
    if spec.data.task is not None:
        return []
    warnings = []
    for i, objective in enumerate(spec.objectives):
        measured = MEASURED.get(objective.metric)
        if measured is None or measured.worst_tau >= POOR_TAU:
            continue
        better = MEASURED.get(RECOMMENDED)
        shown = f" (tau >= {better.worst_tau:.2f})" if better is not None else ""
        judge = "" if spec.judge is not None else " with judge: {train_on: heldout, fraction: 0.2}"
        warnings.append(
            f"{where}: objectives.{i}.metric: {objective.metric} ranked trials against the truth where it was "
            f"measured (Kendall tau with the gold win rate down to {measured.worst_tau:.2f}, its top trial up to "
            f"{measured.worst_regret:.2f} below the best; docs/objectives.md); optimise {RECOMMENDED}{judge} "
            f"instead{shown}"
        )
    return warnings


__all__ = ["GOLD_METRICS", "MEASURED", "RECOMMENDED", "Fidelity", "fidelity_warnings", "metric_problems"]
