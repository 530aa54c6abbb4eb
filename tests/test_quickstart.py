"""The quick start's --fresh (the study starts over in Optuna, on disk and in MLflow) and its choice of workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab.paths import study_dir
from alignlab.quickstart import reset_study, sweep_workers
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


@pytest.mark.parametrize(
    ("remaining", "cpus", "gpus", "expected"),
    [
        (12, 2, [], (2, 1)),  # two cores: two workers of one thread each
        (12, 8, [], (8, 1)),
        (3, 8, [], (0, 0)),  # too few trials left to pay for the workers' start
        (12, 1, [], (0, 0)),  # one core: in this process
        (12, 16, ["0", "1"], (2, 8)),  # one worker per GPU
    ],
)
def test_the_quick_start_uses_workers_where_they_pay(
    remaining: int, cpus: int, gpus: list[str], expected: tuple[int, int]
) -> None:
    plans = sweep_workers(remaining, cpus=cpus, gpus=gpus)
    assert (len(plans), plans[0].threads if plans else 0) == expected


@pytest.mark.parametrize(("workers", "expected"), [("1", (0, 0)), ("2", (2, 1)), ("4", (4, 1))])
def test_the_quick_start_takes_the_workers_it_is_told(workers: str, expected: tuple[int, int]) -> None:
    plans = sweep_workers(12, workers=workers, cpus=2, gpus=[])
    assert (len(plans), plans[0].threads if plans else 0) == expected


def test_a_bad_worker_count_is_a_user_error() -> None:
    from alignlab.errors import UserInputError

    with pytest.raises(UserInputError, match="--workers"):
        sweep_workers(12, workers="none", cpus=2, gpus=[])
