"""KTO (Ethayarajh et al. 2024) with TRL's KTOTrainer, on unpaired thumbs-up/down rows.

``desirable_weight`` / ``undesirable_weight`` are the paper's lambda_D / lambda_U; the paper's rule
keeps (lambda_D * n_D) / (lambda_U * n_U) in [1, 4/3]. With LoRA the reference is the base with the
adapter disabled.
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

TRAIN_KIND = "binary"
PEFT_TASK_TYPE = "CAUSAL_LM"
NEEDS_REWARD_MODEL = False
PARAMS: Mapping[str, str] = {}
CHOICES: Mapping[str, tuple[str, ...]] = {}


def config_class() -> type:
    from trl import KTOConfig

    return KTOConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    return {}


def load_models(model_dir: Path, reward_dir: Path | None, tokenizer: Any) -> Models:
    from alignlab.models import load_causal_lm

    return Models(policy=load_causal_lm(model_dir, device="cpu"))


def callbacks(config: RunConfig, args: Any) -> list[Any]:
    return []


def make_trainer(setup: Setup, models: Models) -> Built:
    from datasets import Dataset
    from trl import KTOTrainer

    return Built(
        KTOTrainer(
            model=models.policy,
            ref_model=None,
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


def balance_ratio(rows: list[dict[str, Any]], desirable_weight: float, undesirable_weight: float) -> float:
    """(lambda_D * n_D) / (lambda_U * n_U): the KTO paper recommends keeping it in [1, 4/3]."""
    n_d = sum(1 for r in rows if r["label"])
    n_u = len(rows) - n_d
    return (desirable_weight * n_d) / (undesirable_weight * n_u) if n_u else float("inf")
