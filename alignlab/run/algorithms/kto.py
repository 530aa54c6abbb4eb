"""KTO (Ethayarajh et al. 2024) with TRL's KTOTrainer, on unpaired thumbs-up/down rows.

``desirable_weight`` / ``undesirable_weight`` are the paper's lambda_D / lambda_U; the paper's rule
keeps (lambda_D * n_D) / (lambda_U * n_U) in [1, 4/3]. With LoRA the reference is the base with the
adapter disabled.
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
    from trl import KTOTrainer

    return KTOTrainer(
        model=policy,
        ref_model=None,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )


def balance_ratio(rows: list[dict[str, Any]], desirable_weight: float, undesirable_weight: float) -> float:
    """(lambda_D * n_D) / (lambda_U * n_U): the KTO paper recommends keeping it in [1, 4/3]."""
    n_d = sum(1 for r in rows if r["label"])
    n_u = len(rows) - n_d
    return (desirable_weight * n_d) / (undesirable_weight * n_u) if n_u else float("inf")
