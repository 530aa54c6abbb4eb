"""KTO (Ethayarajh et al. 2024) with TRL's KTOTrainer, on unpaired thumbs-up/down rows.

``desirable_weight`` / ``undesirable_weight`` are the paper's lambda_D / lambda_U; the paper's rule
keeps (lambda_D * n_D) / (lambda_U * n_U) in [1, 4/3]. With LoRA the reference is the base with the
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

TRAIN_KIND = "binary"
PEFT_TASK_TYPE = "CAUSAL_LM"
NEEDS_REWARD_MODEL = False
PARAMS: Mapping[str, str] = {}
CHOICES: Mapping[str, tuple[str, ...]] = {}

#: KTO's tokenised rows and the columns TRL reads the reference log-probs from.
REFERENCE_LAYOUT = Layout(
    name="kto",
    keys=("prompt_ids", "completion_ids", "KL_completion_ids"),
    values=("ref_logps", "ref_KL_logps"),
    tokenisation_fields=("max_length", "loss_type", "per_device_train_batch_size", "pad_to_multiple_of"),
)


def config_class() -> type:
    from trl import KTOConfig

    return KTOConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    return {}


def make_trainer(setup: Setup, models: Models) -> Built:
    """The KTOTrainer; with ``cache_reference`` its reference log-probs come from the on-disk cache."""
    from datasets import Dataset
    from trl import KTOTrainer

    def build(trl_args: Any) -> Any:
        return KTOTrainer(
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
    trainer, outcome = build_with_cached_reference(build, setup.args, layout, key, expected=_reference_columns)
    return Built(trainer, {"reference_logps": outcome})


def _reference_columns(trainer: Any) -> list[str]:
    """The reference columns this KTOTrainer reads: the KL one only when it estimates the KL term."""
    return list(REFERENCE_LAYOUT.values) if trainer.calculate_KL else ["ref_logps"]


def balance_ratio(rows: list[dict[str, Any]], desirable_weight: float, undesirable_weight: float) -> float:
    """(lambda_D * n_D) / (lambda_U * n_U): the KTO paper recommends keeping it in [1, 4/3]."""
    n_d = sum(1 for r in rows if r["label"])
    n_u = len(rows) - n_d
    return (desirable_weight * n_d) / (undesirable_weight * n_u) if n_u else float("inf")
