"""What the built-in task's policies write, judged by the gold reward: samples, feedback, evaluation.

:func:`sample_responses` samples a policy on task prompts (through :func:`alignlab.models.sample`, the one
sampling helper); :func:`make_feedback` turns the SFT policy's samples into feedback records in TRL's
shapes, labelled by the gold reward (alignlab.task.build writes them to the cached feedback files);
:func:`evaluate_gold` scores a policy on held-out prompts. Each is deterministic given its seed.

torch is imported by the sampling helper only when it runs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

from alignlab.errors import UserInputError
from alignlab.models import sample
from alignlab.task.reviews import GOOD_THRESHOLD, N_SLOTS, gold_reward, judge, prompts, win_rate, words

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

FeedbackKind = Literal["pairwise", "binary", "scalar", "prompt"]
FEEDBACK_KINDS: tuple[str, ...] = get_args(FeedbackKind)


def sample_responses(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    n: int = 1,
    temperature: float = 1.0,
    max_new_tokens: int = 20,
    seed: int = 0,
    batch_size: int = 1024,
) -> list[list[str]]:
    """``n`` sampled responses per prompt (pure sampling: no top-k / top-p), as text with a leading space.

    :func:`alignlab.models.sample` in batches of ``batch_size`` rows (the task's feedback files are built
    at 1024; another batch size gives other samples); the global torch RNG is left untouched. A response
    that does not end with eos within ``max_new_tokens`` is returned as generated (the gold reward calls
    it malformed). The same model, prompts and seed give the same responses.
    """
    samples = sample(
        model,
        tokenizer,
        prompts,
        n=n,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
        batch_size=batch_size,
    )
    texts = [" " + text.strip() for text in samples.texts]
    return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]


def _flip_indices(count: int, noise: float, rng: random.Random) -> set[int]:
    if not 0.0 <= noise <= 1.0:
        raise UserInputError(f"make_feedback: noise must be in [0, 1], but got {noise=}")
    return set(rng.sample(range(count), round(noise * count)))


def make_feedback(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    kind: FeedbackKind,
    *,
    n_prompts: int,
    noise: float = 0.0,
    seed: int = 0,
    samples_per_prompt: int = 4,
    temperature: float = 1.0,
) -> list[dict[str, Any]]:
    """Feedback records in TRL's shapes, from ``model`` (the SFT policy) labelled by the gold reward.

    ``n_prompts`` train prompts (shuffled by ``seed``) get ``samples_per_prompt`` samples each; then

    * ``pairwise``: {"prompt", "chosen", "rejected"}, the best against the worst sample of each prompt;
      prompts whose samples all tie are dropped;
    * ``binary``: {"prompt", "completion", "label"}, every sample, desirable (True) above
      :data:`GOOD_THRESHOLD`, undesirable below, samples at exactly the threshold dropped;
    * ``scalar``: {"prompt", "completion", "score"}, every sample with its gold reward;
    * ``prompt``: {"prompt"} only (for online methods), no sampling.

    ``noise`` imitates noisy raters: exactly ``round(noise * len(records))`` records, chosen by ``seed``,
    are flipped (pairs swapped, labels negated, scores exchanged among the flipped records in a random
    cycle). Deterministic given the arguments.
    """
    if kind not in FEEDBACK_KINDS:
        raise UserInputError(
            f"make_feedback: kind must be one of {', '.join(FEEDBACK_KINDS)}, but got {kind=}"
        )
    train = prompts("train")
    if not 1 <= n_prompts <= len(train):
        raise UserInputError(f"make_feedback: n_prompts must be in [1, {len(train)}], but got {n_prompts=}")
    rng = random.Random(seed)
    chosen_prompts = rng.sample(train, n_prompts)
    noise_rng = random.Random(seed + 7919)
    if kind == "prompt":
        _flip_indices(n_prompts, noise, noise_rng)  # validates noise; nothing to flip
        return [{"prompt": p} for p in chosen_prompts]
    samples = sample_responses(
        model, tokenizer, chosen_prompts, n=samples_per_prompt, temperature=temperature, seed=seed
    )
    records: list[dict[str, Any]] = []
    for prompt, responses in zip(chosen_prompts, samples, strict=True):
        rewards = [gold_reward(prompt, r) for r in responses]
        if kind == "pairwise":
            best = max(range(len(rewards)), key=lambda i: rewards[i])
            worst = min(range(len(rewards)), key=lambda i: rewards[i])
            if rewards[best] > rewards[worst]:
                records.append({"prompt": prompt, "chosen": responses[best], "rejected": responses[worst]})
        elif kind == "binary":
            records.extend(
                {"prompt": prompt, "completion": r, "label": s > GOOD_THRESHOLD}
                for r, s in zip(responses, rewards, strict=True)
                if s != GOOD_THRESHOLD
            )
        else:
            records.extend(
                {"prompt": prompt, "completion": r, "score": s}
                for r, s in zip(responses, rewards, strict=True)
            )
    flips = sorted(_flip_indices(len(records), noise, noise_rng))
    if kind == "pairwise":
        for i in flips:
            rec = records[i]
            rec["chosen"], rec["rejected"] = rec["rejected"], rec["chosen"]
    elif kind == "binary":
        for i in flips:
            records[i]["label"] = not records[i]["label"]
    elif flips:
        scores = [records[i]["score"] for i in flips]
        for pos, i in enumerate(flips):  # rotate: each flipped record gets another flipped record's score
            records[i]["score"] = scores[(pos + 1) % len(scores)]
    return records


def evaluate_gold(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    samples_per_prompt: int = 8,
    seed: int = 0,
    reference_rewards: Sequence[Sequence[float]] | None = None,
    temperature: float = 1.0,
    max_new_tokens: int = 20,
) -> dict[str, Any]:
    """Sample ``model`` on ``prompts`` and score with the gold reward.

    Returns ``mean_reward``, ``reward_stderr`` (standard error of the mean over prompts),
    ``malformed_fraction``, ``off_topic_fraction``, ``good_slot_fraction`` (good, unrepeated adjectives
    per slot among well-formed on-topic responses), ``mean_length`` (words per response), ``rewards``
    (one list per prompt: pass it back as ``reference_rewards``) and, with ``reference_rewards``,
    ``win_rate`` against it (ties half, see :func:`win_rate`).
    """
    samples = sample_responses(
        model,
        tokenizer,
        prompts,
        n=samples_per_prompt,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
    )
    judged = [[judge(p, r) for r in rs] for p, rs in zip(prompts, samples, strict=True)]
    rewards = [[j.reward for j in js] for js in judged]
    flat = [j for js in judged for j in js]
    per_prompt = [sum(r) / len(r) for r in rewards]
    mean = sum(per_prompt) / len(per_prompt)
    var = sum((x - mean) ** 2 for x in per_prompt) / max(1, len(per_prompt) - 1)
    honest = [j for j in flat if not j.malformed and not j.off_topic]
    result: dict[str, Any] = {
        "mean_reward": mean,
        "reward_stderr": math.sqrt(var / len(per_prompt)),
        "malformed_fraction": sum(j.malformed for j in flat) / len(flat),
        "off_topic_fraction": sum(j.off_topic for j in flat) / len(flat),
        "good_slot_fraction": (sum(j.good_slots for j in honest) / (N_SLOTS * len(honest)))
        if honest
        else 0.0,
        "mean_length": sum(len(words(r)) for rs in samples for r in rs) / len(flat),
        "rewards": rewards,
    }
    if reference_rewards is not None:
        result["win_rate"] = win_rate(rewards, reference_rewards)
    return result
