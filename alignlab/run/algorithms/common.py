"""The parts most algorithm modules share, written once: the policy as the only model, no extra callbacks,
a TRL trainer on the training rows, the trained model inside the trainer, the standard held-out
evaluation (alignlab.run.evaluation), and a pruned run stopping at the next step.

A module takes what fits (``from alignlab.run.algorithms.common import policy_of as policy_of``) and
writes what differs; PPO, whose trainer wraps the policy and ignores ``should_training_stop``, writes
its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.interface import Built, Models, Setup

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings, RunConfig
    from alignlab.run.evaluation import EvalReport
    from alignlab.run.rewards import Reward


def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    """The policy alone (the reference is the policy with its LoRA adapter disabled)."""
    from alignlab.models import load_causal_lm

    return Models(policy=load_causal_lm(model_dir, device="cpu"))


def callbacks(config: RunConfig, args: Any) -> list[Any]:
    return []


def trainer_on_rows(trainer_class: type, setup: Setup, models: Models) -> Built:
    """``trainer_class`` (SFTTrainer, CPOTrainer, ORPOTrainer, ...) on the training rows as they are."""
    from datasets import Dataset

    return Built(
        trainer_class(
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
