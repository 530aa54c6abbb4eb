"""Metrics on held-out preference pairs: ``preference_accuracy`` (how often the chosen response scores
above the rejected one) and ``reward_margin`` (the mean margin), one unit per pair. A policy's margin is
its implicit reward, log(pi/pi_ref)(chosen) - log(pi/pi_ref)(rejected), in nats and without beta (so it
compares across trials whatever their beta); a reward model's is its score difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alignlab.run.eval_units import EvalReport, fingerprint, pairs_key, unit_values
from alignlab.run.scoring import (
    completion_text,
    encode_pairs,
    prompt_text,
    reference_of,
    reward_model_scores,
    sequence_logprobs,
)


def pair_report(margins: Sequence[float], pairs: Sequence[dict[str, Any]]) -> EvalReport:
    """Preference accuracy and mean margin from one margin per pair, with the pairs as their units."""
    if not margins:
        return EvalReport({})
    correct = [1.0 if m > 0 else 0.0 for m in margins]
    key = pairs_key(pairs)
    return EvalReport(
        {"preference_accuracy": sum(correct) / len(correct), "reward_margin": sum(margins) / len(margins)},
        units={"preference_accuracy": unit_values(key, correct), "reward_margin": unit_values(key, margins)},
    )


def implicit_reward_margins(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[dict[str, Any]],
    *,
    ref_model: Any | None = None,
    reference_memo: dict[str, Any] | None = None,
) -> list[float]:
    """The implicit reward margin (log(pi/pi_ref) of chosen minus of rejected, in nats, without beta) of
    each pair: preference accuracy is how often it is positive (:func:`pair_report`).

    ``reference_memo`` (a dict kept across trials) holds the reference log-probs, which depend only on the
    reference model and the pairs: computed once, reused by every trial.
    """
    if not pairs:
        return []
    p_ids, c_ids, r_ids = encode_pairs(tokenizer, pairs)
    pad = tokenizer.pad_token_id
    pol_c = sequence_logprobs(model, p_ids, c_ids, pad_token_id=pad)
    pol_r = sequence_logprobs(model, p_ids, r_ids, pad_token_id=pad)
    key = fingerprint(p_ids, c_ids, r_ids)
    if reference_memo is not None and key in reference_memo:
        ref_c, ref_r = reference_memo[key]
    else:
        with reference_of(model, ref_model) as ref:
            ref_c = sequence_logprobs(ref, p_ids, c_ids, pad_token_id=pad)
            ref_r = sequence_logprobs(ref, p_ids, r_ids, pad_token_id=pad)
        if reference_memo is not None:
            reference_memo[key] = (ref_c, ref_r)
    margin = (pol_c - ref_c) - (pol_r - ref_r)
    return [float(m) for m in margin.tolist()]


def reward_model_report(reward_model: Any, tokenizer: Any, pairs: Sequence[dict[str, Any]]) -> EvalReport:
    """Preference accuracy and mean score margin of a reward model on held-out pairs, the pairs as units."""
    if not pairs:
        return EvalReport({})
    prompts = [prompt_text(p["prompt"], tokenizer) for p in pairs]
    chosen = reward_model_scores(
        reward_model, tokenizer, prompts, [completion_text(p["chosen"]) for p in pairs]
    )
    rejected = reward_model_scores(
        reward_model, tokenizer, prompts, [completion_text(p["rejected"]) for p in pairs]
    )
    return pair_report([c - r for c, r in zip(chosen, rejected, strict=True)], pairs)


__all__ = ["implicit_reward_margins", "pair_report", "reward_model_report"]
