"""Kendall's tau-b, top-1 regret and a study's objective agreement with the gold win rate (pure)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from alignlab.sweep.fidelity import kendall_tau, objective_agreement, resolved_tau, top1_regret
from alignlab.sweep.records import StudyRecord, TrialRecord
from alignlab.sweep.spec import Objective


def _tau_by_definition(x: list[float], y: list[float]) -> float:
    """tau-b from its definition, over every pair: (P - Q) / sqrt((P + Q + T_x) (P + Q + T_y))."""
    p = q = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        sx, sy = math.copysign(1, x[i] - x[j]) if x[i] != x[j] else 0, math.copysign(1, y[i] - y[j]) if y[i] != y[j] else 0
        if sx == 0 and sy == 0:
            continue
        if sx == 0:
            tx += 1
        elif sy == 0:
            ty += 1
        elif sx == sy:
            p += 1
        else:
            q += 1
    return (p - q) / math.sqrt((p + q + tx) * (p + q + ty))


def test_kendall_tau_on_known_orders() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [40, 30, 20, 10]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))  # a constant ranks nothing
    with pytest.raises(ValueError, match="one length"):
        kendall_tau([1, 2], [1])


def test_kendall_tau_with_ties_matches_its_definition() -> None:
    rng = random.Random(0)
    for _ in range(50):
        x = [float(rng.randint(0, 4)) for _ in range(9)]
        y = [float(rng.randint(0, 4)) for _ in range(9)]
        if len(set(x)) > 1 and len(set(y)) > 1:
            assert kendall_tau(x, y) == pytest.approx(_tau_by_definition(x, y))


def test_top1_regret_takes_the_candidates_best_and_breaks_ties_against_it() -> None:
    gold = [0.50, 0.60, 0.55]
    assert top1_regret([0.1, 0.9, 0.2], gold) == 0.0
    assert top1_regret([0.9, 0.1, 0.2], gold) == pytest.approx(0.10)
    assert top1_regret([0.9, 0.9, 0.2], gold) == pytest.approx(0.10)  # tied at the top: the worse one counts
    assert top1_regret([0.9, 0.1, 0.2], gold, maximize=False) == 0.0


def _trial(number: int, value: float, gold: float | None) -> TrialRecord:
    metrics = {"judge_win_rate": value, **({"win_rate": gold} if gold is not None else {})}
    return TrialRecord("s", number, "COMPLETE", "dpo", {}, [value], metrics, {})


def test_objective_agreement_of_a_study() -> None:
    record = StudyRecord(
        name="s", storage_url="", tracking_uri="", study=None,
        objectives=[Objective(metric="judge_win_rate", direction="maximize")],
    )
    trials = [_trial(0, 0.6, 0.55), _trial(1, 0.5, 0.50), _trial(2, 0.7, 0.58), _trial(3, 0.4, None)]
    agreement = objective_agreement(record, trials)
    assert agreement is not None
    assert (agreement.metric, agreement.tau, agreement.regret, agreement.n_trials) == ("judge_win_rate", 1.0, 0.0, 3)
    assert objective_agreement(record, trials[:2]) is None  # fewer than 3 trials with both
    gold_study = StudyRecord(
        name="g", storage_url="", tracking_uri="", study=None,
        objectives=[Objective(metric="win_rate", direction="maximize")],
    )
    assert objective_agreement(gold_study, trials) is None  # the truth needs no agreement


def test_a_study_made_before_judges_reads_as_before() -> None:
    """No judge attribute and the gold win rate as its objective: no trust line, no error."""
    from alignlab.sweep.best import trust_lines

    record = StudyRecord(
        name="old", storage_url="", tracking_uri="", study=None,
        objectives=[Objective(metric="win_rate", direction="maximize")],
    )
    assert record.judge is None
    assert trust_lines(record, [_trial(0, 0.6, 0.6), _trial(1, 0.5, 0.5), _trial(2, 0.4, 0.4)]) == []


def test_resolved_tau_counts_only_the_pairs_the_truth_orders_twice() -> None:
    gold = [0.50, 0.51, 0.60, 0.05]
    again = [0.51, 0.50, 0.61, 0.04]  # trials 0 and 1 swap: within noise, not counted
    assert resolved_tau([0.3, 0.2, 0.9, 0.0], gold, again) == 1.0  # every resolved pair in order
    assert resolved_tau([0.2, 0.3, 0.1, 0.0], gold, again) == pytest.approx(1 / 5)  # 3 of 5 concordant
    assert math.isnan(resolved_tau([1, 2], [0.5, 0.5], [0.5, 0.5]))
