"""Evaluation units from a real evaluation, stored and read back through a real Optuna study, and the
standard errors and within-noise verdicts that `best` builds from them (alignlab.sweep.noise)."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest

from alignlab import task
from alignlab.run.training import RunResult
from alignlab.sweep import records
from alignlab.sweep.best import select_best
from alignlab.sweep.noise import NO_UNITS, leading_trials, trial_difference, versus
from alignlab.sweep.records import TrialAttr, trial_records
from alignlab.sweep.spec import Constraint, Objective

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_a_real_evaluation_keeps_one_unit_per_prompt_and_per_pair_in_order() -> None:
    from alignlab import models
    from alignlab.run.config import EvalSettings
    from alignlab.run.eval_units import pairs_key, prompts_key
    from alignlab.run.evaluation import evaluate_policy

    tok = task.build_tokenizer()
    policy = models.build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2, seed=5)
    reference = models.build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2, seed=6)
    prompts = task.prompts("eval")[:6]
    pairs = [{"prompt": p, "chosen": " the food was great .", "rejected": " the food was bad ."} for p in prompts[:5]]
    settings = EvalSettings(n_prompts=6, samples_per_prompt=3, max_new_tokens=8, seed=7, n_pairs=5)
    report = evaluate_policy(
        policy, tok, prompts=prompts, pairs=pairs, settings=settings, gold=True, ref_model=reference
    )
    by_prompt = {"win_rate", "gold_reward", "malformed_rate", "kl", "response_length"}
    by_pair = {"preference_accuracy", "reward_margin"}
    assert set(report.units) == by_prompt | by_pair == set(report.metrics)
    for metric, units in report.units.items():
        n = 6 if metric in by_prompt else 5
        assert len(units["values"]) == n
        assert units["key"] == (prompts_key(prompts) if metric in by_prompt else pairs_key(pairs))
        # each metric is the mean of its units
        assert sum(units["values"]) / n == pytest.approx(report.metrics[metric], abs=1e-6), metric
    assert set(report.units["preference_accuracy"]["values"]) <= {0.0, 1.0}
    # the same prompts in another order are other units: not paired
    again = evaluate_policy(
        policy, tok, prompts=prompts[::-1], pairs=[], settings=settings, gold=True, ref_model=reference
    )
    assert again.units["win_rate"]["key"] != report.units["win_rate"]["key"]


# ---- units through a real (in-memory) Optuna study -----------------------------------------------


WIN = Objective(metric="win_rate", direction="maximize")
KL_MAX = Constraint(metric="kl", max=5.0)


def _units(values: list[float], key: str = "prompts:x") -> dict[str, Any]:
    return {"key": key, "values": values}


def _result(units: dict[str, dict[str, Any]]) -> RunResult:
    metrics = {m: sum(u["values"]) / len(u["values"]) for m, u in units.items()}
    return RunResult("t", "dpo", "completed", None, {**metrics, "gold_reward": 0.1}, 10, 1.0, None, "/x", units=units)


def _study(trials: list[dict[str, dict[str, Any]]], *, enqueued: int | None = None) -> records.StudyRecord:
    """A real in-memory study whose trial k ran with the units ``trials[k]``, through the runner's writer."""
    study = optuna.create_study(direction="maximize", study_name="s")
    study.set_user_attr(records.StudyAttr.OBJECTIVES, ["win_rate"])
    study.set_user_attr(records.StudyAttr.DIRECTIONS, ["maximize"])
    study.set_user_attr(records.StudyAttr.CONSTRAINTS, [KL_MAX.model_dump()])
    for k, units in enumerate(trials):
        trial = study.ask({"beta": optuna.distributions.FloatDistribution(0.01, 1.0)})
        if k == enqueued:
            trial.set_user_attr(TrialAttr.ENQUEUED, True)
        result = _result(units)
        records.write_trial_result(trial, result, constraints=[KL_MAX], objectives=[WIN])
        study.tell(trial, result.metrics["win_rate"])
    return records.read_study(study, name="s", storage_url="memory")


def _bernoulli(p: float, n: int = 100, shift: int = 0) -> list[float]:
    ones = round(p * n)
    values = [1.0] * ones + [0.0] * (n - ones)
    return values[shift:] + values[:shift]


def test_the_runner_stores_the_objective_and_constraint_units_only_and_compactly() -> None:
    units = {
        "win_rate": _units([0.1234567891, 0.5, 1.0]),
        "kl": _units([0.3, 0.2, 0.1]),
        "response_length": _units([12.0, 13.0, 14.0]),  # neither objective nor constraint: not stored
    }
    record = _study([units])
    stored = record.study.trials[0].user_attrs[TrialAttr.EVAL_UNITS]
    assert set(stored) == {"win_rate", "kl"}
    assert stored["win_rate"] == {"key": "prompts:x", "values": [0.123457, 0.5, 1.0]}
    (trial,) = trial_records(record)
    assert trial.units["kl"].values == [0.3, 0.2, 0.1] and trial.units["kl"].key == "prompts:x"


def test_best_carries_its_standard_error_interval_and_the_trials_within_noise() -> None:
    n = 400
    record = _study(
        [
            {"win_rate": _units(_bernoulli(0.50, n)), "kl": _units([0.1] * n)},  # the default
            {"win_rate": _units(_bernoulli(0.59, n)), "kl": _units([1.0] * n)},
            {"win_rate": _units(_bernoulli(0.58, n, shift=3)), "kl": _units([1.0] * n)},
            {"win_rate": _units(_bernoulli(0.70, n)), "kl": _units([9.0] * n)},  # breaks kl <= 5
        ],
        enqueued=0,
    )
    best = select_best(record)
    assert best is not None and best.number == 1 and best.objectives == ["win_rate"]
    (se,) = best.standard_errors
    assert se == pytest.approx(math.sqrt(0.59 * 0.41 / n), rel=0.06)
    (interval,) = best.intervals
    assert interval is not None and interval[0] < 0.59 < interval[1]
    assert best.metric_errors == {"win_rate": pytest.approx(se), "kl": 0.0}  # the constraint's too
    assert best.within_noise == [2]  # 0.58 is within noise of 0.59; 0.50 is not; 3 is infeasible
    assert best.noise is not None and best.noise.startswith("trials 1 and 2 are within noise of each other")
    trials = {t.number: t for t in trial_records(record)}
    diff = trial_difference(trials[1], trials[0], "win_rate")
    assert diff is not None and diff.paired and diff.beyond_noise and diff.value == pytest.approx(0.09)
    vs = versus(trials[1], trials[0], "win_rate", maximize=True, names=("the best", "the default"))
    assert vs.verdict.startswith("the best beats the default beyond noise on win_rate: the best - the default = +0.090")
    assert vs.se == pytest.approx(se) and vs.other_value == pytest.approx(0.5)


def test_units_on_other_prompts_are_compared_unpaired() -> None:
    record = _study(
        [
            {"win_rate": _units([0.2, 0.4, 0.6, 0.8], key="prompts:a")},
            {"win_rate": _units([0.3, 0.5, 0.7, 0.9], key="prompts:b")},
        ]
    )
    a, b = trial_records(record)
    diff = trial_difference(b, a, "win_rate")
    assert diff is not None and not diff.paired and diff.value == pytest.approx(0.1)
    same = _study([{"win_rate": _units([0.2, 0.4, 0.6, 0.8])}, {"win_rate": _units([0.3, 0.5, 0.7, 0.9])}])
    a, b = trial_records(same)
    paired = trial_difference(b, a, "win_rate")
    assert paired is not None and paired.paired and paired.se == pytest.approx(0.0, abs=1e-12)
    assert paired.beyond_noise  # +0.1 on every prompt: no noise at all


def test_a_study_without_units_reads_and_says_so_once() -> None:
    study = optuna.create_study(direction="maximize")
    for value in (0.5, 0.6):
        study.add_trial(
            optuna.trial.create_trial(
                params={}, distributions={}, value=value, user_attrs={TrialAttr.METRICS: {"win_rate": value}}
            )
        )
    study.set_user_attr(records.StudyAttr.OBJECTIVES, ["win_rate"])
    record = records.read_study(study, name="old", storage_url="memory")
    best = select_best(record)
    assert best is not None and best.number == 1
    assert best.standard_errors == [None] and best.intervals == [None] and best.within_noise == []
    assert best.noise == NO_UNITS
    assert leading_trials(trial_records(record), "win_rate", maximize=True) is None
