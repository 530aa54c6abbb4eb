"""Real TRL runs on the built-in task's tiny model: every algorithm, MLflow records, failures, memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alignlab.errors import UserInputError
from alignlab.run.config import RunConfig
from alignlab.run.training import run_training

QUICK_EVAL = {"n_prompts": 8, "samples_per_prompt": 2, "max_new_tokens": 24, "n_pairs": 32}


def tiny_config(algorithm: str = "dpo", *, reward_function: str | None = None, **params: Any) -> RunConfig:
    defaults: dict[str, Any] = {"max_steps": 4, "per_device_train_batch_size": 8, "learning_rate": 1e-3}
    if algorithm in ("dpo", "kto", "sft", "reward", "simpo", "orpo"):
        defaults["max_length"] = 64
    if algorithm in ("grpo", "rloo"):
        defaults.update(num_generations=4, max_completion_length=16)
    if algorithm == "ppo":
        defaults.update(
            max_steps=2,
            num_mini_batches=1,
            num_ppo_epochs=1,
            response_length=16,
            local_rollout_forward_batch_size=8,
        )
    raw: dict[str, Any] = {
        "name": f"test-{algorithm}",
        "algorithm": algorithm,
        "model": "builtin:tiny" if algorithm == "sft" else "builtin:tiny-sft",
        "data": {"task": "builtin", "max_examples": 256},
        "params": {**defaults, **params},
        "eval": QUICK_EVAL,
    }
    if reward_function is not None:
        raw["reward_function"] = reward_function
    return RunConfig.model_validate(raw)


def mlflow_run(run_id: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient().get_run(run_id)


def test_dpo_run_is_evaluated_and_logged(studies_root: Path) -> None:
    result = run_training(tiny_config("dpo", beta=0.2))
    assert result.status == "completed", result.reason
    assert {
        "kl",
        "preference_accuracy",
        "reward_margin",
        "gold_reward",
        "win_rate",
        "malformed_rate",
        "response_length",
    } <= set(result.metrics)
    assert 0.0 <= result.metrics["win_rate"] <= 1.0
    assert result.steps == 4
    assert (Path(result.output_dir or "") / "adapter" / "adapter_config.json").is_file()
    run = mlflow_run(result.mlflow_run_id or "")
    assert run.data.params["beta"] == "0.2"
    assert run.data.params["lora_r"] == "8" and "r" not in run.data.params  # TRL's name (trl.ModelConfig)
    assert "loss" in run.data.metrics  # the trainer's logs, kept and written with the evaluation
    assert run.data.tags["alignlab.algorithm"] == "dpo"
    assert run.data.tags["alignlab.status"] == "completed"
    assert len(run.data.tags["alignlab.data_fingerprint"]) == 12
    assert "eval/win_rate" in run.data.metrics
    assert run.info.status == "FINISHED"
    assert (studies_root / "mlflow.db").is_file()


@pytest.mark.gpu
def test_dpo_trains_a_few_steps_on_cuda(studies_root: Path) -> None:
    """The tiny DPO run on the GPU (bf16, alignlab.models.trainer_device_settings). Deselected by default
    (pyproject's addopts); ``pytest -m gpu`` selects it, and then a machine without CUDA fails it: asked
    for the GPU test, a skip would report a broken CUDA install as a pass."""
    import torch

    if not torch.cuda.is_available():
        pytest.fail(
            f"-m gpu selects the CUDA tests, but torch {torch.__version__} sees no CUDA device "
            f"(torch.cuda.is_available() is False; torch built for CUDA {torch.version.cuda})",
            pytrace=False,
        )
    torch.cuda.reset_peak_memory_stats()
    result = run_training(tiny_config("dpo", beta=0.2))
    assert result.status == "completed", result.reason
    assert result.steps == 4 and 0.0 <= result.metrics["win_rate"] <= 1.0
    assert torch.cuda.max_memory_allocated() > 0  # the model and its batches were on the GPU
    assert (Path(result.output_dir or "") / "adapter" / "adapter_config.json").is_file()
    run = mlflow_run(result.mlflow_run_id or "")
    assert run.info.status == "FINISHED" and "loss" in run.data.metrics


@pytest.mark.parametrize("algorithm", ["sft", "reward", "kto", "simpo", "orpo"])
def test_each_algorithm_runs(studies_root: Path, algorithm: str) -> None:
    config = tiny_config(algorithm)
    if algorithm == "sft":
        config = config.model_copy(update={"lora": None})
    result = run_training(config)
    assert result.status == "completed", result.reason
    expected = {
        "reward": {"preference_accuracy", "reward_margin"},
        "sft": {"gold_reward", "malformed_rate"},
        "kto": {"kl", "win_rate"},
        # Reference-free in training; evaluated against the SFT policy (the adapter disabled) all the same.
        "simpo": {"kl", "win_rate", "preference_accuracy"},
        "orpo": {"kl", "win_rate", "preference_accuracy"},
    }
    assert expected[algorithm] <= set(result.metrics)
    assert result.steps == 4


def test_rloo_logs_the_gold_reward_beside_the_reward_model(studies_root: Path) -> None:
    """GRPO shares the way its rewards are built (alignlab.run.rewards.trl_reward_funcs)."""
    from mlflow.tracking import MlflowClient

    result = run_training(tiny_config("rloo"))
    assert result.status == "completed", result.reason
    assert {"kl", "win_rate", "reward", "gold_reward"} <= set(result.metrics)
    run = mlflow_run(result.mlflow_run_id or "")
    assert run.data.tags["alignlab.reward"] == "builtin:tiny-rm"
    client = MlflowClient()
    learned = client.get_metric_history(run.info.run_id, "rewards/reward_model/mean")
    gold = client.get_metric_history(run.info.run_id, "rewards/gold_reward/mean")
    assert len(learned) == len(gold) == 4  # one point per step, side by side
    assert all(-1.0 <= m.value <= 1.0 for m in gold)
    # The reward model scores with the eos it was trained on: its scores spread (without it they are flat).
    assert result.train_metrics["rewards/reward_model/std"] > 0.5


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_online_runs_train_on_the_gold_reward_function(studies_root: Path, algorithm: str) -> None:
    result = run_training(tiny_config(algorithm, reward_function="builtin:gold"))
    assert result.status == "completed", result.reason
    # The training reward is the gold reward itself: held-out `reward` and `gold_reward` agree.
    assert result.metrics["reward"] == pytest.approx(result.metrics["gold_reward"])
    assert mlflow_run(result.mlflow_run_id or "").data.tags["alignlab.reward"] == "builtin:gold"


def test_a_user_reward_function_drives_grpo(
    studies_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "length_reward.py").write_text(
        "def shorter(prompts, completions, **kwargs):\n    return [-float(len(c.split())) for c in completions]\n"
    )
    monkeypatch.chdir(tmp_path)
    result = run_training(tiny_config("grpo", reward_function="length_reward:shorter"))
    assert result.status == "completed", result.reason
    assert "rewards/shorter/mean" in result.train_metrics
    assert "rewards/gold_reward/mean" in result.train_metrics  # the gold reward is still monitored
    assert result.metrics["reward"] < 0


def test_kto_reference_cache_gives_the_same_losses(studies_root: Path) -> None:
    """A KTO trial whose reference log-probs come from the cache logs the same losses as the one that stored them."""
    from mlflow.tracking import MlflowClient

    from alignlab.paths import cache_dir

    for stale in (cache_dir() / "reflogps").glob("kto-*.json"):
        stale.unlink()

    def run(cache: bool) -> tuple[list[float], str]:
        config = tiny_config("kto", max_steps=4, logging_steps=1)
        data = config.data.model_copy(update={"max_examples": 64})
        config = config.model_copy(update={"cache_reference": cache, "data": data})
        result = run_training(config)
        assert result.status == "completed", result.reason
        history = MlflowClient().get_metric_history(result.mlflow_run_id or "", "loss")
        tag = mlflow_run(result.mlflow_run_id or "").data.tags["alignlab.reference_logps"]
        return [m.value for m in sorted(history, key=lambda m: m.step)], tag

    # The miss computes them with TRL's own precompute pass (as DPO's cache does, whose test also checks
    # against an uncached run); the hit reads them from the file and must train identically.
    miss, hit = run(True), run(True)
    assert (miss[1], hit[1]) == ("miss", "hit")
    assert len(miss[0]) >= 4 and miss[0] == pytest.approx(hit[0], abs=1e-5)


def test_ppo_runs_with_the_adaptive_kl_controller(studies_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_training(tiny_config("ppo", kl_coef=0.05, kl_target=0.001, kl_horizon=64))
    assert result.status == "completed", result.reason
    assert capsys.readouterr().out == ""  # trl's PPOTrainer prints; the library does not
    assert {"kl", "win_rate", "reward"} <= set(result.metrics)
    # KL above a tiny target raises the coefficient for the next batch.
    assert result.train_metrics["objective/kl_target"] == 0.001
    assert "objective/kl_coef" in result.train_metrics
    # The learned reward model trains the policy; the gold reward of the same rollouts is logged beside it.
    assert "objective/scores" in result.train_metrics
    assert -1.0 <= result.train_metrics["objective/gold_reward"] <= 1.0


def test_nan_loss_fails_the_run_with_a_reason(studies_root: Path) -> None:
    result = run_training(tiny_config("dpo", learning_rate=1e12, max_steps=6, logging_steps=1))
    assert result.status == "failed"
    assert result.reason is not None and ("loss is nan" in result.reason or "KL diverged" in result.reason)
    run = mlflow_run(result.mlflow_run_id or "")
    assert run.info.status == "FAILED"
    assert run.data.tags["alignlab.reason"] == result.reason


def test_pruned_run_ends_killed_not_failed(studies_root: Path) -> None:
    config = tiny_config("dpo", max_steps=6).model_copy(
        update={"eval": tiny_config().eval.model_copy(update={"every_n_steps": 2})}
    )
    seen: list[int] = []

    def prune_at_first_report(step: int, metrics: dict[str, float]) -> bool:
        seen.append(step)
        return True

    result = run_training(config, on_evaluate=prune_at_first_report)
    assert result.status == "pruned" and seen == [2]
    assert result.steps < 6
    assert mlflow_run(result.mlflow_run_id or "").info.status == "KILLED"  # stopped early, not failed


def test_missing_model_path_is_one_line_and_writes_nothing(studies_root: Path, tmp_path: Path) -> None:
    config = tiny_config().model_copy(update={"model": str(tmp_path / "nope")})
    with pytest.raises(UserInputError) as info:
        run_training(config)
    assert info.value.problems == [
        f"model: {str(tmp_path / 'nope')!r} does not exist (expected a local Hugging Face model folder, or one of "
        "builtin:tiny, builtin:tiny-sft, builtin:tiny-rm, smollm2-135m; the model hub is not used)"
    ]
    assert not (studies_root / "mlflow.db").exists()


def test_repeated_runs_in_one_process_do_not_grow_memory(studies_root: Path) -> None:
    import psutil

    process = psutil.Process()
    rss = []
    for i in range(5):
        result = run_training(tiny_config("dpo").model_copy(update={"name": f"rss-{i}"}))
        assert result.status == "completed"
        rss.append(process.memory_info().rss)
    growth_mb = (rss[-1] - rss[1]) / 2**20
    assert growth_mb < 60, f"RSS grew {growth_mb:.0f} MB over 3 runs: {[r // 2**20 for r in rss]}"
