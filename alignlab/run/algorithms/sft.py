"""Supervised fine-tuning with TRL's SFTTrainer, loss on the completion only (prompt/completion rows)."""

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
    from trl import SFTTrainer

    args.completion_only_loss = True
    return SFTTrainer(
        model=policy,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
