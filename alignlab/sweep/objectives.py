"""What a sweep may optimise: the metrics its objectives and constraints name, what each needs (the
built-in task's gold reward, a judge), and how far each was measured to rank trials like the truth.

On data without a gold reward the proxies a sweep could optimise (held-out preference accuracy, the
implicit reward margin, the training reward model's own score) rank trials against the truth: on the
built-in task, where the gold win rate is known, their Kendall tau with it was negative in some studies
and their top trial a collapsed model; so was the plain win rate under a judge, which collapsed models
fool. The judge's win rate priced by KL (``judge_win_rate_kl``) ranked every study's trials like the truth
(tau >= 0.82) and picked a trial within 0.05 of the best, within the judge's noise of it. ``MEASURED`` holds those figures (docs/objectives.md, by
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
RECOMMENDED = "judge_win_rate_kl"
RECOMMENDED_JUDGE: dict[str, object] = {"train_on": "heldout", "fraction": 0.2}


@dataclass(frozen=True)
class Fidelity:
    """One objective's measured agreement with the gold win rate, over the benchmark's studies."""

    worst_tau: float
    """The lowest Kendall tau with the gold win rate in any of the studies."""
    worst_resolved_tau: float
    """The lowest tau over the pairs of trials the gold win rate itself orders (alignlab.sweep.fidelity)."""
    worst_regret: float
    """The largest top-1 regret (gold win rate lost by taking the objective's best trial)."""


#: Measured on the built-in task by ``python tests/benchmarks/objective_fidelity.py --unseen --threads 1``
#: (docs/objectives.md): five studies of 12 completed trials (DPO with its SFT term, KTO, SimPO, ORPO, and
#: IPO with a seed and ranges the default was not chosen on), a held-out judge on 20% of the prompts.
MEASURED: dict[str, Fidelity] = {
    "preference_accuracy": Fidelity(0.23, 0.27, 0.776),
    "reward_margin": Fidelity(-0.23, -0.32, 0.776),
    "judge_win_rate": Fidelity(-0.05, -0.15, 0.383),
    "judge_reward": Fidelity(-0.05, -0.15, 0.383),
    "judge_win_rate_kl": Fidelity(0.82, 0.83, 0.050),
}
#: An objective whose best trial was this much (gold win rate) below the best in some study is poor.
POOR_REGRET = 0.05


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
    better = MEASURED[RECOMMENDED]
    judge = "" if spec.judge is not None else " with judge: {train_on: heldout, fraction: 0.2}"
    warnings = []
    for i, objective in enumerate(spec.objectives):
        measured = MEASURED.get(objective.metric)
        if measured is None or measured.worst_regret <= POOR_REGRET:
            continue
        warnings.append(
            f"{where}: objectives.{i}.metric: {objective.metric} picked a poor trial where it was measured (its top "
            f"trial up to {measured.worst_regret:.2f} gold win rate below the best, Kendall tau with the truth down to "
            f"{measured.worst_tau:.2f}; docs/objectives.md); optimise {RECOMMENDED}{judge} instead (regret at most "
            f"{better.worst_regret:.3f})"
        )
    return warnings


__all__ = ["GOLD_METRICS", "MEASURED", "POOR_REGRET", "RECOMMENDED", "Fidelity", "fidelity_warnings", "metric_problems"]
