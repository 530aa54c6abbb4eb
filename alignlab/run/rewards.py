"""Where an online run's reward comes from: a learned reward model or a reward function.

Online algorithms (PPO, GRPO, RLOO) score their own samples. A run names one source:

- ``reward_function``: ``builtin:gold`` (the built-in task's gold reward, as a programmatic reward) or a
  user's Python function, ``module:function`` (importable, the current folder searched first) or
  ``path/to/file.py:function``. It follows TRL's reward-function convention: called with keyword
  arguments ``prompts`` and ``completions`` (lists of the same length; strings, or message lists for
  conversational data) plus others it may ignore through ``**kwargs``, it returns one float per completion;
- else ``reward_model``: a sequence classifier sharing the policy's tokenizer (a local folder, or
  ``builtin:tiny-rm`` on the built-in task, the default there), or ``{train_on: heldout, fraction: R}``:
  one trained first from the policy's backbone on the pairs of its own share of the prompts
  (alignlab.run.splits), once per content hash (alignlab.run.trained_rm), before the run trains.

On the built-in task, whenever the policy trains on anything but the gold reward itself, the gold
reward is *monitored*: computed on the same samples and logged beside the training reward every step
(GRPO/RLOO: TRL's ``rewards/gold_reward/mean`` with weight 0; PPO: ``objective/gold_reward``), so reward
hacking (the learned reward up while the gold reward falls) shows in the curves.

A user's function is imported, checked and called by :mod:`alignlab.run.reward_functions`.
Nothing heavy is imported here; a user's module is imported only when checked or used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.run.reward_functions import GOLD, RewardFunction, import_reward_function, score

if TYPE_CHECKING:
    from alignlab.run.config import RunConfig

DEFAULT_REWARD_MODEL = "builtin:tiny-rm"
"""The reward model of an online run on the built-in task that names neither source."""

@dataclass
class Reward:
    """The resolved reward of one online run."""

    source: str
    """The reference as the config gives it: ``builtin:tiny-rm``, a folder, ``builtin:gold``, ``module:function``."""
    model_dir: Path | None
    """The reward model's folder, when the policy trains on a learned reward model."""
    function: RewardFunction | None
    """The reward function, when the policy trains on one."""
    monitor: RewardFunction | None
    """A reward logged beside the training one but not trained on: the gold reward on the built-in task."""


def gold_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """The built-in task's gold reward of each completion (TRL's reward-function signature)."""
    from alignlab import task
    from alignlab.run.scoring import completion_text

    return [
        task.gold_reward(_prompt_string(p), completion_text(c))
        for p, c in zip(prompts, completions, strict=True)
    ]


def _prompt_string(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    users = [str(m.get("content", "")) for m in prompt if m.get("role") == "user"]
    return users[-1] if users else ""


def load_reward_function(reference: str) -> RewardFunction:
    """The function a ``reward_function`` reference names; UserInputError (one line) if it cannot be had."""
    if reference == GOLD:
        return gold_reward
    target, problem = import_reward_function(reference)
    if problem is not None:
        raise UserInputError(f"reward_function: {problem}")
    assert target is not None
    return target


def resolve_reward(config: RunConfig, *, gold: bool, trained: Path | None = None) -> Reward:
    """The reward of an online run: its reward function if it names one, else its reward model
    (default builtin:tiny-rm; ``trained``: the folder of the one the run trained first, for
    ``reward_model: {train_on: heldout}``); with ``gold`` (the built-in task) the gold reward is
    monitored beside it."""
    from alignlab.run.assets import resolve_model

    if config.reward_function is not None:
        function = load_reward_function(config.reward_function)
        monitor = gold_reward if gold and config.reward_function != GOLD else None
        return Reward(config.reward_function, None, function, monitor)
    monitor = gold_reward if gold else None
    if config.reward_model is not None and not isinstance(config.reward_model, str):
        if trained is None:
            raise ValueError("reward_model: {train_on: heldout}: the trained folder must be given")
        return Reward(f"heldout:{config.reward_model.fraction:g}", trained, None, monitor)
    source = config.reward_model or DEFAULT_REWARD_MODEL
    return Reward(source, resolve_model(source, what="reward_model"), None, monitor)


def trl_reward_funcs(reward: Reward, reward_model: Any, tokenizer: Any) -> tuple[list[Any], list[float]]:
    """GRPO/RLOO's ``reward_funcs`` and ``reward_weights``: the training reward with weight 1, the
    monitored gold reward beside it with weight 0 (TRL logs each as ``rewards/<name>/mean``).

    A learned reward model goes in as a function (:func:`reward_model_function`), not as the model:
    TRL's GRPO and RLOO score a model on prompt + completion without the eos its RewardTrainer trained
    on, which leaves the built-in reward model's scores flat.
    """
    funcs: list[Any] = [
        reward.function if reward.function is not None else reward_model_function(reward_model, tokenizer)
    ]
    weights = [1.0]
    if reward.monitor is not None:
        funcs.append(reward.monitor)
        weights.append(0.0)
    return funcs, weights


def reward_model_function(reward_model: Any, tokenizer: Any) -> RewardFunction:
    """A learned reward model as a TRL reward function (named ``reward_model`` in TRL's logs): each
    completion scored with its eos, as TRL's RewardTrainer trained it, on the policy's device."""
    from alignlab.models import resolve_device
    from alignlab.run.scoring import completion_text, prompt_text, reward_model_scores

    reward_model.to(resolve_device())

    def reward_model_reward(
        prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float]:
        eos = tokenizer.eos_token_id
        ended = [eos in ids for ids in completion_ids] if completion_ids is not None else None
        return reward_model_scores(
            reward_model,
            tokenizer,
            [prompt_text(p, tokenizer) for p in prompts],
            [completion_text(c) for c in completions],
            ended=ended,
        )

    reward_model_reward.__name__ = "reward_model"
    return reward_model_reward


__all__ = [
    "DEFAULT_REWARD_MODEL",
    "GOLD",
    "Reward",
    "RewardFunction",
    "gold_reward",
    "load_reward_function",
    "resolve_reward",
    "reward_model_function",
    "score",
    "trl_reward_funcs",
]
