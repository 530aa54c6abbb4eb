"""A study in MLflow: its parent run (created once, resumed by every worker; trial runs nest under it),
the trial runs of trials that are over closed, the experiment's saved view of its trials
(alignlab.run.mlflow_view: what the UI shows first), a study's runs deleted when it starts over, and a
trial's ``best --confirm`` re-evaluation recorded on its run."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from alignlab.run import mlflow_view
from alignlab.run.stores import store_exists
from alignlab.run.tracking.store import quiet_loggers, resolve_tracking_uri, store_client
from alignlab.run.tracking.tags import ROLE_TAG, STUDY_TAG, TAG_PREFIX, TRIAL_NUMBER_TAG, TRIAL_STATE_TAG
from alignlab.run.tracking.writing import base_tags, param_value


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

    client = store_client(tracking_uri)
    with quiet_loggers("mlflow", "alembic"):
        run = client.create_run(experiment_id, run_name=study_name, tags={**base_tags(), **tags})
        run_id = str(run.info.run_id)
        client.log_batch(run_id, params=[Param(k, param_value(v)) for k, v in params.items()])
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
    client = store_client(tracking_uri)
    closed = []
    with quiet_loggers("mlflow", "alembic"):
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
    client = store_client(tracking_uri)
    with quiet_loggers("mlflow", "alembic"):
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
    with quiet_loggers("mlflow", "alembic"):
        experiments = store_client(tracking_uri).search_experiments(max_results=50000)
    found = [e for e in experiments if key in e.tags]
    found.sort(key=lambda e: e.creation_time or 0, reverse=True)
    return [(str(e.name), str(e.experiment_id)) for e in found]


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


def log_confirmed(tracking_uri: str, run_id: str, metrics: Mapping[str, float], tags: Mapping[str, Any]) -> None:
    """A finished trial run's ``best --confirm`` re-evaluation, in one batch: ``confirmed/<metric>``
    metrics (``<metric>_se`` beside each) and ``alignlab.confirmed.*`` tags. The run may have ended."""
    import time

    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    client = store_client(tracking_uri)
    with quiet_loggers("mlflow", "alembic"):
        client.log_batch(
            run_id,
            metrics=[Metric(f"confirmed/{k}", float(v), now, 0) for k, v in metrics.items() if math.isfinite(v)],
            tags=[RunTag(f"{TAG_PREFIX}confirmed.{k}", str(v)) for k, v in tags.items()],
        )
