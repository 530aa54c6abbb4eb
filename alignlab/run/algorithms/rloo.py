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
CHOICES: Mapping[str, tuple[str, ...]] = {}


def config_class() -> type:
    from trl import RLOOConfig

    return RLOOConfig


def make_trainer(setup: Setup, models: Models) -> Built:
    from trl import RLOOTrainer

    from alignlab.run.algorithms.prompt_sampling import build

    return build(RLOOTrainer, setup, models)
