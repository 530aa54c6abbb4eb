"""How well an objective ranks trials against the truth: Kendall's tau and top-1 regret.

Pure Python. On the built-in task every trial also has its gold win rate, so any metric a study logs
can be checked against it: :func:`kendall_tau` (tau-b, ties handled) of the metric with the gold win
rate over a study's completed trials, and :func:`top1_regret`, how much gold win rate is lost by taking
the metric's best trial instead of the gold-best one. ``best`` and the report show this for the study's
own objective (:func:`objective_agreement`); ``tests/benchmarks/objective_fidelity.py`` measures it for
every candidate objective (docs/objectives.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alignlab.sweep.records import StudyRecord, TrialRecord

#: The truth on the built-in task.
GOLD_METRIC = "win_rate"


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two equally long sequences (ties in either count as neither concordant nor
    discordant, and shrink the denominator); NaN when either is constant or has fewer than 2 values."""
    if len(x) != len(y):
        raise ValueError(f"kendall_tau needs sequences of one length, but got {len(x)} and {len(y)}")
    concordant = discordant = ties_x = ties_y = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else math.nan


def resolved_tau(
    candidate: Sequence[float], gold: Sequence[float], gold_again: Sequence[float], *, min_gap: float = 0.02
) -> float:
    """Kendall's tau over the pairs of trials whose order the truth itself resolves: two independent
    evaluations of the gold win rate (``gold``, ``gold_again``) order them the same way and their mean
    gap is at least ``min_gap``. Pairs within noise of each other carry no truth to agree with; plain tau
    counts them as coin flips. NaN when no pair is resolved."""
    if not len(candidate) == len(gold) == len(gold_again):
        raise ValueError("resolved_tau needs sequences of one length")
    concordant = discordant = 0
    for i in range(len(gold)):
        for j in range(i + 1, len(gold)):
            first, second = gold[i] - gold[j], gold_again[i] - gold_again[j]
            if first * second <= 0 or abs(first + second) / 2 < min_gap:
                continue
            picked = candidate[i] - candidate[j]
            if picked * first > 0:
                concordant += 1
            elif picked * first < 0:
                discordant += 1
    total = concordant + discordant
    return (concordant - discordant) / total if total else math.nan


def top1_regret(candidate: Sequence[float], gold: Sequence[float], *, maximize: bool = True) -> float:
    """Gold of the gold-best trial minus gold of the candidate's best trial (ties: the worst of them by gold)."""
    if not candidate or len(candidate) != len(gold):
        raise ValueError("top1_regret needs two non-empty sequences of one length")
    best = max(candidate) if maximize else min(candidate)
    picked = min(g for c, g in zip(candidate, gold, strict=True) if c == best)
    return max(gold) - picked


@dataclass(frozen=True)
class Agreement:
    """How a study's objective ranked its completed trials against the gold win rate."""

    metric: str
    tau: float
    regret: float
    n_trials: int


def objective_agreement(record: StudyRecord, trials: Sequence[TrialRecord]) -> Agreement | None:
    """The agreement of a study's first objective with the gold win rate over its completed trials that
    logged both; None when the objective is the gold win rate itself, or fewer than 3 trials have both."""
    objective = record.objectives[0] if record.objectives else None
    if objective is None or objective.metric == GOLD_METRIC:
        return None
    pairs = [
        (value, gold)
        for t in trials
        if t.state == "COMPLETE"
        and (value := t.metric(objective.metric, record.objectives)) is not None
        and (gold := t.metrics.get(GOLD_METRIC)) is not None
    ]
    if len(pairs) < 3:
        return None
    values, golds = [v for v, _ in pairs], [g for _, g in pairs]
    return Agreement(
        objective.metric,
        kendall_tau(values, golds),
        top1_regret(values, golds, maximize=objective.maximize),
        len(pairs),
    )


__all__ = ["GOLD_METRIC", "Agreement", "kendall_tau", "objective_agreement", "resolved_tau", "top1_regret"]
