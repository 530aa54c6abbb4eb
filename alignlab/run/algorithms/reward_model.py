"""A reward model: the policy's backbone with a one-output ``score`` head (AutoModelForSequenceClassification,
num_labels=1), so it shares the policy's tokenizer, which is what PPO needs of it; loaded
(:func:`load_reward_backbone`) and trained outside a run (:func:`train_reward_model`: the built-in task's
reward model, the reward model a sweep trains on held-out pairs). The ``reward`` algorithm trains one in
a run (alignlab.run.algorithms.reward). With LoRA the head is trained in full (PEFT's SEQ_CLS task keeps
``score`` in modules_to_save).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignlab.run.config import LoraSettings

#: PEFT's task type of a reward model's LoRA adapter.
PEFT_TASK_TYPE = "SEQ_CLS"


def load_reward_backbone(model_dir: str | Path, tokenizer: Any, *, dtype: Any = None) -> Any:
    """The model of ``model_dir`` with a fresh scalar head (or its trained head, for a reward model)."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=1, dtype=dtype)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def reward_trainer(
    model: Any, tokenizer: Any, rows: list[dict[str, Any]], args: Any, peft_config: Any, callbacks: list[Any]
) -> Any:
    from datasets import Dataset
    from trl import RewardTrainer

    return RewardTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )


def train_reward_model(
    model_dir: Path,
    tokenizer_dir: Path,
    rows: list[dict[str, Any]],
    target: Path,
    *,
    steps: int,
    learning_rate: float,
    seed: int = 0,
    max_length: int = 64,
    batch_size: int = 32,
    lora: LoraSettings | None = None,
) -> Path:
    """Train a reward model and save it with its tokenizer to ``target``, atomically (bf16 on a GPU, fp32
    on the CPU): every weight, or with ``lora`` LoRA adapters and the score head, merged when saved (so
    the folder loads as a full model)."""
    import os
    import shutil

    from trl import RewardConfig

    from alignlab.models import load_tokenizer, resolve_device

    cuda = resolve_device() == "cuda"
    tokenizer = load_tokenizer(tokenizer_dir)
    model = load_reward_backbone(model_dir, tokenizer)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        args = RewardConfig(
            output_dir=str(tmp / "trainer"),
            max_steps=steps,
            learning_rate=learning_rate,
            per_device_train_batch_size=batch_size,
            bf16=cuda,
            gradient_checkpointing=False,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            seed=seed,
            use_cpu=not cuda,
            max_length=max_length,
        )
        peft_config = None
        if lora is not None:
            from peft import LoraConfig

            peft_config = LoraConfig(
                task_type=PEFT_TASK_TYPE,
                r=lora.r,
                lora_alpha=lora.lora_alpha,
                lora_dropout=lora.lora_dropout,
                target_modules=lora.target_modules,
            )
        trainer = reward_trainer(model, tokenizer, rows, args, peft_config, [])
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.train()
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        trained = trainer.model.merge_and_unload() if lora is not None else trainer.model
        trained.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
