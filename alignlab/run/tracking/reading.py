"""Reading a store back (compare, report, ui): a study's trial runs and a run's metric histories. It
never creates a store, so a study whose store is gone reads as "no MLflow"."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from alignlab.run.stores import store_exists
from alignlab.run.tracking.store import quiet_loggers, store_client
from alignlab.run.tracking.tags import ROLE_TAG, STUDY_TAG, TRIAL_NUMBER_TAG


@dataclasses.dataclass(frozen=True)
class MlflowRun:
    """A run found in the store, as a reader needs it."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str


def study_trial_runs(
    tracking_uri: str, study_name: str, *, experiment_id: str | None = None
) -> tuple[str | None, dict[int, MlflowRun]]:
    """The experiment id and the trial runs of a study by trial number; (None, {}) without store or experiment.

    The experiment is looked up by the study's name when ``experiment_id`` is not given. A resumed
    study may have several runs for one trial number: the latest wins.
    """
    if not store_exists(tracking_uri):
        return experiment_id, {}
    client = store_client(tracking_uri)
    with quiet_loggers("mlflow", "alembic"):
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
    client = store_client(tracking_uri)
    out: dict[str, list[tuple[int, float]]] = {}
    with quiet_loggers("mlflow", "alembic"):
        for key in keys:
            try:
                history = client.get_metric_history(run_id, key)
            except Exception:  # a deleted run, or a store that moved: the curve is just missing
                continue
            points = sorted((int(m.step), float(m.value)) for m in history if math.isfinite(m.value))
            if points:
                out[key] = points
    return out
