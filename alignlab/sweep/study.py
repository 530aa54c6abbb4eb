"""Sweeps as Optuna studies: a sweep file in, trials run and recorded, the best configuration out.

- One Optuna study per sweep, in ``spec.storage`` (any Optuna RDB URL; default SQLite under
  studies/<name>/), so several workers can share it.
- Each trial (alignlab.sweep.trial) builds a :class:`~alignlab.run.config.RunConfig` from the fixed
  settings and the sampled params (named after the TRL field they set) and runs the trainer in the
  trial's MLflow run: by default :func:`alignlab.run.training.train`; ``run_sweep(spec, train=...)`` takes
  any :class:`~alignlab.run.trainer.Trainer`.
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
- Warm start (``warm_start:``): the complete trials of earlier studies are added once, under the lock, as
  prior trials the sampler starts from, and the best of them is enqueued (alignlab.sweep.warm_start).
- MLflow: one experiment per study (artifacts under studies/NAME/mlartifacts, or the server's) with
  one parent run; each trial is a nested child run tagged with its number and state, ending FINISHED,
  FAILED, or KILLED (pruned, or its worker died or was stopped). The parent run (alignlab.sweep.parent_run)
  carries the study settings and the best trial's params and metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alignlab.errors import UserInputError
from alignlab.paths import default_storage_url, expand_root, study_dir, write_atomic
from alignlab.run import tracking
from alignlab.run.mlflow_view import study_view_params
from alignlab.sweep import records, secrets
from alignlab.sweep.best import BestTrial, select_best
from alignlab.sweep.claims import Coordinator, TrialFailed, worker_label, worker_seed
from alignlab.sweep.parent_run import log_best, parent_run, spec_yaml, stored_spec
from alignlab.sweep.preflight import check_sweep, n_trials_problems, room_for_trial
from alignlab.sweep.samplers import make_pruner, make_sampler
from alignlab.sweep.spec import ALGORITHM_PARAM, SweepSpec
from alignlab.sweep.storage import open_storage, url_lock
from alignlab.sweep.trial import SweepEvent, Trainer, TrialObjective, applies, sample_params, trial_config
from alignlab.sweep.warm_start import add_priors, is_prior, warm_start_problems

if TYPE_CHECKING:
    import optuna


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
    warm_start: list[str] = field(default_factory=list)
    """What each warm-start source gave, in words, when this worker added its priors."""


def storage_url(spec: SweepSpec, storage: str | None = None) -> str:
    """The URL the study runs on (secrets included): ``storage``, else the file's, else SQLite under studies/."""
    return tracking.absolute_sqlite(expand_root(storage or spec.storage or default_storage_url(spec.name)))


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

    ``train`` trains one trial (default :func:`alignlab.run.training.train`). Before anything is
    created, :func:`alignlab.validate.check_sweep` (what ``alignlab validate`` checks) looks at the
    references, the folders, the storage (``storage``, called ``storage_key``) and the MLflow store, so
    bad input writes nothing; ``validated``: the caller just did (:func:`~alignlab.validate.load_valid_sweep`).
    """
    import logging

    import optuna


    url = storage_url(spec, storage)
    secrets.remember(url)
    secrets.remember(spec.tracking_uri)
    where = f"sweep {spec.name}"
    checks = [] if validated else check_sweep(spec, where=where, storage=storage, storage_key=storage_key)
    if not validated and spec.warm_start:
        checks += warm_start_problems(spec, where)
    if problems := checks + n_trials_problems(spec, n_trials):
        raise UserInputError(problems)

    if train is None:
        from alignlab.run import training

        training.quiet_libraries()
        train = training.train
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
    stored = stored_spec(spec, url, uri)
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
        priors = add_priors(study, spec) if spec.warm_start else []  # once per source, after the defaults
        worker = records.join_worker(study)
        parent_id, experiment_id = parent_run(study, stored, uri)
        objectives = [(o.metric, o.direction) for o in spec.objectives]  # what the MLflow UI shows first
        view_params = study_view_params(spec.algorithms, spec.search)
        tracking.write_study_view(uri, experiment_id, objectives=objectives, params=view_params)
    write_atomic(folder / "sweep.yaml", spec_yaml(stored))  # readers find the storage a --storage gave
    study.sampler = make_sampler(spec, seed=worker_seed(spec.seed, worker))
    study.pruner = make_pruner(_pruner_past_priors(spec, study))
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
    objective = TrialObjective(spec, study, train, budget, secrets.strip(uri), on_event, label)
    with tracking.study_run(parent_id, experiment_id=experiment_id):
        while room_for_trial(spec, folder / "trials") and coordinator.claim(deadline):  # disk checked first
            coordinator.run_one(objective)
        best = select_best(records.read_study(study, name=spec.name, storage_url=secrets.strip(url)))
        if best is not None:
            log_best(best)
    coordinator.finish()
    return SweepOutcome(
        spec.name,
        secrets.strip(url),
        records.finished_count(study),
        best,
        parent_id,
        secrets.strip(uri),
        label,
        [p.describe() for p in priors],
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


def _enqueue_defaults(study: optuna.Study, spec: SweepSpec) -> None:
    """Enqueue the literature defaults once, when the study is new (one per algorithm it applies to)."""
    if records.defaults_enqueued(study):
        return
    for params in spec.enqueue:
        algorithms = [params[ALGORITHM_PARAM]] if ALGORITHM_PARAM in params else spec.algorithms
        for algorithm in algorithms:
            fixed = {k: v for k, v in params.items() if applies(spec, str(algorithm), k)}
            if len(spec.algorithms) > 1:
                fixed[ALGORITHM_PARAM] = algorithm
            study.enqueue_trial(fixed, user_attrs=records.enqueued_user_attrs(), skip_if_exists=True)
    records.mark_defaults_enqueued(study)


def _pruner_past_priors(spec: SweepSpec, study: optuna.Study) -> SweepSpec:
    """The median pruner's ``n_startup_trials`` counts complete trials: the priors (which report no
    intermediate values) are added to it, so it still waits for the study's own trials."""
    n_priors = sum(1 for t in study.get_trials(deepcopy=False) if is_prior(t))
    if not n_priors or spec.pruner.type != "median":
        return spec
    pruner = spec.pruner.model_copy(update={"n_startup_trials": spec.pruner.n_startup_trials + n_priors})
    return spec.model_copy(update={"pruner": pruner})


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


__all__ = [
    "SweepEvent",
    "SweepOutcome",
    "Trainer",
    "TrialFailed",
    "outcome_of",
    "run_sweep",
    "storage_url",
    "trial_config",
]
