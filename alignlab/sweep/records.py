"""What a study stores, once: the keys (alignlab.sweep.record_keys), the writers the sweep runner uses
(here), the readers everyone else uses (alignlab.sweep.reading); this module's names are all three.

A study named NAME lives in ``studies/NAME/`` (alignlab.paths): ``sweep.yaml`` is the sweep as last
run, and ``optuna.db`` its Optuna storage unless ``sweep.yaml`` sets ``storage:``. What it holds:

- ``study.user_attrs``: the keys of :class:`StudyAttr`;
- ``trial.params``: the sampled values by TRL (or PEFT LoRA) field names, plus ``algorithm`` when the
  study compares algorithms (alignlab.sweep.spec.ALGORITHM_PARAM);
- ``trial.user_attrs``: the keys of :class:`TrialAttr`;
- MLflow (alignlab.run.tracking): experiment = study name; a parent run tagged ``alignlab.study`` and
  ``alignlab.role=study``; one nested run per trial tagged ``alignlab.study``, ``alignlab.trial_number``,
  ``alignlab.algorithm``, ``alignlab.enqueued``, ``alignlab.trial_state``, with eval metrics as
  ``eval/<metric>``.

The writers (``write_*``) are what alignlab.sweep.study and alignlab.sweep.trial call; ``read_study``,
``trial_records`` and the records they return (alignlab.sweep.reading) are what best, compare, report
and ui read (a study is found and opened by name in alignlab.sweep.catalog). Studies written before this
module existed have the same keys; one whose trials lack ``mlflow_run_id`` is joined to its MLflow runs
through the trial-number tag (``join_mlflow``). Reading never creates anything: a missing SQLite
file is an unknown study (Optuna) or "no MLflow" (tracking store), never opened.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alignlab import paths
from alignlab.sweep.reading import EvalUnits, StudyRecord, TrialRecord, join_mlflow, read_study, trial_records
from alignlab.sweep.record_keys import StudyAttr, TrialAttr, is_discarded, is_enqueued
from alignlab.sweep.spec import Constraint, Objective, SweepSpec

if TYPE_CHECKING:
    import optuna

    from alignlab.run.config import RunConfig
    from alignlab.run.trainer import RunResult


def stored_spec(study: optuna.Study) -> dict[str, Any] | None:
    """The sweep the study was first run with, or None for a new study."""
    spec = study.user_attrs.get(StudyAttr.SPEC)
    return spec if isinstance(spec, dict) else None


def write_study_settings(study: optuna.Study, spec: SweepSpec) -> None:
    """A new study gets the spec, objectives, directions and algorithms; every run writes its constraints
    (a selection rule only, which a resumed sweep may change; best, compare and report then agree)."""
    if stored_spec(study) is None:
        study.set_user_attr(StudyAttr.SPEC, spec.model_dump(mode="json"))
        study.set_user_attr(StudyAttr.OBJECTIVES, [o.metric for o in spec.objectives])
        study.set_user_attr(StudyAttr.DIRECTIONS, [o.direction for o in spec.objectives])
        study.set_user_attr(StudyAttr.ALGORITHMS, spec.algorithms)
    constraints = [c.model_dump() for c in spec.constraints]
    if study.user_attrs.get(StudyAttr.CONSTRAINTS) != constraints:
        study.set_user_attr(StudyAttr.CONSTRAINTS, constraints)
    if study.metric_names != [o.metric for o in spec.objectives]:  # optuna-dashboard's names, not "Objective 0"
        with warnings.catch_warnings(action="ignore"):  # experimental in Optuna 5
            study.set_metric_names([o.metric for o in spec.objectives])


def parent_run_id(study: optuna.Study) -> str | None:
    value = study.user_attrs.get(StudyAttr.MLFLOW_PARENT_RUN_ID)
    return str(value) if value is not None else None


def join_worker(study: optuna.Study) -> int:
    """Count one more worker on the study and return its number (0 for the first). Call it under the
    study's lock (alignlab.sweep.storage.url_lock) so that two workers never get the same number."""
    number = int(study.user_attrs.get(StudyAttr.WORKERS_JOINED, 0))
    study.set_user_attr(StudyAttr.WORKERS_JOINED, number + 1)
    return number


def write_mlflow_ids(study: optuna.Study, *, parent_run_id: str, experiment_id: str, tracking_uri: str) -> None:
    study.set_user_attr(StudyAttr.MLFLOW_PARENT_RUN_ID, parent_run_id)
    study.set_user_attr(StudyAttr.MLFLOW_EXPERIMENT_ID, experiment_id)
    study.set_user_attr(StudyAttr.TRACKING_URI, paths.portable(tracking_uri))  # relative to studies/


def defaults_enqueued(study: optuna.Study) -> bool:
    return bool(study.user_attrs.get(StudyAttr.DEFAULTS_ENQUEUED))


def mark_defaults_enqueued(study: optuna.Study) -> None:
    study.set_user_attr(StudyAttr.DEFAULTS_ENQUEUED, True)


def enqueued_user_attrs() -> dict[str, Any]:
    """The user attrs of an enqueued default (``study.enqueue_trial(..., user_attrs=...)``)."""
    return {TrialAttr.ENQUEUED: True}


def write_trial_config(trial: optuna.Trial, algorithm: str, config: RunConfig) -> None:
    """What a trial is about to run, recorded before it starts."""
    trial.set_user_attr(TrialAttr.ALGORITHM, algorithm)
    trial.set_user_attr(TrialAttr.RUN_CONFIG, paths.portable_tree(config.to_dict()))


def write_trial_result(
    trial: optuna.Trial,
    result: RunResult,
    *,
    constraints: Sequence[Constraint],
    objectives: Sequence[Objective] = (),
) -> None:
    """The run's outcome: its MLflow run, metrics, steps, runtime, adapter, constraint values, fail reason,
    and the evaluation units of the objective and constraint metrics (only those: the study stays small)."""
    trial.set_user_attr(TrialAttr.MLFLOW_RUN_ID, result.mlflow_run_id)
    trial.set_user_attr(TrialAttr.METRICS, result.metrics)
    kept = {o.metric for o in objectives} | {c.metric for c in constraints}
    units = {m: _compact_units(u) for m, u in result.units.items() if m in kept}
    if units:
        trial.set_user_attr(TrialAttr.EVAL_UNITS, units)
    trial.set_user_attr(TrialAttr.STEPS, result.steps)
    trial.set_user_attr(TrialAttr.RUNTIME_S, round(result.runtime_s, 2))
    if result.timings:
        trial.set_user_attr(TrialAttr.TIMINGS, result.timings)
    if result.output_dir:
        trial.set_user_attr(TrialAttr.ADAPTER_PATH, paths.portable(result.output_dir))
    if constraints and (result.status != "pruned" or result.history):
        # A pruned run's last evaluation decides, and a bound it did not measure holds (read as violated,
        # optuna-dashboard would show the trial as infeasible, not as pruned).
        measured, missing = (result.history[-1], 0.0) if result.status == "pruned" else (result.metrics, 1.0)
        trial.set_user_attr(TrialAttr.CONSTRAINT_VALUES, constraint_values(constraints, measured, missing=missing))
    if result.status == "failed":
        write_fail_reason(trial, result.reason or "failed")


def write_judge(study: optuna.Study, source: str, accuracy: float) -> bool:
    """Record the study's judge once (the first completed trial's); True when this call wrote it."""
    if StudyAttr.JUDGE in study.user_attrs:
        return False
    study.set_user_attr(StudyAttr.JUDGE, {"source": source, "accuracy": round(float(accuracy), 4)})
    return True


def _compact_units(units: dict[str, Any]) -> dict[str, Any]:
    return {"key": str(units["key"]), "values": [float(f"{v:.6g}") for v in units["values"]]}


def write_confirmation(study: optuna.Study, confirmation: dict[str, Any]) -> None:
    study.set_user_attr(StudyAttr.CONFIRMATION, confirmation)  # JSON-ready, written whole


def stored_confirmation(study: optuna.Study) -> dict[str, Any] | None:
    value = study.user_attrs.get(StudyAttr.CONFIRMATION)
    return value if isinstance(value, dict) else None


def write_fail_reason(trial: optuna.Trial, reason: str) -> None:
    trial.set_user_attr(TrialAttr.FAIL_REASON, reason)


def write_worker(trial: optuna.Trial, worker: str) -> None:
    trial.set_user_attr(TrialAttr.WORKER, worker)


def write_duplicate(trial: optuna.Trial, number: int) -> None:
    trial.set_user_attr(TrialAttr.DUPLICATE_OF, number)


def counts(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts against the budget: complete, pruned, or failed with a reason of its own."""
    from optuna.trial import TrialState

    return "alignlab.prior" not in trial.user_attrs and (  # warm-start priors never count (sweep.warm_start)
        trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (trial.state == TrialState.FAIL and TrialAttr.FAIL_REASON in trial.user_attrs)
    )


def constraint_values(
    constraints: Sequence[Constraint], metrics: dict[str, float], *, missing: float = 1.0
) -> list[float]:
    """One value per bound, <= 0 when it holds; a missing metric gives ``missing`` (1.0: violated)."""
    values = []
    for con in constraints:
        value = metrics.get(con.metric)
        if con.max is not None:
            values.append(missing if value is None else value - con.max)
        if con.min is not None:
            values.append(missing if value is None else con.min - value)
    return values


def stored_constraint_values(trial: optuna.trial.FrozenTrial, n_bounds: int) -> list[float]:
    """A finished trial's constraint values; a trial without them (failed before its run ended) holds."""
    return list(trial.user_attrs.get(TrialAttr.CONSTRAINT_VALUES, [0.0] * n_bounds))


def finished_count(study: optuna.Study) -> int:
    """Trials that count against the budget: complete, pruned, or failed with a reason of their own.

    A trial failed only because its process died (stale heartbeat) or was stopped (Ctrl-C) has no
    reason: it does not count and is retried with the same params. A discarded draw never counts.
    """
    return sum(1 for t in study.get_trials(deepcopy=False) if counts(t))


__all__ = [
    "EvalUnits",
    "StudyAttr",
    "StudyRecord",
    "TrialAttr",
    "TrialRecord",
    "constraint_values",
    "counts",
    "defaults_enqueued",
    "enqueued_user_attrs",
    "finished_count",
    "is_discarded",
    "is_enqueued",
    "join_mlflow",
    "join_worker",
    "mark_defaults_enqueued",
    "parent_run_id",
    "read_study",
    "stored_confirmation",
    "stored_constraint_values",
    "stored_spec",
    "trial_records",
    "write_confirmation",
    "write_duplicate",
    "write_fail_reason",
    "write_judge",
    "write_mlflow_ids",
    "write_study_settings",
    "write_trial_config",
    "write_trial_result",
    "write_worker",
]
