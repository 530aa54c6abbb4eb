"""RLOO (Ahmadian et al. 2024, "Back to Basics") with TRL's RLOOTrainer: REINFORCE with a leave-one-out
baseline, online on prompts, no value model.

Each prompt gets ``num_generations`` samples (TRL's default 2); a sample's baseline is the mean reward
of the prompt's other samples. The KL penalty ``beta`` (TRL's default 0.05) is against the reference,
the base with the LoRA adapter disabled. The reward is a reward model or a reward function
(alignlab.run.rewards), passed to TRL as ``reward_funcs``; on the built-in task the gold reward rides
along with weight 0 (TRL logs ``rewards/gold_reward/mean`` beside the training reward). ``max_steps``
counts optimizer steps of ``per_device_train_batch_size`` completions.
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
CHOICES: Mapping[str, tuple[str, ...]] = {}


def config_class() -> type:
    from trl import RLOOConfig

    return RLOOConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    return {}


def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    """The policy and, when the reward is a learned model, that frozen reward model."""
    from alignlab.models import load_causal_lm
    from alignlab.run.algorithms.reward import load_reward_backbone

    assert reward is not None, "RLOO needs a reward (NEEDS_REWARD_MODEL)"
    reward_model = None
    if reward.model_dir is not None:
        reward_model = load_reward_backbone(reward.model_dir, tokenizer)
        reward_model.eval().requires_grad_(False)
    return Models(policy=load_causal_lm(model_dir, device="cpu"), reward_model=reward_model, reward=reward)


def callbacks(config: RunConfig, args: Any) -> list[Any]:
    return []


def make_trainer(setup: Setup, models: Models) -> Built:
    from datasets import Dataset
    from trl import RLOOTrainer

    from alignlab.run.rewards import trl_reward_funcs

    assert models.reward is not None
    funcs, weights = trl_reward_funcs(models.reward, models.reward_model, setup.tokenizer)
    setup.args.reward_weights = weights
    return Built(
        RLOOTrainer(
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
