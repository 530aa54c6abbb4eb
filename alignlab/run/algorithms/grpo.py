"""GRPO (Shao et al. 2024, DeepSeekMath) with TRL's GRPOTrainer: online RL on prompts, no value model.

Each prompt gets ``num_generations`` samples; a sample's advantage is its reward minus the group's
mean (divided by the group's standard deviation, ``scale_rewards: group``). The reward is a reward
model or a reward function (alignlab.run.rewards), passed to TRL as ``reward_funcs``; on the built-in
task the gold reward rides along with weight 0, so TRL logs ``rewards/gold_reward/mean`` beside the
training reward every step. TRL's ``beta`` (the KL coefficient) defaults to 0.0: no KL term and no
reference pass in training; alignlab still measures KL(policy || reference) on held-out samples, with
the LoRA adapter disabled as the reference. ``max_steps`` counts optimizer steps of
``per_device_train_batch_size`` completions (that many / ``num_generations`` prompts). LLaMA-Factory
has no GRPO stage.
"""

from __future__ import annotations

from alignlab.run.algorithms.prompt_sampling import sampling_algorithm, sampling_space
from alignlab.run.algorithms.recommendable import CostProfile, Recommendable, Space, SpaceContext


def grpo_space(c: SpaceContext) -> Space:
    notes = (
        "beta (KL coefficient) 0..0.1: TRL's default 0 (no reference pass), DeepSeekMath 0.04 (Shao et al. 2024)",
        "num_generations 4 or 8 samples per prompt (TRL's default 8)",
    )
    defaults = {"beta": 0.0, "num_generations": 8}
    return sampling_space(c, "GRPOConfig", beta=Space.uniform(0.0, 0.1), generations=(4, 8), defaults=defaults, notes=notes)


#: TRL's defaults: k=8, one update per batch, beta 0 so no reference pass.
COST = CostProfile.online(
    8,
    reference=False,
    value_model=False,
    flops_per_token=64,
    derivation="8 samples x (reward forward 2 + 6 trained); beta 0: no reference pass, and with one "
    "update per batch the old log-probs are the current ones",
)
#: From the help text of trl 1.12.0 GRPOConfig.loss_type (TRL checks it only when the loss is computed).
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")

ALGORITHM = sampling_algorithm(
    "grpo", "GRPO", Recommendable("grpo", COST, grpo_space), choices={"loss_type": LOSS_TYPES}
)
