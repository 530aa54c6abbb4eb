"""MLflow: the only module that imports it.

Conventions every run follows, so the MLflow compare view is useful without clicking around:

- tracking URI: the run's own, else ``$MLFLOW_TRACKING_URI``, else the shared store under studies/
  (always set explicitly: MLflow 3.17 otherwise writes ./mlflow.db);
- params by their TRL field names (``beta``, ``learning_rate``, ...) and PEFT names for LoRA;
- metrics: training logs as the TRL trainer names them (``loss``, ``rewards/accuracies``,
  ``objective/kl``), evaluation as ``eval/<metric>`` (alignlab.run.config.METRICS);
- tags ``alignlab.*``: algorithm, model, data fingerprint, version, git commit, status and reason; in a
  study also ``alignlab.study``, ``alignlab.trial_number``, ``alignlab.trial_state``.

The last section reads a store back (compare, report, ui): it never creates one, so a study whose
store is gone reads as "no MLflow".
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from alignlab import __version__
from alignlab.paths import default_tracking_uri, study_dir

TAG_PREFIX = "alignlab."


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The run's URI, else $MLFLOW_TRACKING_URI, else the shared SQLite store under studies/."""
    resolved = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if resolved.startswith("sqlite:///"):
        Path(resolved.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return resolved


def use_tracking_uri(uri: str | None = None) -> str:
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # mlflow sets INFO on import

    resolved = resolve_tracking_uri(uri)
    mlflow.set_tracking_uri(resolved)
    return resolved


def git_commit() -> str | None:
    """The commit of the alignlab checkout, when it is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def base_tags() -> dict[str, str]:
    tags = {f"{TAG_PREFIX}version": __version__}
    commit = git_commit()
    if commit:
        tags[f"{TAG_PREFIX}git_commit"] = commit
    return tags


@contextlib.contextmanager
def start_run(
    *,
    run_name: str,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool | None = None,
) -> Iterator[str]:
    """Start an MLflow run and yield its id; nested under the active run if there is one.

    The run is NOT ended on exceptions by this context: the caller ends it with :func:`end_run` and
    the status it decides (:data:`RUN_STATUS`). An exception that escapes still ends it (FAILED;
    KILLED for Ctrl-C), so no run is left RUNNING.
    """
    import mlflow

    active = mlflow.active_run()
    if active is None:
        resolved = use_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment_id=ensure_experiment(experiment or "alignlab-runs", resolved))
    run = mlflow.start_run(
        run_name=run_name,
        nested=active is not None if nested is None else nested,
        tags={**base_tags(), **(tags or {})},
    )
    try:
        yield run.info.run_id
    except BaseException as exc:
        if mlflow.active_run() is not None and mlflow.active_run().info.run_id == run.info.run_id:  # type: ignore[union-attr]
            mlflow.end_run(status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    else:
        if mlflow.active_run() is not None and mlflow.active_run().info.run_id == run.info.run_id:  # type: ignore[union-attr]
            mlflow.end_run(status="FINISHED")


def end_run(status: str = "FINISHED") -> None:
    import mlflow

    mlflow.end_run(status=status)


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: _param_value(v) for k, v in params.items()})


def log_metrics(metrics: Mapping[str, float], *, step: int | None = None, prefix: str = "") -> None:
    """Log finite numeric metrics; NaN/inf and non-numbers are skipped (MLflow rejects some)."""
    import mlflow

    clean = {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    if clean:
        mlflow.log_metrics(clean, step=step)


def set_tags(tags: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.set_tags({k: str(v) for k, v in tags.items()})


def log_text(text: str, artifact_file: str) -> None:
    import mlflow

    mlflow.log_text(text, artifact_file)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    import mlflow

    mlflow.log_artifacts(str(local_dir), artifact_path)


def log_table(rows: list[dict[str, Any]], artifact_file: str) -> None:
    import mlflow

    if rows:
        mlflow.log_table({k: [r.get(k) for r in rows] for k in rows[0]}, artifact_file=artifact_file)


def active_run_id() -> str | None:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def _param_value(value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return text[:6000]


def metrics_callback() -> Any:
    """A TrainerCallback that logs the trainer's logs into the active MLflow run (report_to stays "none")."""
    from transformers import TrainerCallback

    class MLflowMetrics(TrainerCallback):
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if logs and active_run_id() is not None:
                # The trainer's own names: per step loss, rewards/margins, objective/kl, ...; at the end
                # train_loss, train_runtime, ... (kept apart from the per-step loss curve).
                log_metrics(dict(logs), step=state.global_step)

    return MLflowMetrics()


def artifact_location(experiment: str, tracking_uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: ``studies/<experiment>/mlartifacts`` for a store this
    process writes itself (SQLite, PostgreSQL), so two studies roots never share ``./mlruns``; None
    (the server's artifact root) for a tracking server."""
    if tracking_uri.startswith(("http://", "https://", "databricks")):
        return None
    return (study_dir(experiment) / "mlartifacts").as_uri()


def open_store(tracking_uri: str) -> None:
    """Create (or migrate) the tracking store now. Callers that may race with other processes hold a
    lock around it (alignlab.sweep.storage.url_lock): two processes migrating one new SQLite store at
    once fail (alembic ``CommandError`` / ``IntegrityError``)."""
    with _quiet_loggers("mlflow", "alembic"):
        _client(tracking_uri).search_experiments(max_results=1)


def ensure_experiment(name: str, tracking_uri: str) -> str:
    """The id of experiment ``name``, created with its :func:`artifact_location` if missing (a deleted
    one is restored). Another process creating it at the same instant is not an error."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    with _quiet_loggers("mlflow", "alembic"):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            return str(experiment.experiment_id)
        try:
            return str(client.create_experiment(name, artifact_location=artifact_location(name, tracking_uri)))
        except MlflowException:
            experiment = client.get_experiment_by_name(name)  # created by another process meanwhile
            if experiment is None:
                raise
            return str(experiment.experiment_id)


def create_study_run(
    study_name: str,
    *,
    tracking_uri: str,
    experiment_id: str,
    tags: Mapping[str, str],
    params: Mapping[str, Any],
    texts: Mapping[str, str],
) -> str:
    """Create the parent run of a study (not started in this process: :func:`study_run` resumes it)."""
    from mlflow.entities import Param

    client = _client(tracking_uri)
    with _quiet_loggers("mlflow", "alembic"):
        run = client.create_run(experiment_id, run_name=study_name, tags={**base_tags(), **tags})
        run_id = str(run.info.run_id)
        client.log_batch(run_id, params=[Param(k, _param_value(v)) for k, v in params.items()])
        for name, text in texts.items():
            client.log_text(run_id, text, name)
    return run_id


@contextlib.contextmanager
def study_run(run_id: str, *, experiment_id: str) -> Iterator[str]:
    """Resume the parent run of a study (:func:`create_study_run`) in this process; trial runs started
    meanwhile nest under it. Several workers may hold it at once. It ends FINISHED, or KILLED when the
    sweep is interrupted (FAILED on an error), and a later worker resumes it again.
    Set the tracking URI first (:func:`use_tracking_uri`)."""
    import mlflow

    mlflow.set_experiment(experiment_id=experiment_id)
    run = mlflow.start_run(run_id=run_id)
    try:
        yield run.info.run_id
    except KeyboardInterrupt:
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")


def close_trial_runs(
    tracking_uri: str, experiment_id: str, study_name: str, ended: Mapping[int, tuple[str, str]]
) -> list[str]:
    """End the RUNNING trial runs of trials that are over (their worker died or was stopped).

    ``ended`` maps a trial number to its Optuna state and the reason; each such run still RUNNING is
    tagged with them and ended KILLED. Returns the run ids ended.
    """
    if not ended:
        return []
    client = _client(tracking_uri)
    closed = []
    with _quiet_loggers("mlflow", "alembic"):
        runs = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{STUDY_TAG}` = '{study_name}' and attributes.status = 'RUNNING'",
            max_results=50000,
        )
        for run in runs:
            number = run.data.tags.get(TRIAL_NUMBER_TAG)
            if run.data.tags.get(ROLE_TAG) == "study" or number is None or not number.isdigit():
                continue
            if int(number) not in ended:
                continue
            state, reason = ended[int(number)]
            client.set_tag(run.info.run_id, TRIAL_STATE_TAG, state)
            client.set_tag(run.info.run_id, f"{TAG_PREFIX}reason", reason)
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(str(run.info.run_id))
    return closed


def set_run_tags(run_id: str, tags: Mapping[str, Any]) -> None:
    """Tag a run that may have ended already (a trial's state is known only after its run ends)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()  # the URI set by use_tracking_uri
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))


def delete_study_runs(study_name: str, tracking_uri: str | None = None) -> int:
    """Delete (MLflow's soft delete: hidden in the UI and in searches) every run of a study's
    experiment, so a study started over does not show its earlier runs. Returns how many."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(resolve_tracking_uri(tracking_uri))
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None:
        return 0
    runs = client.search_runs(
        [experiment.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=50_000
    )
    for run in runs:
        client.delete_run(run.info.run_id)
    return len(runs)


# ---- reading: what compare, report and ui look up (never creates a store) -------------------------

#: Tags of the study convention (alignlab.sweep.records lists the whole stored schema).
STUDY_TAG = f"{TAG_PREFIX}study"
"""On a study's parent run and on every trial run: the study name."""
ROLE_TAG = f"{TAG_PREFIX}role"
"""``study`` on the parent run of a study."""
TRIAL_NUMBER_TAG = f"{TAG_PREFIX}trial_number"
"""On a trial run: its Optuna trial number (how studies whose trials lack ``mlflow_run_id`` are joined)."""
TRIAL_STATE_TAG = f"{TAG_PREFIX}trial_state"
"""On a trial run: COMPLETE, PRUNED or FAIL, set once the trial's state is known (a trial whose worker
died or was stopped: FAIL, with ``alignlab.reason`` saying so, and the run KILLED)."""

#: The MLflow status a run ends with, by its RunResult status: a pruned run was stopped, not failed.
RUN_STATUS = {"completed": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
ENQUEUED_TAG = f"{TAG_PREFIX}enqueued"
"""On a trial run: True for an enqueued literature default."""

#: Where the MLflow UI serves by default (``alignlab ui``); run links in tables and reports use it.
DEFAULT_UI_URL = "http://127.0.0.1:5000"


@dataclasses.dataclass(frozen=True)
class MlflowRun:
    """A run found in the store, as a reader needs it."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (relative paths against the cwd), else None."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///")).resolve()


def absolute_sqlite(url: str) -> str:
    """A ``sqlite:///`` URL with an absolute path (other URLs unchanged), for use from another cwd."""
    path = sqlite_path(url)
    return f"sqlite:///{path}" if path is not None else url


def store_exists(tracking_uri: str) -> bool:
    """Whether the store can be read without creating it (a missing SQLite file: no)."""
    path = sqlite_path(tracking_uri)
    if path is not None:
        return path.is_file()
    return not tracking_uri.startswith("file:") or Path(tracking_uri.removeprefix("file:")).exists()


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    import logging

    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    with _quiet_loggers("mlflow", "alembic"):
        return MlflowClient(tracking_uri=tracking_uri)


def study_trial_runs(
    tracking_uri: str, study_name: str, *, experiment_id: str | None = None
) -> tuple[str | None, dict[int, MlflowRun]]:
    """The experiment id and the trial runs of a study by trial number; (None, {}) without store or experiment.

    The experiment is looked up by the study's name when ``experiment_id`` is not given. A resumed
    study may have several runs for one trial number: the latest wins.
    """
    if not store_exists(tracking_uri):
        return experiment_id, {}
    client = _client(tracking_uri)
    with _quiet_loggers("mlflow", "alembic"):
        if experiment_id is None:
            experiment = client.get_experiment_by_name(study_name)
            if experiment is None:
                return None, {}
            experiment_id = str(experiment.experiment_id)
        runs = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{STUDY_TAG}` = '{study_name}'",
            max_results=50000,
            order_by=["attributes.start_time ASC"],
        )
    found: dict[int, MlflowRun] = {}
    for run in runs:
        tags = run.data.tags
        number = tags.get(TRIAL_NUMBER_TAG)
        if number is None or tags.get(ROLE_TAG) == "study":
            continue
        try:
            n = int(number)
        except ValueError:
            continue
        found[n] = MlflowRun(
            run.info.run_id, run.info.run_name or "", str(run.info.experiment_id), run.info.status
        )
    return experiment_id, found


def metric_histories(
    tracking_uri: str, run_id: str, keys: Sequence[str]
) -> dict[str, list[tuple[int, float]]]:
    """(step, value) points of each metric of one run; missing metrics are left out."""
    if not store_exists(tracking_uri):
        return {}
    client = _client(tracking_uri)
    out: dict[str, list[tuple[int, float]]] = {}
    with _quiet_loggers("mlflow", "alembic"):
        for key in keys:
            try:
                history = client.get_metric_history(run_id, key)
            except Exception:  # a deleted run, or a store that moved: the curve is just missing
                continue
            points = sorted((int(m.step), float(m.value)) for m in history if math.isfinite(m.value))
            if points:
                out[key] = points
    return out


def run_url(experiment_id: str | None, run_id: str | None, *, base: str = DEFAULT_UI_URL) -> str | None:
    """The MLflow UI address of a run: ``<base>/#/experiments/<exp>/runs/<run>``."""
    if not experiment_id or not run_id:
        return None
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
