"""What an algorithm declares for alignlab.recommend: :class:`Recommendable`, one entry the ranking scores
(DPO declares two: ``dpo`` and ``ipo``, DPO with ``loss_type: ipo``), with its :class:`CostProfile` (the
models it keeps resident and the FLOPs it spends, read by alignlab.recommend.costs) and its literature
search space, a function of the :class:`SpaceContext` recommend derives from the situation (read by
alignlab.recommend.search_spaces). Pure data and pure functions: recommend imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CostProfile:
    """What an algorithm keeps in GPU memory and how many FLOPs it spends per example token."""

    resident: tuple[str, ...]
    """The models resident during training, for display."""
    reference: bool
    """Needs reference log-probs (a frozen copy with full fine-tuning; the adapter switched off with LoRA)."""
    reward_model: bool
    """Keeps a reward model (a sequence classifier, assumed the policy's size) for scoring samples."""
    value_model: bool
    """Trains a value model (PPO's critic, assumed the policy's size)."""
    generates: bool
    """Samples responses from the policy during training (online RL)."""
    trained_sequences: int
    """Sequences per example in the forward/backward with gradients (DPO: chosen and rejected)."""
    samples_per_prompt: int
    """Online algorithms: responses sampled per prompt (RLOO's k); 1 for offline ones."""
    flops_per_token: int
    """FLOPs per parameter per sequence token of one example, training and scoring passes together
    (generation excluded): 6 per trained token (forward 2, backward 4), 2 per forward-only token.
    Derivations assume TRL 1.12's trainers at their defaults."""
    flops_derivation: str
    """How ``flops_per_token`` adds up, shown with the estimate."""

    @classmethod
    def offline(
        cls, trained_sequences: int, *, reference: bool, flops_per_token: int = 0, derivation: str = ""
    ) -> CostProfile:
        """An algorithm learning from a fixed data set: the policy, and the reference when it needs one. By
        default each trained sequence costs 6 per token, and 2 more for the reference's forward pass."""
        resident = ("policy", "reference") if reference else ("policy",)
        if not flops_per_token:
            flops_per_token = trained_sequences * (8 if reference else 6)
            each = "(6 trained + 2 reference forward)" if reference else "6 trained (no reference)"
            derivation = f"{trained_sequences} sequences x {each}"
        return cls(resident, reference, False, False, False, trained_sequences, 1, flops_per_token, derivation)

    @classmethod
    def online(
        cls, samples_per_prompt: int, *, reference: bool, value_model: bool, flops_per_token: int, derivation: str
    ) -> CostProfile:
        """An algorithm sampling ``samples_per_prompt`` responses per prompt, scored by a reward model."""
        resident = ("policy", *(("reference",) if reference else ()), "reward", *(("value",) if value_model else ()))
        return cls(resident, reference, True, value_model, True, 1, samples_per_prompt, flops_per_token, derivation)


@dataclass(frozen=True)
class SpaceContext:
    """What a search space depends on: recommend's situation, reduced (alignlab.recommend.search_spaces)."""

    data_type: str
    """The feedback: pairwise, binary, scalar or prompt."""
    n_examples: int
    """Rows of feedback."""
    n_desirable: int | None
    """Binary data: rows labelled desirable, when known."""
    noisy: bool
    """The labels are believed noisy."""
    seq_len: int
    """Tokens per sequence (prompt + response)."""
    batch_size: int
    """Examples per micro-batch."""
    learning_rate: dict[str, Any]
    """The ``learning_rate`` search entry for the method (adapter or full) and online or offline training."""
    learning_rate_default: float
    """The literature default of ``learning_rate``, run as the first trial."""
    learning_rate_note: str
    """Where the learning-rate range comes from."""
    fixed: dict[str, Any]
    """TRL fields every algorithm fixes in every trial (``per_device_train_batch_size``, ``num_train_epochs``)."""

    @property
    def offline_fixed(self) -> dict[str, Any]:
        """:attr:`fixed` plus ``max_length``: what an offline algorithm fixes."""
        return {**self.fixed, "max_length": self.seq_len}

    def space(
        self, trl_config: str, search: dict[str, Any], enqueue: dict[str, Any], notes: tuple[str, ...], *, fixed: dict[str, Any]
    ) -> Space:
        """A :class:`Space` of ``search`` and the learning rate, ``enqueue`` with the learning rate's
        default, and the notes with the learning rate's."""
        return Space(
            trl_config,
            {**search, "learning_rate": self.learning_rate},
            fixed,
            {**enqueue, "learning_rate": self.learning_rate_default},
            (*notes, self.learning_rate_note),
        )


@dataclass(frozen=True)
class Space:
    """A literature-based search space, in the sweep schema's format, named by TRL field."""

    trl_config: str
    """The TRL config class whose fields the names are."""
    search: dict[str, dict[str, Any]]
    """``search:`` entries of a sweep file: TRL field name -> {type, low, high, log} or {type, choices}."""
    fixed: dict[str, Any]
    """TRL fields set in every trial."""
    enqueue: dict[str, Any]
    """The literature defaults, run as the first trial."""
    notes: tuple[str, ...] = ()
    """Where the ranges come from and what was derived from the data."""

    @staticmethod
    def log(low: float, high: float) -> dict[str, Any]:
        """A ``search:`` entry: a float drawn on a log scale."""
        return {"type": "float", "low": low, "high": high, "log": True}

    @staticmethod
    def uniform(low: float, high: float) -> dict[str, Any]:
        """A ``search:`` entry: a float drawn uniformly."""
        return {"type": "float", "low": low, "high": high, "log": False}

    @staticmethod
    def choice(*choices: Any) -> dict[str, Any]:
        """A ``search:`` entry: one of ``choices``."""
        return {"type": "categorical", "choices": list(choices)}


@dataclass(frozen=True)
class Recommendable:
    """One algorithm as alignlab.recommend ranks, costs and searches it; run as the algorithm declaring it."""

    name: str
    """The name the ranking shows (``dpo``, ``ipo``, ...); unique over the registry."""
    cost: CostProfile
    """Resident models and FLOPs (alignlab.recommend.costs)."""
    search_space: Callable[[SpaceContext], Space]
    """Its literature search space in a situation (alignlab.recommend.search_spaces)."""
    ranked_like: str | None = None
    """Ranked by the rule table's rows for this other entry (alignlab.recommend.rules names the built-in
    ones only): the way a new or copied algorithm joins the ranking without a row of its own. Its own
    ``fits_`` and ``trials_`` facts stand in for those of the entry it is ranked like."""

