"""What GRPO and RLOO share: trainers that sample a group of completions per prompt and score them with a
reward (a reward model or a reward function, alignlab.run.rewards) passed to TRL as ``reward_funcs``.

Their modules keep what differs (the TRL config and trainer classes, their choices, their docs), take
the models and the trainer from here and the rest from alignlab.run.algorithms.common.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.interface import Built, Models, Setup

if TYPE_CHECKING:
    from alignlab.run.config import RunConfig
    from alignlab.run.rewards import Reward


def trl_settings(config: RunConfig) -> dict[str, Any]:
    return {}


def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    """The policy and, when the reward is a learned model, that frozen reward model."""
    from alignlab.models import load_causal_lm
    from alignlab.run.algorithms.reward import load_reward_backbone

    assert reward is not None, "prompt-sampling trainers need a reward (NEEDS_REWARD_MODEL)"
    reward_model = None
    if reward.model_dir is not None:
        reward_model = load_reward_backbone(reward.model_dir, tokenizer)
        reward_model.eval().requires_grad_(False)
    return Models(policy=load_causal_lm(model_dir, device="cpu"), reward_model=reward_model, reward=reward)


def build(trainer_class: type, setup: Setup, models: Models) -> Built:
    """``trainer_class`` (GRPOTrainer, RLOOTrainer) on the prompts, with the run's reward functions and weights."""
    from datasets import Dataset

    from alignlab.run.rewards import trl_reward_funcs

    assert models.reward is not None
    funcs, weights = trl_reward_funcs(models.reward, models.reward_model, setup.tokenizer)
    setup.args.reward_weights = weights
    return Built(
        trainer_class(
            model=models.policy,
            reward_funcs=funcs,
            args=setup.args,
            train_dataset=Dataset.from_list([{"prompt": r["prompt"]} for r in setup.rows]),
            processing_class=setup.tokenizer,
            peft_config=setup.peft_config,
            callbacks=setup.callbacks,
        )
    )

