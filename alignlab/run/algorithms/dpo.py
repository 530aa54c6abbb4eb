"""DPO (Rafailov et al. 2023) and its loss variants (IPO, hinge, robust, ...) with TRL's DPOTrainer.

With LoRA the reference is the base with the adapter disabled (``ref_model=None``): one copy of the
base weights in memory. ``loss_type`` is a list in trl 1.12 (``[sigmoid]``; ``[sigmoid, sft]`` is RPO);
TRL's DPOConfig turns a single string into that list itself.

The reference log-probs cache (``cache_reference: true``, on in sweeps; alignlab.run.algorithms.refcache):
the first trial lets TRL compute the reference log-probs of the train pairs, later trials read them as
TRL's ``ref_chosen_logps`` / ``ref_rejected_logps`` columns, looked up per pair by its token ids. The run
is tagged ``alignlab.reference_logps`` = off | miss | hit.

alignlab.recommend ranks it twice: as DPO and as IPO (Azar et al. 2023), which is DPOConfig with
``loss_type: ipo`` and the same cost.
"""

from __future__ import annotations

from dataclasses import replace

from alignlab.run.algorithms.common import trl_class
from alignlab.run.algorithms.exports import LlamaFactory, TrlCli
from alignlab.run.algorithms.interface import Algorithm
from alignlab.run.algorithms.recommendable import CostProfile, Recommendable, Space, SpaceContext
from alignlab.run.algorithms.refcache import Layout, cached_reference_trainer

#: DPO's tokenised pairs and the columns TRL reads the reference log-probs from.
REFERENCE_LAYOUT = Layout(
    name="dpo",
    keys=("prompt_ids", "chosen_ids", "rejected_ids"),
    values=("ref_chosen_logps", "ref_rejected_logps"),
    tokenisation_fields=("max_length", "truncation_mode", "padding_free", "use_logits_to_keep", "ld_alpha"),
)

#: From the help text of trl 1.12.0 DPOConfig.loss_type (TRL checks it only at the first loss call).
LOSS_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
)

COST = CostProfile.offline(2, reference=True)


def dpo_space(c: SpaceContext) -> Space:
    search = {"beta": Space.log(0.01, 0.5)}
    notes = ["beta log 0.01..0.5 around the DPO paper's 0.1 (Rafailov et al. 2023)"]
    if c.noisy:
        search["loss_type"] = Space.choice("sigmoid", "robust", "ipo")
        notes.append("noisy labels: loss_type sigmoid | robust | ipo (Chowdhury et al. 2024; Azar et al. 2023)")
    return c.space("DPOConfig", search, {"beta": 0.1}, tuple(notes), fixed=c.offline_fixed)


def ipo_space(c: SpaceContext) -> Space:
    note = "IPO is DPOConfig(loss_type='ipo'); beta is IPO's tau, log 0.01..1 (Azar et al. 2023)"
    fixed = {**c.offline_fixed, "loss_type": "ipo"}
    return c.space("DPOConfig", {"beta": Space.log(0.01, 1.0)}, {"beta": 0.1}, (note,), fixed=fixed)


ALGORITHM = Algorithm(
    name="dpo",
    TRAIN_KIND="pairwise",
    config_class=trl_class("trl.DPOConfig"),
    make_trainer=cached_reference_trainer("trl.DPOTrainer", REFERENCE_LAYOUT),
    CHOICES={"loss_type": LOSS_TYPES},
    recommend=(
        Recommendable("dpo", COST, dpo_space),
        Recommendable(
            "ipo",
            replace(COST, flops_derivation=f"as DPO: {COST.flops_derivation}"),
            ipo_space,
        ),
    ),
    trl=TrlCli("dpo"),
    llamafactory=LlamaFactory("dpo", renames={"beta": "pref_beta", "label_smoothing": "dpo_label_smoothing"}),
)
