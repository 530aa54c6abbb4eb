"""Each algorithm is one module behind one interface, :class:`Algorithm`; :data:`ALGORITHMS` lists them.

An algorithm module declares everything that differs between TRL's trainers: the feedback shape it
trains on, the PEFT task type, its TRL config class and the settings alignlab adds to it, the models it
loads (PPO: a reward and a value model beside the policy; GRPO/RLOO: a reward model, or none with a
reward function), its callbacks (PPO: the adaptive KL controller), how its trainer is built (DPO and
KTO: with the reference log-probs cache of ``refcache``), where the trained
policy sits in the trainer, how it is evaluated and how a pruned run stops. alignlab.run.training
reads these and never branches on an algorithm's name.

Adding an algorithm is one new module that satisfies :class:`Algorithm` and one line in
:data:`ALGORITHMS`. Modules import nothing heavy at top level (torch, trl, peft load inside functions).
"""

from alignlab.run.algorithms import dpo, grpo, kto, orpo, ppo, reward, rloo, sft, simpo
from alignlab.run.algorithms.interface import Algorithm, Built, Models, Setup

#: Every algorithm a run can train, by the name a config's ``algorithm`` uses.
ALGORITHMS: dict[str, Algorithm] = {
    "sft": sft,
    "reward": reward,
    "dpo": dpo,
    "kto": kto,
    "simpo": simpo,
    "orpo": orpo,
    "ppo": ppo,
    "grpo": grpo,
    "rloo": rloo,
}


def algorithm_of(name: str) -> Algorithm:
    """The algorithm module of ``name`` (a name the run config's schema already checked)."""
    return ALGORITHMS[name]


__all__ = ["ALGORITHMS", "Algorithm", "Built", "Models", "Setup", "algorithm_of"]
