"""RLOO (Ahmadian et al. 2024, "Back to Basics") with TRL's RLOOTrainer: REINFORCE with a leave-one-out
baseline, online on prompts, no value model.

Each prompt gets ``num_generations`` samples (TRL's default 2); a sample's baseline is the mean reward
of the prompt's other samples. The KL penalty ``beta`` (TRL's default 0.05) is against the reference,
the base with the LoRA adapter disabled. The reward is a reward model or a reward function
(alignlab.run.rewards), passed to TRL as ``reward_funcs``; on the built-in task the gold reward rides
along with weight 0 (TRL logs ``rewards/gold_reward/mean`` beside the training reward). ``max_steps``
counts optimizer steps of ``per_device_train_batch_size`` completions. LLaMA-Factory has no RLOO stage.
"""

from __future__ import annotations

from alignlab.run.algorithms.prompt_sampling import sampling_algorithm, sampling_space
from alignlab.run.algorithms.recommendable import CostProfile, Recommendable, Space, SpaceContext


def rloo_space(c: SpaceContext) -> Space:
    note = "beta (KL coefficient) log 0.01..0.2 around TRL's 0.05; num_generations (k) 2 or 4 (Ahmadian et al. 2024)"
    defaults = {"beta": 0.05, "num_generations": 2}
    return sampling_space(c, "RLOOConfig", beta=Space.log(0.01, 0.2), generations=(2, 4), defaults=defaults, notes=(note,))


#: TRL's defaults: k=2, one update per batch.
COST = CostProfile.online(
    2,
    reference=True,
    value_model=False,
    flops_per_token=24,
    derivation="2 samples x (policy, reference, reward forwards 3 x 2 + 6 trained)",
)

ALGORITHM = sampling_algorithm("rloo", "RLOO", Recommendable("rloo", COST, rloo_space))
