"""The interface every algorithm module satisfies (:class:`Algorithm`) and what it is handed and returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings, RunConfig
    from alignlab.run.evaluation import EvalReport
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


class Algorithm(Protocol):
    """What an algorithm module provides (modules satisfy this protocol)."""

    TRAIN_KIND: str
    """The feedback shape it trains on: ``pairwise``, ``binary``, ``prompt`` or ``sft`` (prompt/completion)."""
    PEFT_TASK_TYPE: str
    """PEFT's task type for its LoRA adapter: ``CAUSAL_LM`` or ``SEQ_CLS``."""
    NEEDS_REWARD_MODEL: bool
    """Whether runs score their own samples with a reward: ``reward_model`` (a learned model, default
    builtin:tiny-rm on the built-in task) or ``reward_function`` (PPO, GRPO, RLOO)."""
    PARAMS: Mapping[str, str]
    """Hyperparameters alignlab adds on top of the TRL config's fields, with their meaning."""
    CHOICES: Mapping[str, tuple[str, ...]]
    """Closed sets of TRL fields that TRL checks only at the first loss call; checked before any model loads."""

    def config_class(self) -> type:
        """The TRL config dataclass (imports trl)."""
        ...

    def trl_settings(self, config: RunConfig) -> dict[str, Any]:
        """TRL settings this algorithm needs beyond alignlab's common ones (the run's params override them)."""
        ...

    def load_models(self, model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
        """The models to train and the frozen ones beside them, on the CPU (the trainer moves them);
        ``reward`` is the resolved reward of an algorithm that NEEDS_REWARD_MODEL, else None."""
        ...

    def callbacks(self, config: RunConfig, args: Any) -> list[Any]:
        """TrainerCallbacks of its own, run before alignlab's common ones."""
        ...

    def make_trainer(self, setup: Setup, models: Models) -> Built:
        """The TRL trainer."""
        ...

    def policy_of(self, trainer: Any) -> Any:
        """The trained model inside the trainer (what is evaluated and saved)."""
        ...

    def evaluate(
        self,
        trainer: Any,
        models: Models,
        setup: Setup,
        data: RunData,
        settings: EvalSettings,
        memo: dict[str, Any],
    ) -> EvalReport:
        """Held-out metrics; ``memo`` keeps what depends only on the reference across the runs of a process."""
        ...

    def stop_pruned(self, control: Any) -> None:
        """Stop training after a pruning decision, from inside a callback."""
        ...
