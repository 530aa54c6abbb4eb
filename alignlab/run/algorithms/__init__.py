"""Each algorithm is one module declaring one :class:`Algorithm` (its ``ALGORITHM``); :data:`ALGORITHMS`
registers them.

The declaration holds everything of the algorithm that differs between TRL's trainers and everything
the rest of alignlab reads of it: the feedback shape it trains on, the PEFT task type, its TRL config
class and the settings alignlab adds to it, the models it loads (PPO: a reward and a value model beside
the policy; GRPO/RLOO: a reward model, or none with a reward function), its callbacks (PPO: the adaptive
KL controller), how its trainer is built (DPO and KTO: with the reference log-probs cache of
``refcache``), where the trained policy sits in the trainer, how it is evaluated, how a pruned run stops
and how a finished run is loaded back; what alignlab.recommend ranks, costs and searches
(:class:`Recommendable`) and how alignlab.sweep.export writes it for TRL and LLaMA-Factory
(:class:`TrlCli`, :class:`LlamaFactory`). alignlab.run.training, alignlab.recommend and the exports read
these and never branch on an algorithm's name (the rule table alignlab.recommend.rules names them).

Adding an algorithm is one new module declaring an :class:`Algorithm` and one line in
:data:`ALGORITHMS`. Modules import nothing heavy at top level (torch, trl, peft load inside functions).
"""

from alignlab.run.algorithms import dpo, grpo, kto, orpo, ppo, reward, rloo, sft, simpo
from alignlab.run.algorithms.exports import LlamaFactory, TrlCli
from alignlab.run.algorithms.interface import Algorithm
from alignlab.run.algorithms.parts import Built, Models, Saved, SavedRun, Setup
from alignlab.run.algorithms.recommendable import CostProfile, Recommendable, Space, SpaceContext

#: Every algorithm a run can train, by the name a config's ``algorithm`` uses.
ALGORITHMS: dict[str, Algorithm] = {
    m.ALGORITHM.name: m.ALGORITHM for m in (sft, reward, dpo, kto, simpo, orpo, ppo, grpo, rloo)
}


def algorithm_of(name: str) -> Algorithm:
    """The algorithm registered as ``name`` (a name the run config's schema already checked)."""
    return ALGORITHMS[name]


def recommendables() -> dict[str, tuple[Algorithm, Recommendable]]:
    """Every entry alignlab.recommend ranks, by its name, with the algorithm that runs it, in the order of
    :data:`ALGORITHMS` (read afresh on each call: an algorithm registered later is included)."""
    return {r.name: (a, r) for a in ALGORITHMS.values() for r in a.recommend}


__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "Built",
    "CostProfile",
    "LlamaFactory",
    "Models",
    "Recommendable",
    "Saved",
    "SavedRun",
    "Setup",
    "Space",
    "SpaceContext",
    "TrlCli",
    "algorithm_of",
    "recommendables",
]
