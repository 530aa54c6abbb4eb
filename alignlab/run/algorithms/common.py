"""What most algorithms share, written once: the defaults of :class:`~alignlab.run.algorithms.Algorithm`
(the policy as the only model, no settings or callbacks of its own, the trained model inside the trainer,
the standard held-out evaluation of alignlab.run.evaluation, a pruned run stopping at the next step) and
the two builders most declarations use: :func:`trl_class` (a TRL class by its dotted path, imported when
needed) and :func:`rows_trainer` (a TRL trainer on the training rows as they are).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.parts import Built, Models, Saved, Setup

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings, RunConfig
    from alignlab.run.eval_units import EvalReport
    from alignlab.run.rewards import Reward


def trl_class(path: str) -> Callable[[], type]:
    """A function returning the TRL class at ``path`` (``trl.DPOConfig``, ``trl.experimental.cpo.CPOTrainer``),
    imported when called: declarations name TRL classes without importing trl."""
    module, _, name = path.rpartition(".")

    def load() -> type:
        if module.startswith("trl.experimental"):
            os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # it warns on every import otherwise
        cls: type = getattr(importlib.import_module(module), name)
        return cls

    load.__doc__ = f"{path} (imports trl)."
    return load


def rows_trainer(path: str) -> Callable[[Setup, Models], Built]:
    """A ``make_trainer``: the TRL trainer at ``path`` (SFTTrainer, CPOTrainer, ...) on the training rows."""
    trainer_class = trl_class(path)

    def make_trainer(setup: Setup, models: Models) -> Built:
        from datasets import Dataset

        return Built(
            trainer_class()(
                model=models.policy,
                args=setup.args,
                train_dataset=Dataset.from_list(setup.rows),
                processing_class=setup.tokenizer,
                peft_config=setup.peft_config,
                callbacks=setup.callbacks,
            )
        )

    return make_trainer


def no_settings(config: RunConfig) -> dict[str, Any]:
    return {}


def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    """The policy alone (the reference is the policy with its LoRA adapter disabled)."""
    from alignlab.models import load_causal_lm

    return Models(policy=load_causal_lm(model_dir, device="cpu"))


def no_callbacks(config: RunConfig, args: Any) -> list[Any]:
    return []


def policy_of(trainer: Any) -> Any:
    return trainer.model


def evaluate(
    trainer: Any, models: Models, setup: Setup, data: RunData, settings: EvalSettings, memo: dict[str, Any]
) -> EvalReport:
    from alignlab.run.evaluation import evaluate_trained_policy

    return evaluate_trained_policy(trainer.model, trainer, models, setup, data, settings, memo)


def stop_pruned(control: Any) -> None:
    control.should_training_stop = True


def load_saved(model_dir: Path, folder: Path, tokenizer: Any, *, lora: bool) -> Saved:
    """The saved policy: the base with the adapter in ``folder`` (the reference: the adapter disabled), or
    the full model in ``folder`` with the base as the reference."""
    from alignlab.models import load_causal_lm

    if lora:
        from peft import PeftModel

        return Saved(PeftModel.from_pretrained(load_causal_lm(model_dir), str(folder)).eval())
    return Saved(load_causal_lm(folder).eval(), load_causal_lm(model_dir).eval())
