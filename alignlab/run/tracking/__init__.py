"""MLflow: the only package that imports it.

Conventions every run follows, so the MLflow compare view is useful without clicking around:

- tracking URI: the run's own, else ``$MLFLOW_TRACKING_URI``, else the shared store under studies/
  (always set explicitly: MLflow 3.17 otherwise writes ./mlflow.db);
- params by their TRL field names (``beta``, ``learning_rate``, ``lora_r``, ``lora_alpha``, ...), in one batch;
- metrics: training logs as the TRL trainer names them (``loss``, ``rewards/accuracies``,
  ``objective/kl``), kept and written in one batch with the next evaluation (alignlab.run.metric_buffer);
  evaluation as ``eval/<metric>`` at every evaluation (alignlab.run.config.METRICS);
- tags ``alignlab.*``: algorithm, model, data fingerprint, version, git commit (looked up once per
  process), status and reason; in a study also ``alignlab.study``, ``alignlab.trial_number``,
  ``alignlab.trial_state``;
- experiments: of MLflow's model-training kind; a study's also get a saved view of its trials
  (alignlab.run.mlflow_view: what the UI shows first).

A run is written by its runner (alignlab.run.runner: ``alignlab train`` and every sweep trial), never by
a trainer, which records through the :class:`~alignlab.run.trainer.RunLog` the runner hands it.

Modules: :mod:`~alignlab.run.tracking.store` (the store, its client, experiments),
:mod:`~alignlab.run.tracking.tags` (the tag convention), :mod:`~alignlab.run.tracking.writing` (one run),
:mod:`~alignlab.run.tracking.studies` (a study's parent run, trial runs and saved view) and
:mod:`~alignlab.run.tracking.reading` (what compare, report and ui look up; never creates a store).
Callers use this package's names (``tracking.start_run``), not the modules'.
"""

from alignlab.run.mlflow_view import DEFAULT_UI_URL, run_url
from alignlab.run.stores import absolute_sqlite, artifact_location, sqlite_path, store_exists
from alignlab.run.tracking.reading import MlflowRun, metric_histories, study_trial_runs
from alignlab.run.tracking.store import ensure_experiment, open_store, resolve_tracking_uri, use_tracking_uri
from alignlab.run.tracking.studies import (
    close_trial_runs,
    create_study_run,
    delete_study_runs,
    log_confirmed,
    study_run,
    study_views,
    write_study_view,
)
from alignlab.run.tracking.tags import (
    ENQUEUED_TAG,
    ROLE_TAG,
    RUN_STATUS,
    STUDY_TAG,
    TAG_PREFIX,
    TRIAL_NUMBER_TAG,
    TRIAL_STATE_TAG,
)
from alignlab.run.tracking.writing import (
    active_run_id,
    base_tags,
    buffer_metrics,
    end_run,
    git_commit,
    log_artifacts,
    log_metrics,
    log_params,
    log_table,
    log_text,
    set_run_tags,
    set_tags,
    start_run,
)

__all__ = [
    "DEFAULT_UI_URL",
    "ENQUEUED_TAG",
    "ROLE_TAG",
    "RUN_STATUS",
    "STUDY_TAG",
    "TAG_PREFIX",
    "TRIAL_NUMBER_TAG",
    "TRIAL_STATE_TAG",
    "MlflowRun",
    "absolute_sqlite",
    "active_run_id",
    "artifact_location",
    "base_tags",
    "buffer_metrics",
    "close_trial_runs",
    "create_study_run",
    "delete_study_runs",
    "end_run",
    "ensure_experiment",
    "git_commit",
    "log_artifacts",
    "log_confirmed",
    "log_metrics",
    "log_params",
    "log_table",
    "log_text",
    "metric_histories",
    "open_store",
    "resolve_tracking_uri",
    "run_url",
    "set_run_tags",
    "set_tags",
    "sqlite_path",
    "start_run",
    "store_exists",
    "study_run",
    "study_trial_runs",
    "study_views",
    "use_tracking_uri",
    "write_study_view",
]
