"""GRPO (Shao et al. 2024, DeepSeekMath) with TRL's GRPOTrainer: online RL on prompts, no value model.

Each prompt gets ``num_generations`` samples; a sample's advantage is its reward minus the group's
mean (divided by the group's standard deviation, ``scale_rewards: group``). The reward is a reward
model or a reward function (alignlab.run.rewards), passed to TRL as ``reward_funcs``; on the built-in
task the gold reward rides along with weight 0, so TRL logs ``rewards/gold_reward/mean`` beside the
training reward every step. TRL's ``beta`` (the KL coefficient) defaults to 0.0: no KL term and no
reference pass in training; alignlab still measures KL(policy || reference) on held-out samples, with
the LoRA adapter disabled as the reference. ``max_steps`` counts optimizer steps of
``per_device_train_batch_size`` completions (that many / ``num_generations`` prompts).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.interface import Built, Models, Setup

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings, RunConfig
    from alignlab.run.evaluation import EvalReport
    from alignlab.run.rewards import Reward

TRAIN_KIND = "prompt"
PEFT_TASK_TYPE = "CAUSAL_LM"
NEEDS_REWARD_MODEL = True
PARAMS: Mapping[str, str] = {}
#: From the help text of trl 1.12.0 GRPOConfig.loss_type (TRL checks it only when the loss is computed).
CHOICES: Mapping[str, tuple[str, ...]] = {
    "loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"),
}


def config_class() -> type:
    from trl import GRPOConfig

    return GRPOConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    return {}


def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    """The policy and, when the reward is a learned model, that frozen reward model."""
    from alignlab.models import load_causal_lm
    from alignlab.run.algorithms.reward import load_reward_backbone

    assert reward is not None, "GRPO needs a reward (NEEDS_REWARD_MODEL)"
    reward_model = None
    if reward.model_dir is not None:
        reward_model = load_reward_backbone(reward.model_dir, tokenizer)
        reward_model.eval().requires_grad_(False)
    return Models(policy=load_causal_lm(model_dir, device="cpu"), reward_model=reward_model, reward=reward)


def callbacks(config: RunConfig, args: Any) -> list[Any]:
    return []


def make_trainer(setup: Setup, models: Models) -> Built:
    from datasets import Dataset
    from trl import GRPOTrainer

    from alignlab.run.rewards import trl_reward_funcs

    assert models.reward is not None
    funcs, weights = trl_reward_funcs(models.reward, models.reward_model, setup.tokenizer)
    setup.args.reward_weights = weights
    return Built(
        GRPOTrainer(
            model=models.policy,
            reward_funcs=funcs,
            args=setup.args,
            train_dataset=Dataset.from_list([{"prompt": r["prompt"]} for r in setup.rows]),
            processing_class=setup.tokenizer,
            peft_config=setup.peft_config,
            callbacks=setup.callbacks,
        )
    )


def policy_of(trainer: Any) -> Any:
    return trainer.model


def evaluate(
    trainer: Any, models: Models, setup: Setup, data: RunData, settings: EvalSettings, memo: dict[str, Any]
) -> EvalReport:
    from alignlab.run.evaluation import evaluate_trained_policy

    return evaluate_trained_policy(trainer.model, trainer, models, setup, data, settings, memo)


def stop_pruned(control: Any) -> None:
    control.should_training_stop = True
