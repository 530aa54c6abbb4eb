"""Supervised fine-tuning with TRL's SFTTrainer, loss on the completion only (prompt/completion rows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.common import callbacks as callbacks
from alignlab.run.algorithms.common import evaluate as evaluate
from alignlab.run.algorithms.common import load_models as load_models
from alignlab.run.algorithms.common import policy_of as policy_of
from alignlab.run.algorithms.common import stop_pruned as stop_pruned
from alignlab.run.algorithms.common import trainer_on_rows
from alignlab.run.algorithms.interface import Built, Models, Setup

if TYPE_CHECKING:
    from alignlab.run.config import RunConfig

TRAIN_KIND = "sft"
PEFT_TASK_TYPE = "CAUSAL_LM"
NEEDS_REWARD_MODEL = False
PARAMS: Mapping[str, str] = {}
CHOICES: Mapping[str, tuple[str, ...]] = {}


def config_class() -> type:
    from trl import SFTConfig

    return SFTConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    return {"completion_only_loss": True}


def make_trainer(setup: Setup, models: Models) -> Built:
    from trl import SFTTrainer

    return trainer_on_rows(SFTTrainer, setup, models)

