"""A Bradley-Terry reward model with TRL's RewardTrainer, on pairwise rows, trained as a run.

The model is the policy's backbone with a one-output ``score`` head (alignlab.run.algorithms.reward_model),
so it shares the policy's tokenizer, which is what PPO needs of it. With LoRA the head is trained in full
(PEFT's SEQ_CLS task keeps ``score`` in modules_to_save). It is evaluated, during training and when a
finished run is loaded back, by preference accuracy and score margin on the held-out pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms import reward_model
from alignlab.run.algorithms.common import trl_class
from alignlab.run.algorithms.exports import LlamaFactory, TrlCli
from alignlab.run.algorithms.interface import Algorithm
from alignlab.run.algorithms.parts import Built, Models, Saved, SavedRun, Setup
from alignlab.run.algorithms.reward_model import load_reward_backbone, reward_trainer

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings
    from alignlab.run.eval_units import EvalReport
    from alignlab.run.rewards import Reward

def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    return Models(policy=load_reward_backbone(model_dir, tokenizer))


def evaluate(
    trainer: Any, models: Models, setup: Setup, data: RunData, settings: EvalSettings, memo: dict[str, Any]
) -> EvalReport:
    """Preference accuracy and score margin of the reward model on the held-out pairs (nothing is sampled)."""
    from alignlab.run.pair_metrics import reward_model_report

    pairs = data.eval_pairs[: settings.n_pairs]
    return reward_model_report(trainer.model, setup.tokenizer, pairs)


def load_saved(model_dir: Path, folder: Path, tokenizer: Any, *, lora: bool) -> Saved:
    """The saved reward model: the backbone with the adapter and score head in ``folder``, or the full model."""
    from alignlab.models import resolve_device

    if lora:
        from peft import PeftModel

        model = PeftModel.from_pretrained(load_reward_backbone(model_dir, tokenizer), str(folder))
    else:
        model = load_reward_backbone(folder, tokenizer)
    return Saved(model.to(resolve_device()).eval())


def evaluate_saved(saved: Saved, run: SavedRun) -> EvalReport:
    """As :func:`evaluate`: scored once on the held-out pairs (the seeds sample nothing)."""
    from alignlab.run.pair_metrics import reward_model_report

    return reward_model_report(saved.model, run.tokenizer, run.data.eval_pairs[: run.settings.n_pairs])


def make_trainer(setup: Setup, models: Models) -> Built:
    args = (models.policy, setup.tokenizer, setup.rows, setup.args, setup.peft_config, setup.callbacks)
    return Built(reward_trainer(*args))


ALGORITHM = Algorithm(
    name="reward",
    TRAIN_KIND="pairwise",
    config_class=trl_class("trl.RewardConfig"),
    make_trainer=make_trainer,
    PEFT_TASK_TYPE=reward_model.PEFT_TASK_TYPE,
    load_models=load_models,
    evaluate=evaluate,
    load_saved=load_saved,
    evaluate_saved=evaluate_saved,
    trl=TrlCli("reward"),
    llamafactory=LlamaFactory("rm"),
)
