"""A study's records read back: what best, compare, report and ui use (a study is found and opened by
name in alignlab.sweep.catalog). Studies written before alignlab.sweep.records existed have the same
keys; one whose trials lack ``mlflow_run_id`` is joined to its MLflow runs through the trial-number tag
(:func:`join_mlflow`). Reading never creates anything.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignlab import paths
from alignlab.paths import default_tracking_uri
from alignlab.run import tracking
from alignlab.sweep.record_keys import StudyAttr, TrialAttr, is_discarded, is_enqueued
from alignlab.sweep.spec import ALGORITHM_PARAM, Budget, Constraint, Objective

if TYPE_CHECKING:
    import optuna


@dataclass
class StudyRecord:
    """A study opened for reading."""

    name: str
    storage_url: str
    tracking_uri: str
    study: Any
    """The ``optuna.Study``."""
    objectives: list[Objective]
    constraints: list[Constraint] = field(default_factory=list)
    experiment_id: str | None = None
    parent_run_id: str | None = None
    algorithms: list[str] = field(default_factory=list)
    n_trials: int = Budget().n_trials
    """The budget of finished trials (sweep.yaml's ``budget.n_trials``)."""
    judge: dict[str, Any] | None = None
    """:attr:`StudyAttr.JUDGE`: the study's judge and its held-out accuracy; None without one."""

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


@dataclass
class EvalUnits:
    """One metric's evaluation units (:attr:`TrialAttr.EVAL_UNITS`): one value per held-out prompt or pair."""

    key: str
    """Fingerprint of the prompts (pairs) in order: two trials with the same key can be compared paired."""
    values: list[float]


@dataclass
class TrialRecord:
    """One trial, flattened from Optuna (and MLflow for the run id when Optuna lacks it)."""

    study: str
    number: int
    state: str
    """COMPLETE, PRUNED, FAIL, RUNNING or WAITING."""
    algorithm: str | None
    params: dict[str, Any]
    """Sampled params by TRL names, without ``algorithm``."""
    values: list[float] | None
    metrics: dict[str, float]
    """Final held-out metrics, finite values only."""
    intermediate: dict[int, float]
    steps: int | None = None
    runtime_s: float | None = None
    mlflow_run_id: str | None = None
    enqueued: bool = False
    fail_reason: str | None = None
    all_params: dict[str, Any] = field(default_factory=dict)
    """The trial's Optuna params as stored: ``params`` plus ``algorithm`` when the study compares algorithms."""
    run_config: dict[str, Any] = field(default_factory=dict)
    adapter_path: str | None = None
    units: dict[str, EvalUnits] = field(default_factory=dict)
    """The final evaluation's units of the objective and constraint metrics; empty in older studies."""

    def metric(self, name: str, objectives: Sequence[Objective]) -> float | None:
        """A metric's final value: a complete trial's objective value when it is one, else ``metrics``.

        A pruned trial's Optuna value is its last intermediate value, not a final metric: not used.
        """
        for i, obj in enumerate(objectives):
            if (
                obj.metric == name
                and self.state == "COMPLETE"
                and self.values is not None
                and i < len(self.values)
            ):
                return _finite(self.values[i])
        return _finite(self.metrics.get(name))


def read_study(
    study: optuna.Study, *, name: str, storage_url: str, settings: dict[str, Any] | None = None
) -> StudyRecord:
    """The record of an open study; ``settings`` is its sweep as a mapping (sweep.yaml), for what attrs lack."""
    settings = settings or {}
    attrs = study.user_attrs
    names = list(attrs.get(StudyAttr.OBJECTIVES) or [])
    directions = list(attrs.get(StudyAttr.DIRECTIONS) or [d.name.lower() for d in study.directions])
    if not names:
        names = list(study.metric_names or [f"objective_{i}" for i in range(len(directions))])
    raw_constraints = attrs.get(StudyAttr.CONSTRAINTS)
    if raw_constraints is None:
        raw_constraints = settings.get("constraints") or []
    uri = (
        attrs.get(StudyAttr.TRACKING_URI)
        or settings.get("tracking_uri")
        or os.environ.get("MLFLOW_TRACKING_URI")
        or default_tracking_uri()
    )
    budget = settings.get("budget")
    n_trials = budget.get("n_trials") if isinstance(budget, dict) else None
    exp, parent = attrs.get(StudyAttr.MLFLOW_EXPERIMENT_ID), attrs.get(StudyAttr.MLFLOW_PARENT_RUN_ID)
    return StudyRecord(
        name=name,
        storage_url=storage_url,
        tracking_uri=tracking.absolute_sqlite(paths.resolve_stored(str(uri))),
        study=study,
        objectives=[Objective(metric=m, direction=d) for m, d in zip(names, directions, strict=False)],
        constraints=[Constraint.model_validate(c) for c in raw_constraints],
        experiment_id=str(exp) if exp is not None else None,
        parent_run_id=str(parent) if parent is not None else None,
        algorithms=list(attrs.get(StudyAttr.ALGORITHMS) or []),
        n_trials=int(n_trials) if isinstance(n_trials, int) else Budget().n_trials,
        judge=attrs.get(StudyAttr.JUDGE) if isinstance(attrs.get(StudyAttr.JUDGE), dict) else None,
    )


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _read_units(raw: Any) -> dict[str, EvalUnits]:
    """The stored units, leniently: an entry that is not ``{"key": str, "values": [numbers]}`` is left out."""
    entries = raw.items() if isinstance(raw, dict) else []
    found = {
        m: (e.get("key", ""), [_finite(v) for v in e["values"]])
        for m, e in entries
        if isinstance(e, dict) and isinstance(e.get("values"), list) and e["values"]
    }
    return {str(m): EvalUnits(str(k), vs) for m, (k, vs) in found.items() if None not in vs}  # type: ignore[arg-type]


def trial_records(record: StudyRecord) -> list[TrialRecord]:
    """Every trial of the study, in trial-number order."""
    out = []
    for t in record.study.get_trials(deepcopy=False):
        if is_discarded(t):
            continue
        ua = t.user_attrs
        params = {k: v for k, v in t.params.items() if k != ALGORITHM_PARAM}
        algorithm = ua.get(TrialAttr.ALGORITHM) or t.params.get(ALGORITHM_PARAM)
        if algorithm is None and len(record.algorithms) == 1:
            algorithm = record.algorithms[0]
        runtime = _finite(ua.get(TrialAttr.RUNTIME_S))
        if runtime is None and t.datetime_start is not None and t.datetime_complete is not None:
            runtime = (t.datetime_complete - t.datetime_start).total_seconds()
        steps = ua.get(TrialAttr.STEPS)
        metrics = {
            k: v
            for k, v in ((k, _finite(v)) for k, v in (ua.get(TrialAttr.METRICS) or {}).items())
            if v is not None
        }
        out.append(
            TrialRecord(
                study=record.name,
                number=t.number,
                state=t.state.name,
                algorithm=str(algorithm) if algorithm is not None else None,
                params=params,
                values=list(t.values) if t.values is not None else None,
                metrics=metrics,
                intermediate={int(k): float(v) for k, v in t.intermediate_values.items()},
                steps=int(steps) if isinstance(steps, int | float) and not isinstance(steps, bool) else None,
                runtime_s=runtime,
                mlflow_run_id=ua.get(TrialAttr.MLFLOW_RUN_ID),
                enqueued=is_enqueued(t),
                fail_reason=ua.get(TrialAttr.FAIL_REASON),
                all_params=dict(t.params),
                run_config=paths.resolve_tree(dict(ua.get(TrialAttr.RUN_CONFIG) or {})),
                adapter_path=paths.resolve_stored(ua.get(TrialAttr.ADAPTER_PATH) or "") or None,
                units=_read_units(ua.get(TrialAttr.EVAL_UNITS)),
            )
        )
    return out


def join_mlflow(record: StudyRecord, trials: list[TrialRecord]) -> dict[int, tracking.MlflowRun]:
    """Fill each trial's missing ``mlflow_run_id`` from MLflow's trial-number tags; returns the runs found.

    Sets ``record.experiment_id`` when the study did not record it.
    """
    experiment_id, runs = tracking.study_trial_runs(
        record.tracking_uri, record.name, experiment_id=record.experiment_id
    )
    record.experiment_id = experiment_id
    for t in trials:
        run = runs.get(t.number)
        if t.mlflow_run_id is None and run is not None:
            t.mlflow_run_id = run.run_id
    return runs


__all__ = ["EvalUnits", "StudyRecord", "TrialRecord", "join_mlflow", "read_study", "trial_records"]
