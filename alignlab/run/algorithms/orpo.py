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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.interface import Built, Models, Setup

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings, RunConfig
    from alignlab.run.evaluation import EvalReport
    from alignlab.run.rewards import Reward

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


def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    from alignlab.models import load_causal_lm

    return Models(policy=load_causal_lm(model_dir, device="cpu"))


def callbacks(config: RunConfig, args: Any) -> list[Any]:
    return []


def make_trainer(setup: Setup, models: Models) -> Built:
    from datasets import Dataset
    from trl.experimental.orpo import ORPOTrainer

    return Built(
        ORPOTrainer(
            model=models.policy,
            args=setup.args,
            train_dataset=Dataset.from_list(setup.rows),
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
