"""The runner owns the MLflow run (alignlab.run.runner): a trainer returns a RunResult and records only
through the log it is handed; the runner starts, tags, logs and ends the run, over a real MLflow SQLite
store. And the study fixture's trials, run by the sweep's trial with an analytic trainer, carry the tags
and params a real trial has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from study_fixture import DPO_STUDY, FixtureStudies, built_studies, fast_dir, studies  # noqa: F401

from alignlab.errors import UserInputError
from alignlab.run.config import RunConfig
from alignlab.run.runner import run_tracked
from alignlab.run.trainer import NO_LOG, EvaluateHook, RunLog, RunResult, StepHook


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{fast_dir(tmp_path_factory) / 'mlflow.db'}"


@pytest.fixture
def uri(store: str, studies_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module's MLflow store, with the test's studies root set and its tmp_path the current folder."""
    monkeypatch.chdir(tmp_path)
    return store


def config(name: str, uri: str | None, **update: Any) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": name,
            "algorithm": "dpo",
            "model": "builtin:tiny-sft",
            "data": {"task": "builtin"},
            "params": {"beta": 0.2, "max_steps": 4},
            "tracking_uri": uri,
            "experiment": "runner",
            **update,
        }
    )


class Analytic:
    """A trainer: a loss curve and an intermediate evaluation through the log, a result with a fate."""

    def __init__(self, status: str = "completed", *, output_dir: Path | None = None) -> None:
        self.status, self.output_dir = status, output_dir

    def __call__(
        self,
        config: RunConfig,
        *,
        on_evaluate: EvaluateHook | None = None,
        on_step: StepHook | None = None,
        log: RunLog | None = None,
    ) -> RunResult:
        log = log or NO_LOG
        log.tags({"data_fingerprint": "abc123"})
        for step in (1, 2, 3, 4):
            log.keep({"loss": 1.0 / step}, step=step)
        log.metrics({"win_rate": 0.55}, step=2, prefix="eval/")
        result = RunResult(config.name, config.algorithm, self.status, None, {}, 4, 0.5, None, None)  # type: ignore[arg-type]
        if self.status == "completed":
            result.metrics = {"win_rate": 0.6, "kl": 1.5}
            result.timings = {"train_s": 0.4, "eval_s": 0.1}
            result.samples = [{"prompt": "p", "response": "r", "gold_reward": 0.5}]
            if self.output_dir is not None:
                self.output_dir.mkdir(parents=True)
                (self.output_dir / "metrics.json").write_text("{}")
                result.output_dir = str(self.output_dir)
        else:
            result.reason = f"{self.status} on purpose"
        return result


def client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, round(m.value, 6)) for m in client(uri).get_metric_history(run_id, key))


def test_the_runner_records_what_the_trainer_returns(uri: str, tmp_path: Path) -> None:
    result = run_tracked(
        config("done", uri), Analytic(output_dir=tmp_path / "out"), tags={"alignlab.study": "s"}
    )
    assert result.mlflow_run_id is not None
    run = client(uri).get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["alignlab.algorithm"] == "dpo" and tags["alignlab.model"] == "builtin:tiny-sft"
    assert tags["alignlab.data"] == "task:builtin" and tags["alignlab.study"] == "s"
    assert tags["alignlab.data_fingerprint"] == "abc123"  # the trainer's own tag, prefixed by the runner
    assert tags["alignlab.status"] == "completed" and tags["alignlab.reason"] == ""
    assert "alignlab.version" in tags
    params = run.data.params
    assert params["beta"] == "0.2" and params["lora_r"] == "8" and params["algorithm"] == "dpo"
    assert history(uri, run.info.run_id, "loss") == [(1, 1.0), (2, 0.5), (3, 0.333333), (4, 0.25)]
    assert history(uri, run.info.run_id, "eval/win_rate") == [(2, 0.55), (4, 0.6)]  # intermediate, final
    assert run.data.metrics["eval/kl"] == 1.5 and run.data.metrics["time/train_s"] == 0.4
    assert run.data.metrics["runtime_s"] == 0.5 and run.data.metrics["steps"] == 4
    artifacts = {a.path for a in client(uri).list_artifacts(run.info.run_id)}
    assert {"config.yaml", "eval_samples.json", "outputs"} <= artifacts
    assert [a.path for a in client(uri).list_artifacts(run.info.run_id, "outputs")] == ["outputs/metrics.json"]
    assert "samples" not in result.to_dict()  # the table is logged, not printed by `train --json`


@pytest.mark.parametrize(("status", "mlflow_status"), [("pruned", "KILLED"), ("failed", "FAILED")])
def test_a_pruned_run_ends_killed_and_a_failed_one_failed(uri: str, status: str, mlflow_status: str) -> None:
    result = run_tracked(config(status, uri), Analytic(status))
    run = client(uri).get_run(result.mlflow_run_id or "")
    assert run.info.status == mlflow_status
    assert run.data.tags["alignlab.status"] == status and run.data.tags["alignlab.reason"] == f"{status} on purpose"
    assert "eval/kl" not in run.data.metrics and history(uri, run.info.run_id, "loss")[-1] == (4, 0.25)


def test_bad_input_before_the_first_log_call_writes_nothing(studies_root_with_own_cache: Path) -> None:

    def refuses(config: RunConfig, **_: Any) -> RunResult:
        raise UserInputError("model: 'nope' does not exist")

    with pytest.raises(UserInputError):
        run_tracked(config("refused", None), refuses)
    assert not studies_root_with_own_cache.exists()  # no MLflow store, no run, no cache


def test_an_exception_after_the_run_started_ends_it_failed_and_propagates(uri: str) -> None:
    seen: list[str] = []

    def crashes(config: RunConfig, *, log: RunLog | None = None, **_: Any) -> RunResult:
        assert log is not None
        log.metrics({"loss": 1.0}, step=1)
        import mlflow

        seen.append(mlflow.active_run().info.run_id)  # type: ignore[union-attr]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_tracked(config("crash", uri), crashes)
    assert client(uri).get_run(seen[0]).info.status == "FAILED"


def test_a_trainer_runs_without_a_runner() -> None:
    result = Analytic()(config("bare", None))
    assert result.status == "completed" and result.mlflow_run_id is None


def test_the_fixture_trials_carry_a_real_trials_tags_and_params(studies: FixtureStudies) -> None:  # noqa: F811
    """The stand-in trainer makes no MLflow call: what the report, compare and ui read is the runner's."""
    runs = client(studies.tracking_uri).search_runs([studies.experiment_ids[DPO_STUDY]], max_results=100)
    trials = [r for r in runs if "alignlab.trial_number" in r.data.tags]
    assert len(trials) == 7
    for run in trials:
        tags = run.data.tags
        assert tags["alignlab.algorithm"] == "dpo" and tags["alignlab.model"] == "builtin:tiny-sft"
        assert tags["alignlab.study"] == DPO_STUDY and "alignlab.version" in tags
        assert tags["alignlab.trial_state"] in {"COMPLETE", "PRUNED", "FAIL"}
        expected = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}[tags["alignlab.trial_state"]]
        assert run.info.status == expected
        assert {"beta", "learning_rate", "seed", "model"} <= set(run.data.params)
