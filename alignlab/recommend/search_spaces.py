"""Literature search spaces: what to tune for each algorithm, named by the TRL config field it sets.

:func:`search_space` gives, for one algorithm in one :class:`~alignlab.recommend.situation.Situation`,
the ``search:`` entries of a sweep file (``beta``, ``learning_rate``, ``desirable_weight``, ``kl_coef``
...), the fields fixed in every trial and the literature defaults run as the first trial. The ranges of
each algorithm, with their sources, are declared in its module (alignlab.run.algorithms, e.g. KTO's
weights from the measured class balance in ``kto.kto_space``); what they share is here: the learning
rate, which depends on adapter vs full fine-tuning and online vs offline training (:data:`LEARNING_RATES`),
and the batch size and epochs every trial fixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alignlab.recommend.costs import DEFAULT_COMPUTE, profile_of
from alignlab.recommend.situation import Situation
from alignlab.run.algorithms import Space, SpaceContext, recommendables

LEARNING_RATES: dict[str, tuple[float, float, float]] = {
    "offline-full": (5e-7, 5e-5, 5e-7),
    "offline-adapter": (1e-5, 5e-4, 5e-5),
    "online-full": (3e-7, 1e-5, 3e-6),
    "online-adapter": (3e-6, 1e-4, 1e-5),
}
"""(low, high, literature default) of ``learning_rate``: full fine-tuning of DPO/KTO uses 5e-7..5e-6
(Zephyr: 5e-7; KTO paper: 5e-7..5e-6), LoRA adapters need 10-100x more (alignlab's measurements:
5e-5..1e-4 best, collapse above 2e-4); TRL's PPOConfig defaults to 3e-6."""


@dataclass(frozen=True)
class SearchSpace:
    """A literature-based search space for one algorithm, in the sweep schema's format."""

    trl_config: str
    """The TRL config class whose fields the names are."""
    search: dict[str, dict[str, Any]]
    """``search:`` entries of a sweep file: TRL field name -> {type, low, high, log} or {type, choices}."""
    fixed: dict[str, Any]
    """TRL fields set in every trial."""
    enqueue: dict[str, Any]
    """The literature defaults, run as the first trial."""
    sweep_algorithm: str
    """What ``alignlab sweep`` runs it as (a key of alignlab.run.algorithms.ALGORITHMS: the algorithm that
    declares it; IPO is ``dpo`` with ``loss_type: ipo``)."""
    notes: tuple[str, ...] = ()
    """Where the ranges come from and what was derived from the data."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "trl_config": self.trl_config,
            "sweep_algorithm": self.sweep_algorithm,
            "search": self.search,
            "fixed": self.fixed,
            "enqueue": self.enqueue,
            "notes": list(self.notes),
        }


def space_context(algorithm: str, s: Situation) -> SpaceContext:
    """What the search space of ``algorithm`` depends on in situation ``s``: the learning rate for its
    kind of training, and the fields every trial fixes."""
    adapter = "full" if s.method == "full" else "adapter"
    online = profile_of(algorithm).generates
    lr_low, lr_high, lr_default = LEARNING_RATES[f"{'online' if online else 'offline'}-{adapter}"]
    how = "LoRA adapters" if adapter == "adapter" else "full fine-tuning"
    return SpaceContext(
        data_type=s.data_type,
        n_examples=s.n_examples,
        n_desirable=s.n_desirable,
        noisy=s.noisy,
        seq_len=s.seq_len,
        batch_size=s.batch_size,
        learning_rate=Space.log(lr_low, lr_high),
        learning_rate_default=lr_default,
        learning_rate_note=f"learning_rate {lr_low:g}..{lr_high:g} for {how}",
        fixed={"per_device_train_batch_size": s.batch_size, "num_train_epochs": DEFAULT_COMPUTE.epochs_per_trial},
    )


def search_space(algorithm: str, s: Situation) -> SearchSpace:
    """The search space of ``algorithm`` (a recommendable entry) in situation ``s``, as its module declares
    it, run as the algorithm that declares it."""
    entries = recommendables()
    if algorithm not in entries:
        raise ValueError(f"unknown algorithm {algorithm!r}")
    runs_as, entry = entries[algorithm]
    space = entry.search_space(space_context(algorithm, s))
    return SearchSpace(space.trl_config, space.search, space.fixed, space.enqueue, runs_as.name, space.notes)
