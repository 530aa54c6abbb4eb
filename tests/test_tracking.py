"""alignlab.run.tracking over a real MLflow SQLite store: the trainer's logs kept until the next evaluation,
the experiment kind, and a study's saved view of its trials (alignlab.run.mlflow_view)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from study_fixture import fast_dir

from alignlab.run import metric_buffer, mlflow_view, tracking


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{fast_dir(tmp_path_factory) / 'mlflow.db'}"


@pytest.fixture
def uri(store: str, studies_root: Path) -> str:
    """The module's MLflow store, with the test's studies root set."""
    return store


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def _history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, round(m.value, 6)) for m in _client(uri).get_metric_history(run_id, key))


def test_training_logs_wait_for_the_next_evaluation(uri: str) -> None:
    with tracking.start_run(run_name="kept", tracking_uri=uri, experiment="kept") as run_id:
        for step in (1, 2, 3):
            tracking.buffer_metrics({"loss": 1.0 / step, "done": True, "bad": float("nan")}, step=step)
        assert _history(uri, run_id, "loss") == []  # kept in memory, nothing written yet
        tracking.log_metrics({"win_rate": 0.6}, step=3, prefix="eval/")
        assert _history(uri, run_id, "loss") == [(1, 1.0), (2, 0.5), (3, 0.333333)]
        assert _history(uri, run_id, "eval/win_rate") == [(3, 0.6)]
        tracking.buffer_metrics({"loss": 0.25}, step=4)
        tracking.end_run("KILLED", metrics={"runtime_s": 1.5}, tags={"alignlab.status": "pruned"})
    run = _client(uri).get_run(run_id)
    assert _history(uri, run_id, "loss")[-1] == (4, 0.25)  # the end writes what was kept
    assert run.info.status == "KILLED"
    assert run.data.metrics["runtime_s"] == 1.5 and run.data.tags["alignlab.status"] == "pruned"
    assert "done" not in run.data.metrics and "bad" not in run.data.metrics  # booleans and NaN left out


def test_kept_logs_are_written_once_they_are_old(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metric_buffer, "FLUSH_S", 0.0)
    with tracking.start_run(run_name="due", tracking_uri=uri, experiment="kept") as run_id:
        tracking.buffer_metrics({"loss": 0.5}, step=1)
        assert _history(uri, run_id, "loss") == [(1, 0.5)]
        tracking.end_run()


def test_a_run_that_raises_ends_failed_with_its_kept_logs(uri: str) -> None:
    with pytest.raises(RuntimeError), tracking.start_run(run_name="boom", tracking_uri=uri, experiment="kept") as run_id:
        tracking.buffer_metrics({"loss": 0.5}, step=7)
        raise RuntimeError("boom")
    assert _client(uri).get_run(run_id).info.status == "FAILED"
    assert _history(uri, run_id, "loss") == [(7, 0.5)]


def test_experiments_are_of_the_model_training_kind(uri: str) -> None:
    client = _client(uri)
    made = tracking.ensure_experiment("kind-new", uri)
    assert client.get_experiment(made).tags[mlflow_view.EXPERIMENT_KIND_TAG] == mlflow_view.MODEL_TRAINING
    older = client.create_experiment("kind-older", artifact_location=(Path(uri[10:]).parent / "a").as_uri())
    chosen = client.create_experiment(
        "kind-chosen",
        artifact_location=(Path(uri[10:]).parent / "b").as_uri(),
        tags={mlflow_view.EXPERIMENT_KIND_TAG: "genai_development"},
    )
    assert tracking.ensure_experiment("kind-older", uri) == older
    assert tracking.ensure_experiment("kind-chosen", uri) == chosen
    assert client.get_experiment(older).tags[mlflow_view.EXPERIMENT_KIND_TAG] == mlflow_view.MODEL_TRAINING
    assert client.get_experiment(chosen).tags[mlflow_view.EXPERIMENT_KIND_TAG] == "genai_development"  # kept


def test_a_study_view_is_written_once_and_read_back(uri: str) -> None:
    experiment = tracking.ensure_experiment("viewed", uri)
    objectives = [("win_rate", "maximize"), ("kl", "minimize")]
    tracking.write_study_view(uri, experiment, objectives=objectives, params=["algorithm", "beta", "lora_r"])
    key = mlflow_view.VIEW_TAG_PREFIX + mlflow_view.STUDY_VIEW
    first = _client(uri).get_experiment(experiment).tags[key]
    tracking.write_study_view(uri, experiment, objectives=objectives, params=["algorithm", "beta", "lora_r"])
    assert _client(uri).get_experiment(experiment).tags[key] == first  # unchanged: not rewritten
    envelope = json.loads(first)
    state = json.loads(envelope["state"])
    assert envelope["name"] == "trials by win_rate"
    assert state["orderByKey"] == "metrics.`eval/win_rate`" and state["orderByAsc"] is False
    assert state["columnOrder"] == state["selectedColumns"] == [
        "metrics.`eval/win_rate`",
        "metrics.`eval/kl`",
        "params.`algorithm`",
        "params.`beta`",
        "params.`lora_r`",
        "tags.`alignlab.trial_state`",
    ]
    first_chart = state["compareRunCharts"][0]
    assert (first_chart["type"], first_chart["metricKey"], first_chart["xAxisKey"]) == ("LINE", "eval/win_rate", "step")
    assert [s["name"] for s in state["compareRunSections"]] == ["Objective", "Model metrics", "System metrics"]
    tags = _client(uri).get_experiment(experiment).tags
    assert tags[mlflow_view.PRIMARY_METRIC_TAG] == "eval/win_rate"
    assert ("viewed", experiment) in tracking.study_views(uri)
    minimize = mlflow_view.study_view_state([("kl", "minimize")], [])
    assert minimize["orderByAsc"] is True and minimize["selectedColumns"][0] == "metrics.`eval/kl`"
