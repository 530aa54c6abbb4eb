"""SimPO (Meng et al. 2024) with TRL's CPOTrainer (``trl.experimental.cpo``): ``loss_type="simpo"``.

SimPO needs no reference model: its implicit reward is the length-normalised log-likelihood
``beta / |y| * log pi(y | x)``, and the loss asks the chosen response's reward to beat the rejected
one's by a target margin ``simpo_gamma``: ``-log sigmoid(beta * (avg logp_w - avg logp_l) - gamma)``.
TRL's CPO trainer implements it with ``loss_type="simpo"``; ``cpo_alpha`` weighs an extra SFT term on
the chosen responses (CPO's behaviour-cloning regulariser) and is 0 for pure SimPO, which alignlab
sets (a run may set it, for CPO-SimPO). The paper's settings: beta 2.0-2.5, gamma/beta 0.3-0.8
(TRL's defaults beta 0.1 and gamma 0.5 are CPO's, not SimPO's).

Training holds no reference; alignlab's held-out evaluation still measures KL and the win rate against
the starting (SFT) policy, the base with the LoRA adapter disabled. trl 1.12 has no ``trl`` command for
it; LLaMA-Factory trains it as stage dpo with ``pref_loss: simpo``.
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
    # remove_unused_columns: TRL's pair collator needs every column (and warns when it has to say so).
    return {"loss_type": "simpo", "cpo_alpha": 0.0, "remove_unused_columns": False}


def simpo_space(c: SpaceContext) -> Space:
    search = {"beta": Space.log(1.0, 10.0), "simpo_gamma": Space.uniform(0.3, 1.6)}
    note = (
        "beta log 1..10 and simpo_gamma 0.3..1.6 (Meng et al. 2024: beta 2-10, gamma/beta 0.3-0.8; "
        "default beta 2, gamma 1, their Llama-3 setting); alignlab sets loss_type simpo and cpo_alpha 0"
    )
    trl_config = "CPOConfig (trl.experimental.cpo), loss_type simpo, cpo_alpha 0"
    return c.space(trl_config, search, {"beta": 2.0, "simpo_gamma": 1.0}, (note,), fixed=c.offline_fixed)


ALGORITHM = Algorithm(
    name="simpo",
    TRAIN_KIND="pairwise",
    config_class=trl_class("trl.experimental.cpo.CPOConfig"),
    make_trainer=rows_trainer("trl.experimental.cpo.CPOTrainer"),
    trl_settings=trl_settings,
    #: SimPO is CPOConfig's ``simpo`` loss only; the other CPO losses are not SimPO.
    CHOICES={"loss_type": ("simpo",)},
    recommend=(
        Recommendable(
            "simpo",
            CostProfile.offline(2, reference=False),
            simpo_space,
        ),
    ),
    trl=TrlCli(None),
    llamafactory=LlamaFactory("dpo", pref_loss="simpo", renames={"beta": "pref_beta", "simpo_gamma": "simpo_gamma"}),
)
