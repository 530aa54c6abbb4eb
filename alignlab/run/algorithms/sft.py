"""Supervised fine-tuning with TRL's SFTTrainer, loss on the completion only (prompt/completion rows)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.common import rows_trainer, trl_class
from alignlab.run.algorithms.exports import LlamaFactory, TrlCli
from alignlab.run.algorithms.interface import Algorithm

if TYPE_CHECKING:
    from alignlab.run.config import RunConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    return {"completion_only_loss": True}


ALGORITHM = Algorithm(
    name="sft",
    TRAIN_KIND="sft",
    config_class=trl_class("trl.SFTConfig"),
    make_trainer=rows_trainer("trl.SFTTrainer"),
    trl_settings=trl_settings,
    trl=TrlCli("sft"),
    llamafactory=LlamaFactory("sft"),
)
