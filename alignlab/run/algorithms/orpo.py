"""ORPO (Hong et al. 2024) with TRL's ORPOTrainer (``trl.experimental.orpo``).

ORPO needs no reference model and no separate SFT stage: its loss is the SFT loss on the chosen
response plus ``beta`` (the paper's lambda) times the log odds ratio term
``-log sigmoid(log odds(y_w | x) - log odds(y_l | x))``, where odds(y | x) = p / (1 - p) of the
length-normalised likelihood. The paper's lambda is 0.1 (0.05-0.25 in its ablations).

Training holds no reference; alignlab's held-out evaluation still measures KL and the win rate against
the starting (SFT) policy, the base with the LoRA adapter disabled. trl 1.12 has no ``trl`` command for
it; LLaMA-Factory trains it as stage dpo with ``pref_loss: orpo``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.common import rows_trainer, trl_class
from alignlab.run.algorithms.exports import LlamaFactory, TrlCli
from alignlab.run.algorithms.interface import Algorithm
from alignlab.run.algorithms.recommendable import CostProfile, Recommendable, Space, SpaceContext

if TYPE_CHECKING:
    from alignlab.run.config import RunConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    # TRL's pair collator needs every column (and warns when it has to say so).
    return {"remove_unused_columns": False}


def orpo_space(c: SpaceContext) -> Space:
    note = "beta is ORPO's lambda, log 0.05..1 around the paper's 0.1 (Hong et al. 2024)"
    trl_config = "ORPOConfig (trl.experimental.orpo)"
    return c.space(trl_config, {"beta": Space.log(0.05, 1.0)}, {"beta": 0.1}, (note,), fixed=c.offline_fixed)


ALGORITHM = Algorithm(
    name="orpo",
    TRAIN_KIND="pairwise",
    config_class=trl_class("trl.experimental.orpo.ORPOConfig"),
    make_trainer=rows_trainer("trl.experimental.orpo.ORPOTrainer"),
    trl_settings=trl_settings,
    recommend=(
        Recommendable("orpo", CostProfile.offline(2, reference=False), orpo_space),
    ),
    trl=TrlCli(None),
    llamafactory=LlamaFactory("dpo", pref_loss="orpo", renames={"beta": "pref_beta"}),
)
