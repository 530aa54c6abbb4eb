"""Supervised fine-tuning with TRL's SFTTrainer, loss on the completion only (prompt/completion rows)."""

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


def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    from alignlab.models import load_causal_lm

    return Models(policy=load_causal_lm(model_dir, device="cpu"))


def callbacks(config: RunConfig, args: Any) -> list[Any]:
    return []


def make_trainer(setup: Setup, models: Models) -> Built:
    from datasets import Dataset
    from trl import SFTTrainer

    return Built(
        SFTTrainer(
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
