"""ORPO (Hong et al. 2024) with TRL's ORPOTrainer (``trl.experimental.orpo``).

ORPO needs no reference model and no separate SFT stage: its loss is the SFT loss on the chosen
response plus ``beta`` (the paper's lambda) times the log odds ratio term
``-log sigmoid(log odds(y_w | x) - log odds(y_l | x))``, where odds(y | x) = p / (1 - p) of the
length-normalised likelihood. The paper's lambda is 0.1 (0.05-0.25 in its ablations).

Training holds no reference; alignlab's held-out evaluation still measures KL and the win rate against
the starting (SFT) policy, the base with the LoRA adapter disabled.
"""

from __future__ import annotations

import os
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

TRAIN_KIND = "pairwise"
PEFT_TASK_TYPE = "CAUSAL_LM"
NEEDS_REWARD_MODEL = False
PARAMS: Mapping[str, str] = {}
CHOICES: Mapping[str, tuple[str, ...]] = {}


def config_class() -> type:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # ORPO lives in trl.experimental
    from trl.experimental.orpo import ORPOConfig

    return ORPOConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    # TRL's pair collator needs every column (and warns when it has to say so).
    return {"remove_unused_columns": False}


def make_trainer(setup: Setup, models: Models) -> Built:
    from trl.experimental.orpo import ORPOTrainer

    return trainer_on_rows(ORPOTrainer, setup, models)

