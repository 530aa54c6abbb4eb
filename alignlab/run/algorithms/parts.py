"""What alignlab.run.training hands an algorithm and what it hands back: :class:`Models`, :class:`Setup`,
:class:`Built`; and for a finished run evaluated again (alignlab.run.reevaluate), :class:`Saved` and
:class:`SavedRun`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings, RunConfig
    from alignlab.run.judges import Judge
    from alignlab.run.rewards import Reward


@dataclass
class Models:
    """The models a run loads before its trainer is built."""

    policy: Any
    """The model the trainer trains: a causal LM, or (reward modelling) a sequence classifier."""
    reward_model: Any = None
    """Online algorithms: the frozen reward model (a sequence classifier) that scores responses, when the
    run's reward is a learned model."""
    value_model: Any = None
    """PPO: the value model (initialised from the reward model, or from the policy with a reward function; trained)."""
    reward: Reward | None = None
    """Online algorithms: where the reward comes from (a reward model or a reward function), and what is
    monitored beside it (the built-in task's gold reward)."""


@dataclass
class Setup:
    """What alignlab.run.training hands an algorithm to build its trainer with."""

    config: RunConfig
    model_dir: Path
    tokenizer_dir: Path
    tokenizer: Any
    rows: list[dict[str, Any]]
    """Training rows in the algorithm's TRL shape (its TRAIN_KIND)."""
    data_fingerprint: str
    args: Any
    """The algorithm's TRL config, already built from the run's params."""
    peft_config: Any
    """A PEFT LoraConfig, or None for full fine-tuning."""
    callbacks: list[Any]
    judge: Judge | None = None
    """The run's judge (alignlab.run.judges): evaluations report judge_win_rate with it."""


@dataclass
class Built:
    """A trainer and what its construction adds to the run's MLflow tags (without the alignlab. prefix)."""

    trainer: Any
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Saved:
    """A finished run's trained model, loaded back from its output folder."""

    model: Any
    """The trained model: the base with the run's adapter, or the saved full model."""
    reference: Any = None
    """The reference as a model of its own (full fine-tuning: the base); None: the model with its adapter
    disabled, or no reference (a reward model)."""


@dataclass
class SavedRun:
    """A finished run to evaluate again, and how (alignlab.run.reevaluate builds it)."""

    config: RunConfig
    model_dir: Path
    """The run's base model folder."""
    tokenizer: Any
    data: RunData
    """The run's data, split as in training (its held-out prompts and pairs)."""
    settings: EvalSettings
    """The evaluation settings, resized for the re-evaluation."""
    seeds: Sequence[int]
    """The sampling seeds; each prompt's units are averaged over them."""
    memo: dict[str, Any]
    """What depends only on the reference, kept across calls."""
    needs_reward: bool = False
    """The algorithm scores its samples with a reward (NEEDS_REWARD_MODEL): it is scored again beside gold."""
