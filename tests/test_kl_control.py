from __future__ import annotations

import pytest

from alignlab.run.algorithms.ppo import AdaptiveKLController


def test_coefficient_rises_above_target_and_falls_below() -> None:
    up = AdaptiveKLController(kl_coef=0.1, target=2.0, horizon=100)
    assert up.update(measured_kl=3.0, n_episodes=10) == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
    down = AdaptiveKLController(kl_coef=0.1, target=2.0, horizon=100)
    assert down.update(measured_kl=1.9, n_episodes=10) == pytest.approx(0.1 * (1 - 0.05 * 10 / 100))


def test_error_is_clipped_and_coefficient_bounded() -> None:
    ctl = AdaptiveKLController(kl_coef=0.1, target=1.0, horizon=10)
    assert ctl.update(measured_kl=100.0, n_episodes=10) == pytest.approx(0.1 * 1.2)
    for _ in range(200):
        ctl.update(measured_kl=-5.0, n_episodes=10)
    assert ctl.kl_coef == ctl.min_coef


def test_controller_converges_on_a_simple_plant() -> None:
    # A plant whose KL is inversely proportional to the coefficient: KL = 0.2 / kl_coef.
    ctl = AdaptiveKLController(kl_coef=0.05, target=2.0, horizon=200)
    for _ in range(400):
        ctl.update(measured_kl=0.2 / ctl.kl_coef, n_episodes=32)
    assert 0.2 / ctl.kl_coef == pytest.approx(2.0, rel=0.05)


@pytest.mark.slow
def test_ppo_runs_with_different_kl_targets_end_near_them(studies_root: object) -> None:
    # About 3 minutes on 2 CPU cores; tests/benchmarks/kl_targets.py prints the same runs as a table.
    from alignlab.run.config import RunConfig
    from alignlab.run.training import run_training

    held_out_kl = {}
    for target in (1.0, 3.0):
        config = RunConfig.model_validate(
            {
                "name": f"kl-target-{target}",
                "algorithm": "ppo",
                "model": "builtin:tiny-sft",
                "reward_model": "builtin:tiny-rm",
                "data": {"task": "builtin"},
                "params": {
                    "learning_rate": 5e-4,
                    "kl_coef": 0.05,
                    "kl_target": target,
                    "kl_horizon": 32,
                    "max_steps": 100,
                    "per_device_train_batch_size": 32,
                    "num_mini_batches": 2,
                    "num_ppo_epochs": 2,
                    "response_length": 24,
                    "missing_eos_penalty": 1.0,
                },
                "lora": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
                "eval": {"n_prompts": 64, "samples_per_prompt": 4, "max_new_tokens": 24},
            }
        )
        result = run_training(config)
        assert result.status == "completed", result.reason
        held_out_kl[target] = result.metrics["kl"]
    assert held_out_kl[1.0] < held_out_kl[3.0], held_out_kl
    for target, kl in held_out_kl.items():
        assert target / 2 <= kl <= target * 2, held_out_kl
