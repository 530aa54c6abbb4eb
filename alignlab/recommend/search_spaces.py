"""Literature search spaces: what to tune for each algorithm, named by the TRL config field it sets.

:func:`search_space` gives, for one algorithm in one :class:`~alignlab.recommend.situation.Situation`,
the ``search:`` entries of a sweep file (``beta``, ``learning_rate``, ``desirable_weight``, ``kl_coef``
...), the fields fixed in every trial and the literature defaults run as the first trial. Learning
rates depend on adapter vs full fine-tuning (:data:`LEARNING_RATES`); KTO's weights on the measured
class balance (:func:`kto_weight_range`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from alignlab.recommend.costs import DEFAULT_COMPUTE, PROFILES
from alignlab.recommend.situation import Situation

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
    """What ``alignlab sweep`` runs it as (a key of alignlab.run.algorithms.ALGORITHMS; IPO is ``dpo`` with
    ``loss_type: ipo``)."""
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


def _float(low: float, high: float, *, log: bool = False) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "log": log}


def kto_weight_range(n_desirable: int | None, n_undesirable: int | None) -> tuple[float, float, str]:
    """``desirable_weight`` interval with ``undesirable_weight = 1``, from the KTO paper's rule
    (λ_D·n_D)/(λ_U·n_U) ∈ [1, 4/3]: λ_D ∈ [n_U/n_D, 4/3·n_U/n_D]. Balanced or unknown: [1, 4/3]."""
    if not n_desirable or not n_undesirable:
        why = "class balance unknown" if n_desirable is None else "one label is missing"
        return 1.0, round(4 / 3, 4), f"desirable_weight in [1, 4/3]: {why}, assumed balanced"
    ratio = n_undesirable / n_desirable
    low, high = math.ceil(ratio * 1e4) / 1e4, math.floor(4 / 3 * ratio * 1e4) / 1e4  # rounded inwards
    return (
        low,
        high,
        (
            f"desirable_weight in [{low}, {high}] keeps (λ_D·{n_desirable})/(1·{n_undesirable}) in [1, 4/3] "
            "(KTO paper's rule, undesirable_weight fixed at 1)"
        ),
    )


def search_space(algorithm: str, s: Situation) -> SearchSpace:
    """The search space of ``algorithm`` in situation ``s``; ranges from the literature, KTO's weights
    derived from the measured class balance."""
    adapter = "full" if s.method == "full" else "adapter"
    online = PROFILES[algorithm].generates
    lr_low, lr_high, lr_default = LEARNING_RATES[f"{'online' if online else 'offline'}-{adapter}"]
    lr = _float(lr_low, lr_high, log=True)
    lr_note = f"learning_rate {lr_low:g}..{lr_high:g} for {'LoRA adapters' if adapter == 'adapter' else 'full fine-tuning'}"
    shared_fixed: dict[str, Any] = {
        "per_device_train_batch_size": s.batch_size,
        "num_train_epochs": DEFAULT_COMPUTE.epochs_per_trial,
    }
    offline_fixed = {**shared_fixed, "max_length": s.seq_len}
    if algorithm in ("dpo", "ipo"):
        if algorithm == "ipo":
            return SearchSpace(
                "DPOConfig",
                {"beta": _float(0.01, 1.0, log=True), "learning_rate": lr},
                {**offline_fixed, "loss_type": "ipo"},
                {"beta": 0.1, "learning_rate": lr_default},
                "dpo",
                (
                    "IPO is DPOConfig(loss_type='ipo'); beta is IPO's tau, log 0.01..1 (Azar et al. 2023)",
                    lr_note,
                ),
            )
        search = {"beta": _float(0.01, 0.5, log=True), "learning_rate": lr}
        notes = ["beta log 0.01..0.5 around the DPO paper's 0.1 (Rafailov et al. 2023)", lr_note]
        if s.noisy:
            search["loss_type"] = {"type": "categorical", "choices": ["sigmoid", "robust", "ipo"]}
            notes.append(
                "noisy labels: loss_type sigmoid | robust | ipo (Chowdhury et al. 2024; Azar et al. 2023)"
            )
        return SearchSpace(
            "DPOConfig",
            search,
            offline_fixed,
            {"beta": 0.1, "learning_rate": lr_default},
            "dpo",
            tuple(notes),
        )
    if algorithm == "kto":
        if s.data_type == "binary":
            n_d = s.n_desirable
            n_u = None if n_d is None else s.n_examples - n_d
        else:  # pairwise -> binary gives one of each per pair; scalar -> binary splits at the median
            n_d = n_u = s.n_examples
        low, high, note = kto_weight_range(n_d, n_u)
        search = {"beta": _float(0.01, 0.5, log=True), "learning_rate": lr}
        if high > low:
            search["desirable_weight"] = _float(low, high)
        return SearchSpace(
            "KTOConfig",
            search,
            {**offline_fixed, "undesirable_weight": 1.0},
            {"beta": 0.1, "learning_rate": lr_default, "desirable_weight": low},
            "kto",
            ("beta log 0.01..0.5 around the KTO paper's 0.1", lr_note, note),
        )
    if algorithm == "ppo":
        return SearchSpace(
            "PPOConfig (trl.experimental.ppo)",
            {
                "kl_coef": _float(0.01, 0.2, log=True),
                "kl_target": _float(1.0, 10.0, log=True),
                "cliprange": _float(0.1, 0.3),
                "learning_rate": lr,
            },
            {**shared_fixed, "response_length": max(1, int(s.seq_len * 0.5)), "kl_estimator": "k3"},
            {"kl_coef": 0.05, "cliprange": 0.2, "learning_rate": lr_default},
            "ppo",
            (
                "kl_coef log 0.01..0.2 (TRL default 0.05; InstructGPT 0.02)",
                "kl_target 1..10 nats per response: alignlab's adaptive KL controller (Ziegler et al. 2019); kl_coef is its start",
                "cliprange 0.1..0.3 around PPO's 0.2 (Schulman et al. 2017)",
                "kl_estimator k3: the k1 estimate goes negative on small batches",
                lr_note,
            ),
        )
    if algorithm == "simpo":
        return SearchSpace(
            "CPOConfig (trl.experimental.cpo), loss_type simpo, cpo_alpha 0",
            {"beta": _float(1.0, 10.0, log=True), "simpo_gamma": _float(0.3, 1.6), "learning_rate": lr},
            offline_fixed,
            {"beta": 2.0, "simpo_gamma": 1.0, "learning_rate": lr_default},
            "simpo",
            (
                "beta log 1..10 and simpo_gamma 0.3..1.6 (Meng et al. 2024: beta 2-10, gamma/beta 0.3-0.8; "
                "default beta 2, gamma 1, their Llama-3 setting); alignlab sets loss_type simpo and cpo_alpha 0",
                lr_note,
            ),
        )
    if algorithm == "orpo":
        return SearchSpace(
            "ORPOConfig (trl.experimental.orpo)",
            {"beta": _float(0.05, 1.0, log=True), "learning_rate": lr},
            offline_fixed,
            {"beta": 0.1, "learning_rate": lr_default},
            "orpo",
            ("beta is ORPO's lambda, log 0.05..1 around the paper's 0.1 (Hong et al. 2024)", lr_note),
        )
    if algorithm in ("rloo", "grpo"):
        # Each optimizer step takes per_device_train_batch_size completions, whole groups of num_generations.
        batch = max(8, 8 * math.ceil(s.batch_size / 8))
        online_fixed = {
            **shared_fixed,
            "per_device_train_batch_size": batch,
            "max_completion_length": max(1, int(s.seq_len * 0.5)),
        }
        temperature = _float(0.7, 1.2)
        if algorithm == "rloo":
            return SearchSpace(
                "RLOOConfig",
                {
                    "beta": _float(0.01, 0.2, log=True),
                    "num_generations": {"type": "categorical", "choices": [2, 4]},
                    "temperature": temperature,
                    "learning_rate": lr,
                },
                online_fixed,
                {"beta": 0.05, "num_generations": 2, "temperature": 1.0, "learning_rate": lr_default},
                "rloo",
                (
                    "beta (KL coefficient) log 0.01..0.2 around TRL's 0.05; num_generations (k) 2 or 4 "
                    "(Ahmadian et al. 2024)",
                    "temperature 0.7..1.2 of the training samples",
                    lr_note,
                ),
            )
        return SearchSpace(
            "GRPOConfig",
            {
                "beta": _float(0.0, 0.1),
                "num_generations": {"type": "categorical", "choices": [4, 8]},
                "temperature": temperature,
                "learning_rate": lr,
            },
            online_fixed,
            {"beta": 0.0, "num_generations": 8, "temperature": 1.0, "learning_rate": lr_default},
            "grpo",
            (
                "beta (KL coefficient) 0..0.1: TRL's default 0 (no reference pass), DeepSeekMath 0.04 (Shao et al. 2024)",
                "num_generations 4 or 8 samples per prompt (TRL's default 8)",
                "temperature 0.7..1.2 of the training samples",
                lr_note,
            ),
        )
    raise ValueError(f"unknown algorithm {algorithm!r}")
