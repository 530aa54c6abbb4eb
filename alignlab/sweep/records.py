"""What a study stores, once: the keys, the writers the sweep runner uses, the readers everyone else uses.

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

The writers (``write_*``) are what alignlab.sweep.study calls; :func:`read_study`, :func:`trial_records`
and the records they return are what best, compare, report and ui read (a study is found and opened by
name in alignlab.sweep.catalog). Studies written before this
module existed have the same keys; one whose trials lack ``mlflow_run_id`` is joined to its MLflow runs
through the trial-number tag (:func:`join_mlflow`). Reading never creates anything: a missing SQLite
file is an unknown study (Optuna) or "no MLflow" (tracking store), never opened.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from alignlab import paths
from alignlab.paths import default_tracking_uri
from alignlab.run import tracking
from alignlab.sweep.spec import ALGORITHM_PARAM, Budget, Constraint, Objective, SweepSpec

if TYPE_CHECKING:
    import optuna

    from alignlab.run.config import RunConfig
    from alignlab.run.training import RunResult


class StudyAttr:
    """Keys of ``study.user_attrs``."""

    SPEC: Final = "spec"
    """The sweep as first run (``SweepSpec.model_dump(mode="json")``, URLs without their secrets); a resume
    must match its search space."""
    OBJECTIVES: Final = "objectives"
    """The objectives' metric names, in order (keys of alignlab.run.config.METRICS)."""
    DIRECTIONS: Final = "directions"
    """``maximize`` or ``minimize`` per objective."""
    CONSTRAINTS: Final = "constraints"
    """The feasibility bounds ``[{metric, max, min}]`` of the sweep as last run."""
    ALGORITHMS: Final = "algorithms"
    """The algorithms the study trains."""
    DEFAULTS_ENQUEUED: Final = "defaults_enqueued"
    """True once the sweep's ``enqueue`` defaults were enqueued (they are enqueued once per study)."""
    MLFLOW_PARENT_RUN_ID: Final = "mlflow_parent_run_id"
    """The study's parent run in MLflow, resumed by later invocations."""
    MLFLOW_EXPERIMENT_ID: Final = "mlflow_experiment_id"
    TRACKING_URI: Final = "tracking_uri"
    """The MLflow store of the study's runs (without its password: alignlab.sweep.secrets; paths.portable)."""
    WORKERS_JOINED: Final = "workers_joined"
    """How many worker processes have joined the study; worker k seeds its sampler from (seed, k)."""
    CONFIRMATION: Final = "confirmation"
    """The last ``best NAME --confirm K`` (alignlab.sweep.confirm): its metric, choice, settings and per-trial
    confirmed estimates. On the study, as Optuna refuses user attrs on a finished trial."""
    JUDGE: Final = "judge"
    """The study's judge (alignlab.run.judges), written by its first completed trial: ``{"source": ...,
    "accuracy": ...}``, its accuracy on the held-out pairs it never trained on; absent without a judge."""


class TrialAttr:
    """Keys of ``trial.user_attrs``."""

    ALGORITHM: Final = "algorithm"
    RUN_CONFIG: Final = "run_config"
    """The trial's RunConfig (``RunConfig.to_dict()``): what ``best --export`` writes."""
    METRICS: Final = "metrics"
    """Final held-out metrics (keys of alignlab.run.config.METRICS); empty unless the run completed."""
    STEPS: Final = "steps"
    RUNTIME_S: Final = "runtime_s"
    FAIL_REASON: Final = "fail_reason"
    """Why the run failed, in one line. A FAIL without it is a trial whose process died: not counted, retried."""
    ADAPTER_PATH: Final = "adapter_path"
    """The folder with the trained adapter (or model), config.yaml and metrics.json (paths.portable: {studies}/...)."""
    MLFLOW_RUN_ID: Final = "mlflow_run_id"
    ENQUEUED: Final = "enqueued"
    """True for a trial enqueued from the sweep's ``enqueue`` (a literature default)."""
    CONSTRAINT_VALUES: Final = "constraint_values"
    """One value per bound, <= 0 when it holds (Optuna's convention); read by constrained samplers."""
    WORKER: Final = "worker"
    """The worker that ran the trial: ``host:pid`` and its join number."""
    EVAL_UNITS: Final = "eval_units"
    """Per-prompt (per-pair) values behind the final objective and constraint metrics (run.evaluation.Units,
    6 significant digits), to bootstrap their standard errors from; absent in studies made before."""
    TIMINGS: Final = "timings"
    """Where the run's wall time went (RunResult.timings: train_s, eval_s, judge_s, judge_train_s)."""
    DUPLICATE_OF: Final = "duplicate_of"
    """A discarded draw: the sampler proposed the params of this earlier trial. Such a trial is FAIL,
    never run, never counted, and left out of every reading (:func:`trial_records`)."""


# ---- writers: what alignlab.sweep.study records ---------------------------------------------------


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


def is_enqueued(trial: optuna.Trial | optuna.trial.FrozenTrial) -> bool:
    return bool(trial.user_attrs.get(TrialAttr.ENQUEUED, False))


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


def is_discarded(trial: optuna.trial.FrozenTrial) -> bool:
    return TrialAttr.DUPLICATE_OF in trial.user_attrs


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


# ---- readers: what best, compare, report and ui use ------------------------------------------------


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
