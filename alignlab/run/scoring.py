"""Scoring texts with models: prompts and completions as the model sees them, the reference policy, the
log-probability of a response, and a reward model's score of prompt + completion.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Prompt = str | list[dict[str, Any]]
"""A prompt: plain text, or chat messages."""


def prompt_text(prompt: Prompt, tokenizer: Any) -> str:
    """A prompt as the model sees it: plain text as is, messages through the chat template."""
    if isinstance(prompt, str):
        return prompt
    return str(tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True))


def completion_text(completion: str | list[dict[str, Any]]) -> str:
    """A completion's text: a string as is, the assistant messages' contents joined."""
    if isinstance(completion, str):
        return completion
    return "".join(str(m.get("content", "")) for m in completion)


@contextlib.contextmanager
def reference_of(model: Any, ref_model: Any | None = None) -> Iterator[Any]:
    """The reference policy: ``ref_model`` if given, else ``model`` with its LoRA adapter disabled."""
    if ref_model is not None:
        yield ref_model
    elif hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
    else:
        raise ValueError("no reference: the model has no LoRA adapter and no reference model was given")


def sequence_logprobs(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    *,
    pad_token_id: int,
    batch_size: int = 128,
) -> torch.Tensor:
    """Sum of log p(response | prompt) per sequence (float32, on CPU)."""
    import torch

    device = next(model.parameters()).device
    totals: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, len(prompt_ids), batch_size):
            seqs = [
                list(p) + list(r)
                for p, r in zip(
                    prompt_ids[start : start + batch_size],
                    response_ids[start : start + batch_size],
                    strict=True,
                )
            ]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), pad_token_id, dtype=torch.long)
            attn = torch.zeros((len(seqs), width), dtype=torch.long)
            resp_mask = torch.zeros((len(seqs), width), dtype=torch.bool)
            for row, (seq, p) in enumerate(zip(seqs, prompt_ids[start : start + batch_size], strict=True)):
                ids[row, : len(seq)] = torch.tensor(seq)
                attn[row, : len(seq)] = 1
                resp_mask[row, len(p) : len(seq)] = True
            ids, attn = ids.to(device), attn.to(device)
            logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
            logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            totals.append((logp * resp_mask[:, 1:].to(device)).sum(-1).cpu())
    return torch.cat(totals) if totals else torch.zeros(0)


def encode_pairs(
    tokenizer: Any, pairs: Sequence[dict[str, Any]]
) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """Token ids (prompt, chosen + eos, rejected + eos) of preference pairs, as TRL builds them."""
    prompts, chosen, rejected = [], [], []
    for pair in pairs:
        p = tokenizer(prompt_text(pair["prompt"], tokenizer), add_special_tokens=False)["input_ids"]
        c = tokenizer(completion_text(pair["chosen"]), add_special_tokens=False)["input_ids"]
        r = tokenizer(completion_text(pair["rejected"]), add_special_tokens=False)["input_ids"]
        prompts.append(list(p))
        chosen.append([*c, tokenizer.eos_token_id])
        rejected.append([*r, tokenizer.eos_token_id])
    return prompts, chosen, rejected


def reward_model_scores(
    reward_model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    completions: Sequence[str],
    *,
    ended: Sequence[bool] | None = None,
    batch_size: int = 128,
    max_length: int | None = None,
) -> list[float]:
    """Scores of a sequence-classification reward model for prompt + completion texts (with ``max_length``,
    of each text's last ``max_length`` tokens: as long as it trained on). TRL's RewardTrainer trains on
    prompt + completion + eos and the score is read at the last token, so a completion is scored with the
    eos appended, as it was trained; ``ended`` (one flag per completion) leaves it off for samples that
    never reached eos (truncated). Without the eos the built-in reward model scores every response alike."""
    import torch

    device = next(reward_model.parameters()).device
    eos = tokenizer.eos_token or ""
    flags = list(ended) if ended is not None else [True] * len(completions)
    scores: list[float] = []
    old_side, old_truncation = tokenizer.padding_side, tokenizer.truncation_side
    tokenizer.padding_side, tokenizer.truncation_side = "right", "left"
    try:
        with torch.no_grad():
            for start in range(0, len(prompts), batch_size):
                texts = [
                    p + c + (eos if end and not c.endswith(eos) else "")
                    for p, c, end in zip(
                        prompts[start : start + batch_size],
                        completions[start : start + batch_size],
                        flags[start : start + batch_size],
                        strict=True,
                    )
                ]
                trim = {"truncation": max_length is not None, "max_length": max_length}
                enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False, **trim).to(device)
                scores.extend(reward_model(**enc).logits[:, 0].float().cpu().tolist())
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = old_side, old_truncation
    return scores


__all__ = [
    "Prompt",
    "completion_text",
    "encode_pairs",
    "prompt_text",
    "reference_of",
    "reward_model_scores",
    "sequence_logprobs",
]
