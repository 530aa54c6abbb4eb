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
from typing import TYPE_CHECKING

from alignlab.run.algorithms.common import callbacks as callbacks
from alignlab.run.algorithms.common import evaluate as evaluate
from alignlab.run.algorithms.common import policy_of as policy_of
from alignlab.run.algorithms.common import stop_pruned as stop_pruned
from alignlab.run.algorithms.prompt_sampling import load_models as load_models
from alignlab.run.algorithms.prompt_sampling import trl_settings as trl_settings

if TYPE_CHECKING:
    from alignlab.run.algorithms.interface import Built, Models, Setup

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


def make_trainer(setup: Setup, models: Models) -> Built:
    from trl import GRPOTrainer

    from alignlab.run.algorithms.prompt_sampling import build

    return build(GRPOTrainer, setup, models)
