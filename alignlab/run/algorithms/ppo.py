"""PPO (Ziegler et al. 2019; Ouyang et al. 2022) with trl 1.12's experimental PPOTrainer.

Four models take part: the policy (LoRA adapter), the reference (the same base with the adapter
disabled), the reward model (frozen) and the value model (initialised from the reward model, trained).
The reward and value models are sequence classifiers sharing the policy's tokenizer. ``kl_target``
switches on alignlab's adaptive KL controller (alignlab.run.algorithms.kl_control); ``max_steps`` is turned into
``total_episodes`` (steps x batch size) so that every algorithm counts steps the same way.
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
    reward_model: Any,
    value_model: Any,
) -> Any:
    from datasets import Dataset
    from trl.experimental.ppo import PPOTrainer

    from alignlab.run.evaluation import prompt_text

    if args.max_steps and args.max_steps > 0:
        args.total_episodes = (
            args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps
        )
    ids = [
        tokenizer(prompt_text(r["prompt"], tokenizer), add_special_tokens=False)["input_ids"] for r in rows
    ]
    dataset = Dataset.from_dict({"input_ids": ids})
    return PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=None,
        reward_model=reward_model,
        value_model=value_model,
        train_dataset=dataset,
        peft_config=peft_config,
        callbacks=callbacks,
    )


def policy_of(trainer: Any) -> Any:
    """The policy inside a PPOTrainer (its model wraps policy and value)."""
    return trainer.model.policy
