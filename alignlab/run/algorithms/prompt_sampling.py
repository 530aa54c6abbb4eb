"""What GRPO and RLOO share: trainers that sample a group of completions per prompt and score them with a
reward (a reward model or a reward function, alignlab.run.rewards) passed to TRL as ``reward_funcs``.

Their modules keep what differs (the TRL classes, their choices, costs, search spaces and docs) and
declare themselves with :func:`sampling_algorithm`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.common import trl_class
from alignlab.run.algorithms.exports import TrlCli
from alignlab.run.algorithms.interface import Algorithm
from alignlab.run.algorithms.parts import Built, Models, Setup
from alignlab.run.algorithms.recommendable import Recommendable, Space, SpaceContext

if TYPE_CHECKING:
    from alignlab.run.rewards import Reward


def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    """The policy and, when the reward is a learned model, that frozen reward model."""
    from alignlab.models import load_causal_lm
    from alignlab.run.algorithms.reward_model import load_reward_backbone

    assert reward is not None, "prompt-sampling trainers need a reward (NEEDS_REWARD_MODEL)"
    reward_model = None
    if reward.model_dir is not None:
        reward_model = load_reward_backbone(reward.model_dir, tokenizer)
        reward_model.eval().requires_grad_(False)
    return Models(policy=load_causal_lm(model_dir, device="cpu"), reward_model=reward_model, reward=reward)


def sampling_algorithm(
    name: str, trl_prefix: str, recommend: Recommendable, *, choices: dict[str, tuple[str, ...]] | None = None
) -> Algorithm:
    """The declaration of a sampling algorithm: TRL's ``<trl_prefix>Config`` and ``<trl_prefix>Trainer`` on
    prompts, scored by a reward, run by ``trl <name>``; no LLaMA-Factory stage."""
    return Algorithm(
        name=name,
        TRAIN_KIND="prompt",
        config_class=trl_class(f"trl.{trl_prefix}Config"),
        make_trainer=sampling_trainer(f"trl.{trl_prefix}Trainer"),
        trl=TrlCli(name),
        recommend=(recommend,),
        NEEDS_REWARD_MODEL=True,
        CHOICES=choices or {},
        load_models=load_models,
    )


def sampling_trainer(path: str) -> Callable[[Setup, Models], Built]:
    """A ``make_trainer``: the trainer at ``path`` (GRPOTrainer, RLOOTrainer) on the prompts, with the
    run's reward functions and weights."""
    trainer_class = trl_class(path)

    def make_trainer(setup: Setup, models: Models) -> Built:
        from datasets import Dataset

        from alignlab.run.rewards import trl_reward_funcs

        assert models.reward is not None
        funcs, weights = trl_reward_funcs(models.reward, models.reward_model, setup.tokenizer)
        setup.args.reward_weights = weights
        return Built(
            trainer_class()(
                model=models.policy,
                reward_funcs=funcs,
                args=setup.args,
                train_dataset=Dataset.from_list([{"prompt": r["prompt"]} for r in setup.rows]),
                processing_class=setup.tokenizer,
                peft_config=setup.peft_config,
                callbacks=setup.callbacks,
            )
        )

    return make_trainer


def sampling_space(
    c: SpaceContext, trl_config: str, *, beta: dict[str, Any], generations: tuple[int, ...], defaults: dict[str, Any], notes: tuple[str, ...]
) -> Space:
    """A search space of GRPO or RLOO: ``beta``, ``num_generations`` among ``generations``, the sampling
    temperature and the learning rate; a batch of whole groups, half of ``seq_len`` generated. Each
    optimizer step takes ``per_device_train_batch_size`` completions, whole groups of ``num_generations``."""
    batch = max(8, 8 * math.ceil(c.batch_size / 8))
    fixed = {**c.fixed, "per_device_train_batch_size": batch, "max_completion_length": max(1, int(c.seq_len * 0.5))}
    search = {"beta": beta, "num_generations": Space.choice(*generations), "temperature": Space.uniform(0.7, 1.2)}
    notes = (*notes, "temperature 0.7..1.2 of the training samples")
    return c.space(trl_config, search, {**defaults, "temperature": 1.0}, notes, fixed=fixed)
