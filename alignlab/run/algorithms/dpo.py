"""DPO (Rafailov et al. 2023) and its loss variants (IPO, hinge, robust, ...) with TRL's DPOTrainer.

With LoRA the reference is the base with the adapter disabled (``ref_model=None``): one copy of the
base weights in memory. ``loss_type`` is a list in trl 1.12 (``[sigmoid]``; ``[sigmoid, sft]`` is RPO).
"""

from __future__ import annotations

from typing import Any


def make_trainer(
    policy: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    args: Any,
    *,
    peft_config: Any,
    callbacks: list[Any],
    reference_cache_key: str | None = None,
) -> Any:
    """The DPOTrainer; with ``reference_cache_key`` its reference log-probs come from alignlab.run.algorithms.refcache.

    Sets ``trainer.alignlab_reference_logps`` to ``hit``, ``miss`` or ``off`` for the run's tags.
    """
    from datasets import Dataset
    from trl import DPOTrainer

    def build(trl_args: Any) -> Any:
        return DPOTrainer(
            model=policy,
            ref_model=None,
            args=trl_args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
        )

    if reference_cache_key is None:
        trainer = build(args)
        trainer.alignlab_reference_logps = "off"
        return trainer
    from alignlab.run.algorithms import refcache

    trainer, outcome = refcache.build_dpo_trainer(build, args, reference_cache_key)
    trainer.alignlab_reference_logps = outcome
    return trainer
