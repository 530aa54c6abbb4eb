"""The declaration every algorithm module makes, its ``ALGORITHM``: an :class:`Algorithm`.

It holds everything that differs between algorithms, in one place: what training needs (the feedback
shape, the PEFT task type, the TRL config class and trainer, the settings alignlab adds, the models it
loads, its callbacks, where the trained policy sits, how it is evaluated and how a pruned run stops), how
a finished run is loaded back and evaluated again, what alignlab.recommend ranks, costs and searches
(:class:`~alignlab.run.algorithms.recommendable.Recommendable`), and how the exports write it for TRL's
scripts and LLaMA-Factory (:mod:`~alignlab.run.algorithms.exports`). Fields with a default are what most
algorithms share (alignlab.run.algorithms.common); a module states only what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms import common
from alignlab.run.algorithms.exports import LlamaFactory, TrlCli
from alignlab.run.algorithms.parts import Built, Models, Saved, SavedRun, Setup
from alignlab.run.algorithms.recommendable import Recommendable
from alignlab.run.algorithms.saved import evaluate_policy_again

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings, RunConfig
    from alignlab.run.eval_units import EvalReport
    from alignlab.run.rewards import Reward


@dataclass(frozen=True)
class Algorithm:
    """One algorithm, declared once (a module's ``ALGORITHM``), registered in alignlab.run.algorithms.ALGORITHMS.

    The upper-case fields are constants; the others are functions that import trl, torch or peft only
    when called.
    """

    name: str
    """The name a run config's ``algorithm`` uses (a key of ALGORITHMS)."""
    TRAIN_KIND: str
    """The feedback shape it trains on: ``pairwise``, ``binary``, ``prompt`` or ``sft`` (prompt/completion)."""
    config_class: Callable[[], type]
    """The TRL config dataclass (imports trl)."""
    make_trainer: Callable[[Setup, Models], Built]
    """The TRL trainer."""
    trl: TrlCli
    """How TRL's command-line scripts run it (alignlab.sweep.export_trl)."""
    llamafactory: LlamaFactory | None = None
    """The LLaMA-Factory stage that trains it (alignlab.sweep.export_llamafactory); None: it has none."""
    recommend: tuple[Recommendable, ...] = ()
    """What alignlab.recommend ranks of it: none (SFT, reward modelling), one, or variants (DPO and IPO)."""
    PEFT_TASK_TYPE: str = "CAUSAL_LM"
    """PEFT's task type for its LoRA adapter: ``CAUSAL_LM`` or ``SEQ_CLS``."""
    NEEDS_REWARD_MODEL: bool = False
    """Whether runs score their own samples with a reward: ``reward_model`` (a learned model, default
    builtin:tiny-rm on the built-in task) or ``reward_function`` (PPO, GRPO, RLOO)."""
    PARAMS: Mapping[str, str] = field(default_factory=dict)
    """Hyperparameters alignlab adds on top of the TRL config's fields, with their meaning."""
    CHOICES: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Closed sets of TRL fields that TRL checks only at the first loss call; checked before any model loads."""
    trl_settings: Callable[[RunConfig], dict[str, Any]] = common.no_settings
    """TRL settings it needs beyond alignlab's common ones (the run's params override them)."""
    load_models: Callable[[Path, Reward | None, Any], Models] = common.load_models
    """``(model_dir, reward, tokenizer)``: the models to train and the frozen ones beside them, on the CPU
    (the trainer moves them); ``reward`` is the resolved reward of an algorithm that NEEDS_REWARD_MODEL."""
    callbacks: Callable[[RunConfig, Any], list[Any]] = common.no_callbacks
    """``(config, trl_args)``: TrainerCallbacks of its own, run before alignlab's common ones."""
    policy_of: Callable[[Any], Any] = common.policy_of
    """The trained model inside the trainer (what is evaluated and saved)."""
    evaluate: Callable[[Any, Models, Setup, RunData, EvalSettings, dict[str, Any]], EvalReport] = common.evaluate
    """``(trainer, models, setup, data, settings, memo)``: held-out metrics; ``memo`` keeps what depends
    only on the reference across the runs of a process."""
    stop_pruned: Callable[[Any], None] = common.stop_pruned
    """Stop training after a pruning decision, from inside a callback (given the TrainerControl)."""
    load_saved: Callable[..., Saved] = common.load_saved
    """``(model_dir, folder, tokenizer, *, lora)``: the trained model a finished run saved in ``folder``."""
    evaluate_saved: Callable[[Saved, SavedRun], EvalReport] = evaluate_policy_again
    """A finished run's saved model evaluated again (alignlab.run.reevaluate)."""
