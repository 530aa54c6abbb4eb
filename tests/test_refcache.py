"""The reference log-probs cache: a cached trial trains exactly like an uncached one, and says which it was."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_training import mlflow_run, tiny_config

from alignlab.paths import cache_dir
from alignlab.run.training import run_training


def _losses(run_id: str) -> list[float]:
    from mlflow.tracking import MlflowClient

    history = MlflowClient().get_metric_history(run_id, "loss")
    return [m.value for m in sorted(history, key=lambda m: m.step)]


def test_cached_reference_logps_give_the_same_losses(studies_root: Path) -> None:
    shutil.rmtree(cache_dir() / "reflogps", ignore_errors=True)
    params = {"beta": 0.2, "max_steps": 6, "logging_steps": 1}

    def run(cache: bool) -> tuple[list[float], str | None]:
        config = tiny_config("dpo", **params).model_copy(update={"cache_reference": cache})
        result = run_training(config)
        assert result.status == "completed", result.reason
        assert result.mlflow_run_id is not None
        tag = mlflow_run(result.mlflow_run_id).data.tags.get("alignlab.reference_logps")
        return _losses(result.mlflow_run_id), tag

    uncached, off = run(cache=False)
    first, miss = run(cache=True)
    second, hit = run(cache=True)
    assert (off, miss, hit) == ("off", "miss", "hit")
    assert len(uncached) >= 6  # one per step (logging_steps=1), plus the trainer's closing summary
    assert len(first) == len(second) == len(uncached)
    for a, b, c in zip(uncached, first, second, strict=True):
        assert abs(a - b) < 1e-5 and abs(a - c) < 1e-5, (uncached, first, second)
    assert len(list((cache_dir() / "reflogps").glob("dpo-*.json"))) == 1


def test_a_changed_tokenisation_setting_is_a_different_cache_entry(studies_root: Path) -> None:
    shutil.rmtree(cache_dir() / "reflogps", ignore_errors=True)
    for max_length in (64, 48):
        config = tiny_config("dpo", max_steps=1, max_length=max_length).model_copy(
            update={"cache_reference": True}
        )
        result = run_training(config)
        assert result.status == "completed", result.reason
        assert result.mlflow_run_id is not None
        assert mlflow_run(result.mlflow_run_id).data.tags["alignlab.reference_logps"] == "miss"
    assert len(list((cache_dir() / "reflogps").glob("dpo-*.json"))) == 2
