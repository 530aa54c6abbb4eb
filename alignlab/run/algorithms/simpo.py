"""SimPO (Meng et al. 2024) with TRL's CPOTrainer (``trl.experimental.cpo``): ``loss_type="simpo"``.

SimPO needs no reference model: its implicit reward is the length-normalised log-likelihood
``beta / |y| * log pi(y | x)``, and the loss asks the chosen response's reward to beat the rejected
one's by a target margin ``simpo_gamma``: ``-log sigmoid(beta * (avg logp_w - avg logp_l) - gamma)``.
TRL's CPO trainer implements it with ``loss_type="simpo"``; ``cpo_alpha`` weighs an extra SFT term on
the chosen responses (CPO's behaviour-cloning regulariser) and is 0 for pure SimPO, which alignlab
sets (a run may set it, for CPO-SimPO). The paper's settings: beta 2.0-2.5, gamma/beta 0.3-0.8
(TRL's defaults beta 0.1 and gamma 0.5 are CPO's, not SimPO's).

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
#: SimPO is CPOConfig's ``simpo`` loss only; the other CPO losses are not SimPO.
CHOICES: Mapping[str, tuple[str, ...]] = {"loss_type": ("simpo",)}


def config_class() -> type:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # CPO lives in trl.experimental
    from trl.experimental.cpo import CPOConfig

    return CPOConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    # remove_unused_columns: TRL's pair collator needs every column (and warns when it has to say so).
    return {"loss_type": "simpo", "cpo_alpha": 0.0, "remove_unused_columns": False}


def make_trainer(setup: Setup, models: Models) -> Built:
    from trl.experimental.cpo import CPOTrainer

    return trainer_on_rows(CPOTrainer, setup, models)

