"""The best trial of a study, by a stated rule, and what is done with it: shown, exported, compared.

:func:`select_best` reads the study's records (alignlab.sweep.records), so the runner, ``alignlab best``,
``sweep status`` and the quick start choose the same trial.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError
from alignlab.paths import write_atomic
from alignlab.run.config import RunConfig
from alignlab.sweep.records import (
    StudyRecord,
    TrialRecord,
    constraint_values,
    finished_count,
    is_discarded,
    list_studies,
    open_study,
    trial_records,
)
from alignlab.sweep.spec import Objective


@dataclass
class BestTrial:
    """The chosen trial and the rule that chose it."""

    number: int
    params: dict[str, Any]
    values: list[float]
    metrics: dict[str, float]
    rule: str
    """How it was chosen, in words (objective, constraints, Pareto front)."""
    run_config: dict[str, Any]
    mlflow_run_id: str | None
    output_dir: str | None
    enqueued: bool


def pareto_front(trials: Sequence[TrialRecord], objectives: Sequence[Objective]) -> list[TrialRecord]:
    """The trials no other trial dominates (at least as good on every objective, better on one)."""

    def signed(t: TrialRecord) -> list[float]:
        return [
            (1.0 if o.maximize else -1.0) * float(v) for o, v in zip(objectives, t.values or [], strict=False)
        ]

    points = [signed(t) for t in trials]
    return [
        t
        for t, p in zip(trials, points, strict=True)
        if not any(all(a >= b for a, b in zip(q, p, strict=True)) and q != p for q in points)
    ]


def select_best(record: StudyRecord, trials: Sequence[TrialRecord] | None = None) -> BestTrial | None:
    """The best complete trial, by a stated rule; None when no trial completed.

    The pool is the trials that meet every constraint (all complete trials if none does). Single
    objective: the best value in the pool. Several objectives: the Pareto front of the pool, then on
    it the best first objective.
    """
    trials = trial_records(record) if trials is None else trials
    complete = [t for t in trials if t.state == "COMPLETE" and t.values]
    if not complete:
        return None
    first = record.objectives[0]
    sign = 1.0 if first.maximize else -1.0
    rule = f"{'highest' if sign > 0 else 'lowest'} {first.metric}"
    if record.multi_objective:
        rule += " on the Pareto front of " + " / ".join(
            f"{o.metric} ({o.direction})" for o in record.objectives
        )
    pool = complete
    if record.constraints:
        feasible = [
            t for t in complete if all(v <= 0 for v in constraint_values(record.constraints, t.metrics))
        ]
        bounds = ", ".join(c.describe() for c in record.constraints)
        if feasible:
            pool, rule = feasible, rule + f" among trials with {bounds}"
        else:
            rule += f" (no trial met {bounds}; all were considered)"
    if record.multi_objective:
        pool = pareto_front(pool, record.objectives)
    best = max(pool, key=lambda t: sign * (t.values or [0.0])[0])
    return BestTrial(
        number=best.number,
        params=dict(best.all_params),
        values=list(best.values or []),
        metrics=dict(best.metrics),
        rule=rule,
        run_config=dict(best.run_config),
        mlflow_run_id=best.mlflow_run_id,
        output_dir=best.adapter_path,
        enqueued=best.enqueued,
    )


def enqueued_baseline(trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """The first complete trial that was enqueued (a literature default), if any."""
    return next((t for t in trials if t.state == "COMPLETE" and t.enqueued), None)


def export_best(
    best: BestTrial, path: str | Path, *, name: str, max_steps: int | None = None, full_data: bool = False
) -> RunConfig:
    """Write the best trial's run config so that ``alignlab train`` reproduces it (longer / on all data if asked)."""
    raw = dict(best.run_config)
    if not raw:
        raise UserInputError(f"trial {best.number}: the study recorded no run config to export")
    raw["name"] = name
    raw.pop("output_dir", None)
    raw.pop("experiment", None)
    if max_steps is not None:
        raw["params"] = {**raw.get("params", {}), "max_steps": max_steps}
    if full_data:
        raw["data"] = {k: v for k, v in raw.get("data", {}).items() if k != "max_examples"}
    config = RunConfig.model_validate(raw)
    write_atomic(Path(path), f"# Best trial {best.number}: {best.rule}\n" + config.to_yaml())
    return config


def study_status(record: StudyRecord) -> dict[str, Any]:
    """Progress of a study: the budget, finished trials, trials by state, the best trial and its values."""
    states = Counter(t.state.name for t in record.study.get_trials(deepcopy=False) if not is_discarded(t))
    best = select_best(record)
    return {
        "n_trials": record.n_trials,
        "finished": finished_count(record.study),
        "states": dict(states),
        "best_trial": best.number if best else None,
        "best_values": best.values if best else None,
        "objectives": [o.metric for o in record.objectives],
    }


def study_summaries() -> list[dict[str, Any]]:
    """Every study under studies/ that opens: name, algorithms, and its :func:`study_status`."""
    rows = []
    for name in list_studies():
        try:
            record = open_study(name)
        except UserInputError:
            continue
        rows.append({"name": name, "algorithms": record.algorithms, **study_status(record)})
    return rows
