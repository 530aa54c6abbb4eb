"""The reference policy's samples on the eval prompts (same prompts, same seed as the policy's), drawn
once and kept across the trials of a process, with what is computed from them: their gold rewards (and,
in alignlab.run.evaluation, their judge scores). Every evaluation samples with :func:`draw`
(:func:`alignlab.models.sample`: pure sampling, fixed seed), as the built-in task's feedback is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alignlab.models import sample
from alignlab.run.eval_units import fingerprint, group_by_prompt
from alignlab.run.scoring import reference_of

if TYPE_CHECKING:
    from alignlab.run.config import EvalSettings


@dataclass
class ReferenceSamples:
    """The reference policy's samples on the eval prompts (same prompts, same seed as the policy's)."""

    key: str
    texts: list[str]
    response_ids: list[list[int]]
    prompt_index: list[int]


def reference_samples(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    settings: EvalSettings,
    ref_model: Any | None,
    cache: dict[str, Any] | None,
) -> ReferenceSamples:
    """The reference policy's samples, drawn once and cached across trials (what its gold rewards and
    judge scores are computed from)."""
    key = fingerprint(texts, settings.model_dump(mode="json", exclude={"every_n_steps", "n_pairs"}))

    def draw_once() -> ReferenceSamples:
        with reference_of(model, ref_model) as ref:
            drawn = draw(ref, tokenizer, texts, settings)
        return ReferenceSamples(
            key, list(drawn.texts), [list(ids) for ids in drawn.response_ids], list(drawn.prompt_index)
        )

    result: ReferenceSamples = cached(cache, f"samples:{key}", draw_once)
    return result


def reference_gold_rewards(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    settings: EvalSettings,
    ref_model: Any | None,
    cache: dict[str, Any] | None,
) -> list[list[float]]:
    """Gold rewards of the reference policy's samples (same prompts, same seed), per prompt, cached across trials."""
    from alignlab import task

    ref = reference_samples(model, tokenizer, texts, settings, ref_model, cache)
    rewards: list[list[float]] = cached(
        cache,
        f"gold:{ref.key}",
        lambda: group_by_prompt(
            [task.gold_reward(texts[i], ref.texts[k]) for k, i in enumerate(ref.prompt_index)],
            ref.prompt_index,
            len(texts),
        ),
    )
    return rewards


def draw(model: Any, tokenizer: Any, texts: list[str], settings: EvalSettings) -> Any:
    """``settings.samples_per_prompt`` samples of each prompt, as every evaluation draws them (fixed seed)."""
    return sample(
        model,
        tokenizer,
        texts,
        n=settings.samples_per_prompt,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        seed=settings.seed,
    )


def cached(cache: dict[str, Any] | None, key: str, compute: Any) -> Any:
    """``cache[key]``, computed by ``compute()`` the first time (always computed without a cache)."""
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


__all__ = ["ReferenceSamples", "cached", "draw", "reference_gold_rewards", "reference_samples"]
