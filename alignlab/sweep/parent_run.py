"""The study's MLflow parent run: created once by the first worker (the study's settings as params, the
sweep file as an artifact), found by the others, and given the best trial's params (as tags
``best.<param>``: params are immutable in MLflow and the best may change on resume) and metrics
(``best/<metric>``); and the sweep as it is written down (:func:`stored_spec`), without secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from alignlab.paths import portable
from alignlab.run import tracking
from alignlab.sweep import records, secrets
from alignlab.sweep.portable import resumed_experiment
from alignlab.sweep.spec import SweepSpec
from alignlab.sweep.storage import url_lock

if TYPE_CHECKING:
    import optuna

    from alignlab.sweep.best import BestTrial


def stored_spec(spec: SweepSpec, url: str, uri: str) -> SweepSpec:
    """The sweep as it is written down (studies/NAME/sweep.yaml, Optuna, MLflow): the storage and the
    MLflow store it ran on, without their passwords, relative to studies/ when inside it (paths.portable)."""
    return spec.model_copy(
        update={
            "storage": portable(secrets.strip(url)),
            "tracking_uri": portable(secrets.strip(spec.tracking_uri)) if spec.tracking_uri else None,
        }
    )


def spec_yaml(spec: SweepSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)


def parent_run(study: optuna.Study, spec: SweepSpec, uri: str) -> tuple[str, str]:
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
        texts={"sweep.yaml": spec_yaml(spec)},
    )
    records.write_mlflow_ids(
        study, parent_run_id=parent_id, experiment_id=experiment_id, tracking_uri=secrets.strip(uri)
    )
    return parent_id, experiment_id


def log_best(best: BestTrial) -> None:
    tracking.set_tags({f"best.{k}": v for k, v in best.params.items()})
    tracking.set_tags(
        {
            "best.trial_number": best.number,
            "best.rule": best.rule,
            "best.mlflow_run_id": best.mlflow_run_id or "",
        }
    )
    tracking.log_metrics(best.metrics, prefix="best/")
