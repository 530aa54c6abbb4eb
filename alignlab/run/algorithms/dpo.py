"""DPO (Rafailov et al. 2023) and its loss variants (IPO, hinge, robust, ...) with TRL's DPOTrainer.

With LoRA the reference is the base with the adapter disabled (``ref_model=None``): one copy of the
base weights in memory. ``loss_type`` is a list in trl 1.12 (``[sigmoid]``; ``[sigmoid, sft]`` is RPO);
TRL's DPOConfig turns a single string into that list itself.

The reference log-probs cache (``cache_reference: true``, on in sweeps; alignlab.run.algorithms.refcache):
the first trial lets TRL compute the reference log-probs of the train pairs, later trials read them as
TRL's ``ref_chosen_logps`` / ``ref_rejected_logps`` columns, looked up per pair by its token ids. The run
is tagged ``alignlab.reference_logps`` = off | miss | hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.common import callbacks as callbacks
from alignlab.run.algorithms.common import evaluate as evaluate
from alignlab.run.algorithms.common import load_models as load_models
from alignlab.run.algorithms.common import policy_of as policy_of
from alignlab.run.algorithms.common import stop_pruned as stop_pruned
from alignlab.run.algorithms.interface import Built, Models, Setup
from alignlab.run.algorithms.refcache import Layout, build_with_cached_reference, cache_key

if TYPE_CHECKING:
    from alignlab.run.config import RunConfig

TRAIN_KIND = "pairwise"
PEFT_TASK_TYPE = "CAUSAL_LM"
NEEDS_REWARD_MODEL = False
PARAMS: Mapping[str, str] = {}
#: From the help text of trl 1.12.0 DPOConfig.loss_type (TRL checks it only at the first loss call).
CHOICES: Mapping[str, tuple[str, ...]] = {
    "loss_type": (
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
    ),
}


def config_class() -> type:
    from trl import DPOConfig

    return DPOConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    return {}


def make_trainer(setup: Setup, models: Models) -> Built:
    """The DPOTrainer; with ``cache_reference`` its reference log-probs come from the on-disk cache."""
    from datasets import Dataset
    from trl import DPOTrainer

    def build(trl_args: Any) -> Any:
        return DPOTrainer(
            model=models.policy,
            ref_model=None,
            args=trl_args,
            train_dataset=Dataset.from_list(setup.rows),
            processing_class=setup.tokenizer,
            peft_config=setup.peft_config,
            callbacks=setup.callbacks,
        )

    if not setup.config.cache_reference:
        return Built(build(setup.args), {"reference_logps": "off"})
    layout = REFERENCE_LAYOUT
    key = cache_key(layout, setup.model_dir, setup.tokenizer_dir, setup.data_fingerprint, setup.args)
    trainer, outcome = build_with_cached_reference(
        build, setup.args, layout, key, expected=lambda _: list(layout.values)
    )
    return Built(trainer, {"reference_logps": outcome})


# ---- the reference log-probs cache (alignlab.run.algorithms.refcache) ------------------------------

#: DPO's tokenised pairs and the columns TRL reads the reference log-probs from.
REFERENCE_LAYOUT = Layout(
    name="dpo",
    keys=("prompt_ids", "chosen_ids", "rejected_ids"),
    values=("ref_chosen_logps", "ref_rejected_logps"),
    tokenisation_fields=("max_length", "truncation_mode", "padding_free", "use_logits_to_keep", "ld_alpha"),
)
