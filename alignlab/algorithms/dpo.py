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
) -> Any:
    from datasets import Dataset
    from trl import DPOTrainer

    return DPOTrainer(
        model=policy,
        ref_model=None,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
