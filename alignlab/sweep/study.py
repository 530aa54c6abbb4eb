"""Sweeps as Optuna studies: a sweep file in, trials run and recorded, the best configuration out.

- One Optuna study per sweep, in ``spec.storage`` (any Optuna RDB URL; default SQLite under
  studies/<name>/), so several workers can share it.
- Each trial builds a :class:`~alignlab.run.config.RunConfig` from the fixed settings and the sampled
  params (named after the TRL field they set) and calls the trainer: by default
  :func:`alignlab.run.training.run_training`; ``run_sweep(spec, train=...)`` takes any function with its
  signature (:class:`Trainer`), which is how the tests run real studies over analytic objectives.
- Intermediate evaluations feed the pruner; a failed run (OOM, NaN, diverged KL) is recorded with its
  reason and the study goes on.
- Workers: any number of processes running the same sweep on one storage (any machine) share the
  study; alignlab.sweep.claims decides which runs what, against an exact budget of finished trials
  (complete, pruned, or failed with a reason): a trial whose worker died is failed once its heartbeat
  is stale and retried with the same params; a sampled draw that repeats another trial is discarded.
  Resume is the same thing: running the sweep again joins the study. The study, its settings, its
  enqueued defaults and the MLflow parent run are created under the study's lock
  (alignlab.sweep.storage), so workers started at one instant do not race.
- Secrets: the storage and tracking URLs are used as given but stored and shown without their
  password (alignlab.sweep.secrets).
- What is stored is alignlab.sweep.records; the best trial is chosen by alignlab.sweep.best.
- MLflow: one experiment per study (artifacts under studies/NAME/mlartifacts, or the server's) with
  one parent run; each trial is a nested child run tagged with its number and state, ending FINISHED,
  FAILED, or KILLED (pruned, or its worker died or was stopped). The parent carries the study settings, and the best trial's params (as tags
  ``best.<param>``: params are immutable in MLflow and the best may change on resume) and metrics
  (``best/<metric>``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from alignlab.errors import UserInputError
from alignlab.paths import default_storage_url, expand_root, portable, study_dir, write_atomic
from alignlab.run import tracking
from alignlab.run.config import LORA_FIELDS, RunConfig
from alignlab.run.disk import room_for_trial
from alignlab.run.mlflow_view import study_view_params
from alignlab.run.trl_fields import known_param_names
from alignlab.sweep import records, secrets
from alignlab.sweep.best import BestTrial, select_best
from alignlab.sweep.claims import Coordinator, TrialFailed, worker_label, worker_seed
from alignlab.sweep.portable import resumed_experiment
from alignlab.sweep.samplers import make_pruner, make_sampler
from alignlab.sweep.spec import ALGORITHM_PARAM, FloatParam, IntParam, SweepSpec
from alignlab.sweep.storage import open_storage, url_lock

if TYPE_CHECKING:
    import optuna

    from alignlab.run.training import EvaluateHook, RunResult, StepHook

class Trainer(Protocol):
    """What :func:`run_sweep` calls once per trial: :func:`alignlab.run.training.run_training`'s signature.

    It returns a RunResult whose status is completed, pruned or failed (it does not raise for a failed
    run); ``on_evaluate`` returning True asks it to stop (pruned).
    """

    def __call__(
        self,
        config: RunConfig,
        *,
        on_evaluate: EvaluateHook | None = None,
        on_step: StepHook | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunResult: ...


@dataclass
class SweepEvent:
    """Progress of a sweep, for a live display."""

    kind: str
    """``trial_started`` | ``step`` | ``trial_finished``."""
    trial_number: int
    finished: int
    """Trials finished so far (the budget's count)."""
    n_trials: int
    params: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    max_steps: int = 0
    result: RunResult | None = None
    best_value: float | None = None
    worker: str = ""
    """The worker process (``host:pid#k``) the event comes from."""


@dataclass
class SweepOutcome:
    name: str
    storage: str
    """The storage URL, without its password."""
    n_finished: int
    best: BestTrial | None
    mlflow_parent_run_id: str
    tracking_uri: str
    """The MLflow store, without its password."""
    worker: str = ""


def storage_url(spec: SweepSpec, storage: str | None = None) -> str:
    """The URL the study runs on (secrets included): ``storage``, else the file's, else SQLite under studies/."""
    return tracking.absolute_sqlite(expand_root(storage or spec.storage or default_storage_url(spec.name)))


def sample_params(trial: optuna.Trial, spec: SweepSpec) -> tuple[str, dict[str, Any]]:
    """The trial's algorithm and its sampled params (only those its algorithm has)."""
    algorithm = spec.algorithms[0]
    if len(spec.algorithms) > 1:
        algorithm = str(trial.suggest_categorical(ALGORITHM_PARAM, spec.algorithms))
    params: dict[str, Any] = {}
    for name, param in spec.search.items():
        if not _applies(spec, algorithm, name):
            continue
        if isinstance(param, FloatParam):
            params[name] = trial.suggest_float(name, param.low, param.high, log=param.log, step=param.step)
        elif isinstance(param, IntParam):
            params[name] = trial.suggest_int(name, param.low, param.high, log=param.log, step=param.step)
        else:
            params[name] = trial.suggest_categorical(name, param.choices)
    return algorithm, params


def _applies(spec: SweepSpec, algorithm: str, name: str) -> bool:
    """Whether search parameter ``name`` is one of ``algorithm``'s (a TRL field of it, or a LoRA field).

    With one algorithm every search name is (load_sweep checked each against it), so TRL is not
    imported; with several, the names are looked up in the algorithm's TRL config (imports trl).
    """
    if len(spec.algorithms) == 1:
        return name in spec.search
    return name in LORA_FIELDS or name in known_param_names(algorithm)


def trial_config(
    spec: SweepSpec, algorithm: str, sampled: dict[str, Any], number: int, *, tracking_uri: str
) -> RunConfig:
    """The run config of one trial: the sweep's fixed settings with the sampled params set.

    LoRA fields go to ``lora``; ``budget.max_trial_steps`` caps ``max_steps``; with a pruner and no
    ``eval.every_n_steps``, the run evaluates four times. Values pass to TRL as sampled (TRL's configs
    normalise their own fields, e.g. DPOConfig turns a ``loss_type`` string into a list).
    """
    params = dict(spec.fixed_for(algorithm))
    lora_updates: dict[str, Any] = {}
    for name, value in sampled.items():
        if name in LORA_FIELDS:
            lora_updates[name] = value
        else:
            params[name] = value
    cap = spec.budget.max_trial_steps
    if cap is not None:
        params["max_steps"] = (
            min(int(params.get("max_steps", cap)), cap) if int(params.get("max_steps", -1)) > 0 else cap
        )
    evaluation = spec.eval
    if (
        spec.pruner.type != "none"
        and evaluation.every_n_steps is None
        and int(params.get("max_steps", -1)) > 0
    ):
        evaluation = evaluation.model_copy(update={"every_n_steps": max(1, int(params["max_steps"]) // 4)})
    lora = spec.lora.model_copy(update=lora_updates) if spec.lora is not None else None
    return RunConfig(
        name=f"{algorithm}-trial-{number}",
        algorithm=algorithm,
        model=spec.model,
        reward_model=spec.reward_model,
        reward_function=spec.reward_function,
        data=spec.data,
        judge=spec.judge,
        params=params,
        lora=lora,
        eval=evaluation,
        seed=spec.seed,
        tracking_uri=tracking_uri,
        experiment=spec.name,
        output_dir=str(study_dir(spec.name) / "trials" / str(number)),
        cache_reference=spec.cache_reference,
    )


def run_sweep(
    spec: SweepSpec,
    *,
    n_trials: int | None = None,
    storage: str | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
    train: Trainer | None = None,
    storage_key: str = "--storage",
    validated: bool = False,
) -> SweepOutcome:
    """Join (or create) the sweep's study and run trials until ``n_trials`` have finished in it, by
    this worker and every other, or the timeout passes.

    ``train`` runs one trial (default :func:`alignlab.run.training.run_training`). Before anything is
    created, :func:`alignlab.validate.check_sweep` (what ``alignlab validate`` checks) looks at the
    references, the folders, the storage (``storage``, called ``storage_key``) and the MLflow store, so
    bad input writes nothing; ``validated``: the caller just did (:func:`~alignlab.validate.load_valid_sweep`).
    """
    import logging

    import optuna

    from alignlab.validate import check_sweep, n_trials_problems

    url = storage_url(spec, storage)
    secrets.remember(url)
    secrets.remember(spec.tracking_uri)
    checks = [] if validated else check_sweep(spec, where=f"sweep {spec.name}", storage=storage, storage_key=storage_key)
    if problems := checks + n_trials_problems(spec, n_trials):
        raise UserInputError(problems)

    if train is None:
        from alignlab.run.training import quiet_libraries, run_training

        quiet_libraries()
        train = run_training
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed and discarded trials are reported by alignlab
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    budget = n_trials or spec.budget.n_trials
    folder = study_dir(spec.name)
    folder.mkdir(parents=True, exist_ok=True)
    beat = spec.heartbeat
    rdb = open_storage(
        url, heartbeat_interval=beat.interval_s, grace_period=beat.grace_s, max_retry=beat.max_retry
    )
    uri = tracking.use_tracking_uri(expand_root(spec.tracking_uri) if spec.tracking_uri else None)
    stored = _stored_spec(spec, url, uri)
    with url_lock(url, f"study:{spec.name}"):
        study = optuna.create_study(
            study_name=spec.name,
            storage=rdb,
            directions=[o.direction for o in spec.objectives],
            load_if_exists=True,
        )
        _check_same_sweep(study, spec)
        records.write_study_settings(study, stored)
        _enqueue_defaults(study, spec)
        worker = records.join_worker(study)
        parent_id, experiment_id = _parent_run(study, stored, uri)
        objectives = [(o.metric, o.direction) for o in spec.objectives]  # what the MLflow UI shows first
        view_params = study_view_params(spec.algorithms, spec.search)
        tracking.write_study_view(uri, experiment_id, objectives=objectives, params=view_params)
    write_atomic(folder / "sweep.yaml", _spec_yaml(stored))  # readers find the storage a --storage gave
    study.sampler = make_sampler(spec, seed=worker_seed(spec.seed, worker))
    study.pruner = make_pruner(spec)
    label = worker_label(worker)

    def on_ended(ended: Mapping[int, tuple[str, str]]) -> None:
        tracking.close_trial_runs(uri, experiment_id, spec.name, ended)

    coordinator = Coordinator(
        study,
        spec,
        url=url,
        budget=budget,
        label=label,
        sample=lambda trial: sample_params(trial, spec),
        on_ended=on_ended,
        poll_s=min(float(beat.interval_s), 2.0),
    )
    deadline = time.monotonic() + spec.budget.timeout_s if spec.budget.timeout_s else None
    objective = _Objective(spec, study, train, budget, secrets.strip(uri), on_event, label)
    with tracking.study_run(parent_id, experiment_id=experiment_id):
        while room_for_trial(spec, folder / "trials") and coordinator.claim(deadline):  # disk checked first
            coordinator.run_one(objective)
        best = select_best(records.read_study(study, name=spec.name, storage_url=secrets.strip(url)))
        if best is not None:
            _log_best(best)
    coordinator.finish()
    return SweepOutcome(
        spec.name, secrets.strip(url), records.finished_count(study), best, parent_id, secrets.strip(uri), label
    )


def outcome_of(spec: SweepSpec, *, storage: str | None = None, n_workers: int = 1) -> SweepOutcome:
    """The outcome of a sweep that other processes ran (``--workers``), read from its study."""
    import optuna

    url = storage_url(spec, storage)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(url))
    record = records.read_study(study, name=spec.name, storage_url=secrets.strip(url))
    return SweepOutcome(
        spec.name,
        secrets.strip(url),
        records.finished_count(study),
        select_best(record),
        records.parent_run_id(study) or "",
        record.tracking_uri,
        f"{n_workers} local workers",
    )


def _stored_spec(spec: SweepSpec, url: str, uri: str) -> SweepSpec:
    """The sweep as it is written down (studies/NAME/sweep.yaml, Optuna, MLflow): the storage and the
    MLflow store it ran on, without their passwords, relative to studies/ when inside it (paths.portable)."""
    return spec.model_copy(
        update={
            "storage": portable(secrets.strip(url)),
            "tracking_uri": portable(secrets.strip(spec.tracking_uri)) if spec.tracking_uri else None,
        }
    )


class _Objective:
    """One trial: sample, build the run config, train, record, and tell Optuna how it went."""

    def __init__(
        self,
        spec: SweepSpec,
        study: optuna.Study,
        train: Trainer,
        budget: int,
        tracking_uri: str,
        on_event: Callable[[SweepEvent], None] | None,
        worker: str,
    ) -> None:
        self.spec, self.study, self.train, self.budget = spec, study, train, budget
        self.tracking_uri, self.on_event, self.worker = tracking_uri, on_event, worker

    def emit(self, event: SweepEvent) -> None:
        if self.on_event is not None:
            event.worker = self.worker
            self.on_event(event)

    def __call__(self, trial: optuna.Trial, algorithm: str, sampled: dict[str, Any]) -> float | tuple[float, ...]:
        import optuna

        spec = self.spec
        config = trial_config(spec, algorithm, sampled, trial.number, tracking_uri=self.tracking_uri)
        records.write_trial_config(trial, algorithm, config)
        done = records.finished_count(self.study)
        self.emit(SweepEvent("trial_started", trial.number, done, self.budget, params=dict(trial.params)))
        primary = spec.objectives[0]

        def on_evaluate(step: int, metrics: dict[str, float]) -> bool:
            value = metrics.get(primary.metric)
            if value is None or len(spec.objectives) > 1:
                return False
            trial.report(value, step)
            return trial.should_prune()

        def on_step(step: int, total: int) -> None:
            self.emit(
                SweepEvent(
                    "step",
                    trial.number,
                    done,
                    self.budget,
                    params=dict(trial.params),
                    step=step,
                    max_steps=total,
                )
            )

        result = self.train(
            config,
            on_evaluate=on_evaluate,
            on_step=on_step,
            tags={
                tracking.STUDY_TAG: spec.name,
                tracking.TRIAL_NUMBER_TAG: str(trial.number),
                tracking.ENQUEUED_TAG: str(records.is_enqueued(trial)),
            },
        )
        records.write_trial_result(trial, result, constraints=spec.constraints, objectives=spec.objectives)
        accuracy = result.metrics.get("judge_accuracy")  # the study's judge, recorded once
        if spec.judge and accuracy is not None and records.write_judge(self.study, spec.judge.describe(), accuracy):
            tracking.log_metrics({"judge_accuracy": accuracy})  # on the parent run
        _set_state_tag(result, {"completed": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}[result.status])
        self.emit(
            SweepEvent(
                "trial_finished",
                trial.number,
                done + 1,
                self.budget,
                params=dict(trial.params),
                result=result,
                best_value=_best_value(self.study),
            )
        )
        if result.status == "failed":
            raise TrialFailed(result.reason or "failed")
        if result.status == "pruned":
            raise optuna.TrialPruned(result.reason)
        missing = [o.metric for o in spec.objectives if o.metric not in result.metrics]
        if missing:
            records.write_fail_reason(trial, f"the run reported no {', '.join(missing)}")
            _set_state_tag(result, "FAIL")
            raise TrialFailed(f"the run reported no {', '.join(missing)}")
        values = tuple(float(result.metrics[o.metric]) for o in spec.objectives)
        return values[0] if len(values) == 1 else values


def _spec_yaml(spec: SweepSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)


def _set_state_tag(result: RunResult, state: str) -> None:
    if result.mlflow_run_id:
        tracking.set_run_tags(result.mlflow_run_id, {tracking.TRIAL_STATE_TAG: state})


def _best_value(study: optuna.Study) -> float | None:
    from optuna.trial import TrialState

    if len(study.directions) > 1:
        return None
    done = [
        t.value
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None
    ]
    if not done:
        return None
    return float(max(done) if study.direction.name == "MAXIMIZE" else min(done))


def _enqueue_defaults(study: optuna.Study, spec: SweepSpec) -> None:
    """Enqueue the literature defaults once, when the study is new (one per algorithm it applies to)."""
    if records.defaults_enqueued(study):
        return
    for params in spec.enqueue:
        algorithms = [params[ALGORITHM_PARAM]] if ALGORITHM_PARAM in params else spec.algorithms
        for algorithm in algorithms:
            fixed = {k: v for k, v in params.items() if _applies(spec, str(algorithm), k)}
            if len(spec.algorithms) > 1:
                fixed[ALGORITHM_PARAM] = algorithm
            study.enqueue_trial(fixed, user_attrs=records.enqueued_user_attrs(), skip_if_exists=True)
    records.mark_defaults_enqueued(study)


def _check_same_sweep(study: optuna.Study, spec: SweepSpec) -> None:
    """Resuming with a different search space or objectives would mix incomparable trials."""
    stored = records.stored_spec(study)
    if stored is None:
        return
    current = spec.model_dump(mode="json")
    for key in ("algorithm", "search", "objectives", "model", "data", "judge"):
        if stored.get(key) != current.get(key):
            raise UserInputError(
                f"sweep {spec.name!r}: {key} differs from the study already in storage; "
                f"rename the sweep or delete studies/{spec.name}/ to start over"
            )


def _parent_run(study: optuna.Study, spec: SweepSpec, uri: str) -> tuple[str, str]:
    """The study's MLflow experiment and parent run, created by the first worker (under the study's
    lock, and the store's: a new SQLite store is migrated by one process at a time), found by the others.
    ``spec`` is the sweep as stored (without secrets). Returns (parent run id, experiment id)."""
    parent_id = records.parent_run_id(study)
    experiment_id = study.user_attrs.get(records.StudyAttr.MLFLOW_EXPERIMENT_ID)
    if parent_id is not None and experiment_id is not None:  # resumed; a moved folder's artifacts follow it
        return parent_id, resumed_experiment(uri, str(experiment_id), spec.name)
    with url_lock(uri, "mlflow-store"):
        tracking.open_store(uri)
        experiment_id = tracking.ensure_experiment(spec.name, uri)
    parent_id = tracking.create_study_run(
        spec.name,
        tracking_uri=uri,
        experiment_id=experiment_id,
        tags={tracking.STUDY_TAG: spec.name, tracking.ROLE_TAG: "study"},
        params={
            "algorithms": ",".join(spec.algorithms),
            "model": spec.model,
            "sampler": spec.sampler.type,
            "pruner": spec.pruner.type,
            "n_trials": spec.budget.n_trials,
            "objectives": ",".join(f"{o.metric}:{o.direction}" for o in spec.objectives),
            "search_space": ",".join(spec.search),
            "seed": spec.seed,
        },
        texts={"sweep.yaml": _spec_yaml(spec)},
    )
    records.write_mlflow_ids(
        study, parent_run_id=parent_id, experiment_id=experiment_id, tracking_uri=secrets.strip(uri)
    )
    return parent_id, experiment_id


def _log_best(best: BestTrial) -> None:
    tracking.set_tags({f"best.{k}": v for k, v in best.params.items()})
    tracking.set_tags(
        {
            "best.trial_number": best.number,
            "best.rule": best.rule,
            "best.mlflow_run_id": best.mlflow_run_id or "",
        }
    )
    tracking.log_metrics(best.metrics, prefix="best/")


__all__ = ["SweepEvent", "SweepOutcome", "Trainer", "TrialFailed", "outcome_of", "run_sweep", "storage_url", "trial_config"]
