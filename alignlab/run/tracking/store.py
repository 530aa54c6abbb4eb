"""The MLflow store: which one a run uses (:func:`resolve_tracking_uri`), opening it, a quiet client,
and a study's experiment (:func:`ensure_experiment`, of MLflow's model-training kind)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alignlab.paths import default_tracking_uri
from alignlab.run import mlflow_view
from alignlab.run.stores import artifact_location


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


def open_store(tracking_uri: str) -> None:
    """Create (or migrate) the tracking store now. Callers that may race with other processes hold a
    lock around it (alignlab.sweep.storage.url_lock): two processes migrating one new SQLite store at
    once fail (alembic ``CommandError`` / ``IntegrityError``)."""
    with quiet_loggers("mlflow", "alembic"):
        store_client(tracking_uri).search_experiments(max_results=1)


def ensure_experiment(name: str, tracking_uri: str) -> str:
    """The id of experiment ``name``, created with its :func:`artifact_location` if missing (a deleted
    one is restored). Another process creating it at the same instant is not an error."""
    from mlflow.exceptions import MlflowException

    client = store_client(tracking_uri)
    kind = {mlflow_view.EXPERIMENT_KIND_TAG: mlflow_view.MODEL_TRAINING}
    with quiet_loggers("mlflow", "alembic"):
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


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
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


def store_client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    with quiet_loggers("mlflow", "alembic"):
        return MlflowClient(tracking_uri=tracking_uri)
