"""KTO (Ethayarajh et al. 2024) with TRL's KTOTrainer, on unpaired thumbs-up/down rows.

``desirable_weight`` / ``undesirable_weight`` are the paper's lambda_D / lambda_U; the paper's rule
keeps (lambda_D * n_D) / (lambda_U * n_U) in [1, 4/3] (:func:`kto_weight_range`, which the recommended
search space derives from the measured class balance). With LoRA the reference is the base with the
adapter disabled.

The reference log-probs cache (``cache_reference: true``, on in sweeps), as DPO's
(alignlab.run.algorithms.refcache): the first trial lets TRL compute the reference log-probs of each
row (``ref_logps``) and of its mismatched KL completion (``ref_KL_logps``, TRL's estimate of the
reference point z0), later trials read them, looked up per row by its prompt, completion and KL
completion ids. The KL completions are the completions rotated within each batch of
``per_device_train_batch_size`` rows, so that size is part of the key. The run is tagged
``alignlab.reference_logps`` = off | miss | hit.
"""

from __future__ import annotations

import math
from typing import Any

from alignlab.run.algorithms.common import trl_class
from alignlab.run.algorithms.exports import LlamaFactory, TrlCli
from alignlab.run.algorithms.interface import Algorithm
from alignlab.run.algorithms.recommendable import CostProfile, Recommendable, Space, SpaceContext
from alignlab.run.algorithms.refcache import Layout, cached_reference_trainer

#: KTO's tokenised rows and the columns TRL reads the reference log-probs from.
REFERENCE_LAYOUT = Layout(
    name="kto",
    keys=("prompt_ids", "completion_ids", "KL_completion_ids"),
    values=("ref_logps", "ref_KL_logps"),
    tokenisation_fields=("max_length", "loss_type", "per_device_train_batch_size", "pad_to_multiple_of"),
)


def _reference_columns(trainer: Any) -> list[str]:
    """The reference columns this KTOTrainer reads: the KL one only when it estimates the KL term."""
    return list(REFERENCE_LAYOUT.values) if trainer.calculate_KL else ["ref_logps"]


def balance_ratio(rows: list[dict[str, Any]], desirable_weight: float, undesirable_weight: float) -> float:
    """(lambda_D * n_D) / (lambda_U * n_U): the KTO paper recommends keeping it in [1, 4/3]."""
    n_d = sum(1 for r in rows if r["label"])
    n_u = len(rows) - n_d
    return (desirable_weight * n_d) / (undesirable_weight * n_u) if n_u else float("inf")


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


def kto_space(c: SpaceContext) -> Space:
    """beta and the learning rate, and ``desirable_weight`` from the class balance."""
    if c.data_type == "binary":
        n_d = c.n_desirable
        n_u = None if n_d is None else c.n_examples - n_d
    else:  # pairwise -> binary gives one of each per pair; scalar -> binary splits at the median
        n_d = n_u = c.n_examples
    low, high, note = kto_weight_range(n_d, n_u)
    search = {"beta": Space.log(0.01, 0.5)}
    if high > low:
        search["desirable_weight"] = Space.uniform(low, high)
    fixed = {**c.offline_fixed, "undesirable_weight": 1.0}
    notes = ("beta log 0.01..0.5 around the KTO paper's 0.1", note)
    return c.space("KTOConfig", search, {"beta": 0.1, "desirable_weight": low}, notes, fixed=fixed)


COST = CostProfile.offline(
    1,
    reference=True,
    flops_per_token=12,
    derivation="1 sequence x (6 trained + 2 reference) + 1 mismatched KL sequence x (2 policy + 2 reference)",
)

ALGORITHM = Algorithm(
    name="kto",
    TRAIN_KIND="binary",
    config_class=trl_class("trl.KTOConfig"),
    make_trainer=cached_reference_trainer("trl.KTOTrainer", REFERENCE_LAYOUT, expected=_reference_columns),
    recommend=(Recommendable("kto", COST, kto_space),),
    trl=TrlCli("kto"),
    llamafactory=LlamaFactory(
        "kto",
        renames={
            "beta": "pref_beta",
            "desirable_weight": "kto_chosen_weight",
            "undesirable_weight": "kto_rejected_weight",
        },
    ),
)
