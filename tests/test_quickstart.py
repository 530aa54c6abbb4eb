"""The quick start's --fresh: the study starts over in Optuna, on disk and in MLflow."""

from __future__ import annotations

from pathlib import Path

from alignlab.paths import study_dir
from alignlab.quickstart import reset_study
from alignlab.run import tracking


def test_reset_study_forgets_the_study_and_only_its_mlflow_runs(studies_root: Path) -> None:
    import mlflow

    tracking.use_tracking_uri()
    for experiment in ("quickstart", "other"):
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name="parent"), mlflow.start_run(run_name="trial", nested=True):
            pass
    (study_dir("quickstart") / "trials").mkdir(parents=True)

    reset_study("quickstart")

    assert not study_dir("quickstart").exists()
    assert len(mlflow.search_runs(experiment_names=["quickstart"])) == 0
    assert len(mlflow.search_runs(experiment_names=["other"])) == 2


def test_reset_study_without_a_store_creates_none(studies_root: Path) -> None:
    reset_study("quickstart")
    assert not (studies_root / "mlflow.db").exists()
