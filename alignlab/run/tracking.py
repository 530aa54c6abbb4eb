"""MLflow: the only module that imports it.

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

The last section reads a store back (compare, report, ui): it never creates one, so a study whose
store is gone reads as "no MLflow".
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from alignlab import __version__
from alignlab.paths import default_tracking_uri
from alignlab.run import metric_buffer, mlflow_view
from alignlab.run.metric_buffer import Point
from alignlab.run.mlflow_view import DEFAULT_UI_URL, run_url
from alignlab.run.stores import absolute_sqlite, artifact_location, sqlite_path, store_exists

# Re-exported (besides what is defined here): alignlab.results and alignlab.sweep import them from here.
__all__ = ["DEFAULT_UI_URL", "absolute_sqlite", "artifact_location", "run_url", "sqlite_path", "store_exists"]

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


@functools.cache
def git_commit() -> str | None:
    """The commit of the alignlab checkout, when it is one (looked up once per process)."""
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
            end_run("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    else:
        if mlflow.active_run() is not None and mlflow.active_run().info.run_id == run.info.run_id:  # type: ignore[union-attr]
            end_run("FINISHED")


def end_run(
    status: str = "FINISHED", *, metrics: Mapping[str, float] | None = None, tags: Mapping[str, Any] | None = None
) -> None:
    """End the active run: its kept metrics, ``metrics`` (step 0) and ``tags`` in one batch, then its status."""
    import mlflow

    if active_run_id() is not None:
        _write(metric_buffer.take(active_run_id()) + metric_buffer.points(metrics or {}, step=0), tags=tags)
    mlflow.end_run(status=status)


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: _param_value(v) for k, v in params.items()})


def _write(points: list[Point], *, tags: Mapping[str, Any] | None = None) -> None:
    """One ``log_batch`` to the active run (chunked at MLflow's 1000 metrics per batch)."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    run_id = active_run_id()
    if run_id is None or not (points or tags):
        return
    client = MlflowClient()  # the URI set by use_tracking_uri
    tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    for start in range(0, max(len(points), 1), 1000):
        chunk = [Metric(k, v, ts, step) for k, v, ts, step in points[start : start + 1000]]
        client.log_batch(run_id, metrics=chunk, tags=tag_list if start == 0 else [])


def log_metrics(metrics: Mapping[str, float], *, step: int | None = None, prefix: str = "") -> None:
    """Log finite numeric metrics now, with the active run's kept ones, in one batch."""
    _write(metric_buffer.take(active_run_id()) + metric_buffer.points(metrics, step=step or 0, prefix=prefix))


def buffer_metrics(metrics: Mapping[str, Any], *, step: int) -> None:
    """Keep metrics for the active run's next write (alignlab.run.metric_buffer): the trainer's logs."""
    run_id = active_run_id()
    if run_id is not None and metric_buffer.keep(run_id, metrics, step=step):
        _write(metric_buffer.take(run_id))


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
    kind = {mlflow_view.EXPERIMENT_KIND_TAG: mlflow_view.MODEL_TRAINING}
    with _quiet_loggers("mlflow", "alembic"):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            if mlflow_view.EXPERIMENT_KIND_TAG not in experiment.tags:  # made before; a user's choice stays
                client.set_experiment_tag(experiment.experiment_id, *next(iter(kind.items())))
            return str(experiment.experiment_id)
        try:
            location = artifact_location(name, tracking_uri)
            return str(client.create_experiment(name, artifact_location=location, tags=kind))
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
    from mlflow.entities import RunTag

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
            tags = [RunTag(TRIAL_STATE_TAG, state), RunTag(f"{TAG_PREFIX}reason", reason)]
            client.log_batch(run.info.run_id, tags=tags)
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(str(run.info.run_id))
    return closed


def write_study_view(
    tracking_uri: str, experiment_id: str, *, objectives: Sequence[tuple[str, str]], params: Sequence[str]
) -> None:
    """Give a study's experiment its kind, primary metric and saved view of the trials
    (alignlab.run.mlflow_view); unchanged tags are not rewritten."""
    client = _client(tracking_uri)
    with _quiet_loggers("mlflow", "alembic"):
        stored = client.get_experiment(experiment_id).tags
        wanted = mlflow_view.study_experiment_tags(objectives, params, created_ms=int(time.time() * 1000))
        for key, value in wanted.items():
            same = mlflow_view.same_view(stored.get(key), value) if key.startswith(mlflow_view.VIEW_TAG_PREFIX) else None
            if not (same or stored.get(key) == value):
                client.set_experiment_tag(experiment_id, key, value)


def study_views(tracking_uri: str) -> list[tuple[str, str]]:
    """(experiment name, id) of the experiments with a study's saved view, newest first; [] without a store."""
    if not store_exists(tracking_uri):
        return []
    key = mlflow_view.VIEW_TAG_PREFIX + mlflow_view.STUDY_VIEW
    with _quiet_loggers("mlflow", "alembic"):
        experiments = _client(tracking_uri).search_experiments(max_results=50000)
    found = [e for e in experiments if key in e.tags]
    found.sort(key=lambda e: e.creation_time or 0, reverse=True)
    return [(str(e.name), str(e.experiment_id)) for e in found]


def set_run_tags(run_id: str, tags: Mapping[str, Any]) -> None:
    """Tag a run that may have ended already (a trial's state is known only after its run ends)."""
    from mlflow.entities import RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient()  # the URI set by use_tracking_uri
    client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


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


@dataclasses.dataclass(frozen=True)
class MlflowRun:
    """A run found in the store, as a reader needs it."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str


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


def log_confirmed(tracking_uri: str, run_id: str, metrics: Mapping[str, float], tags: Mapping[str, Any]) -> None:
    """A finished trial run's ``best --confirm`` re-evaluation, in one batch: ``confirmed/<metric>``
    metrics (``<metric>_se`` beside each) and ``alignlab.confirmed.*`` tags. The run may have ended."""
    import time

    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    client = _client(tracking_uri)
    with _quiet_loggers("mlflow", "alembic"):
        client.log_batch(
            run_id,
            metrics=[Metric(f"confirmed/{k}", float(v), now, 0) for k, v in metrics.items() if math.isfinite(v)],
            tags=[RunTag(f"{TAG_PREFIX}confirmed.{k}", str(v)) for k, v in tags.items()],
        )
