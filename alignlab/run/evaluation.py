"""Held-out evaluation of a trained policy, independent of beta.

Every metric here is comparable across trials whatever their beta (DPO/KTO losses scale with beta,
so eval loss is never an objective):

- ``preference_accuracy`` / ``reward_margin``: on held-out pairs, how often the implicit reward
  log(pi/pi_ref)(chosen) - log(pi/pi_ref)(rejected) is positive, and its mean (in nats, without beta);
  for a reward model, its scores;
- ``kl``: KL(pi || pi_ref) per response, the mean of log pi - log pi_ref over responses sampled from pi
  on held-out prompts (the k1 estimator: unbiased, noisy per sample, averaged over many);
- ``gold_reward`` / ``win_rate`` / ``malformed_rate``: on the built-in task, the gold reward of sampled
  responses and the win rate against the reference policy sampled with the same seed (ties half);
- ``reward``: the mean score of the samples under the run's training reward (its reward model or
  reward function), where it has one;
- ``response_length``: mean sampled response length in tokens;
- ``judge_win_rate``, ``judge_win_rate_kl``, ``judge_reward``, ``judge_accuracy``: with a judge, as
  alignlab.run.judges defines them (``judge_win_rate`` is ``win_rate`` with the judge's scores).

Each metric is the mean of per-unit values, kept in :attr:`EvalReport.units`: one value per held-out
prompt (the mean over its samples) for the sampled metrics, one per held-out pair for
``preference_accuracy`` / ``reward_margin``. The units are in the order of the held-out prompts (pairs),
so two trials evaluated on the same held-out data have the same unit at the same index and their
difference can be bootstrapped paired (alignlab.results.uncertainty); each metric's ``key`` is a
fingerprint of its prompts (pairs) in order, equal exactly when they are the same.

The reference is the base model with the LoRA adapter disabled, or a separate frozen model. Both are
sampled with :func:`alignlab.models.sample` (pure sampling, fixed seed), as the built-in task's feedback is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignlab.models import sample

if TYPE_CHECKING:
    import torch

    from alignlab.run.algorithms import Models, Setup
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings
    from alignlab.run.judges import Judge

Prompt = str | list[dict[str, Any]]

#: metric -> ``{"key": fingerprint of its units (the prompts or pairs, in order), "values": one value per
#: unit}``: plain JSON, as RunResult carries it and alignlab.sweep.records stores it.
Units = dict[str, dict[str, Any]]


@dataclass
class EvalReport:
    metrics: dict[str, float]
    """Metric name (alignlab.run.config.METRICS) -> value."""
    samples: list[dict[str, Any]] = field(default_factory=list)
    """A few sampled responses with their rewards, for the MLflow artifact table."""
    units: Units = field(default_factory=dict)
    """The per-prompt (per-pair) values each metric is the mean of (see the module docstring)."""
    judge_seconds: float = 0.0
    """Wall time spent scoring with the judge (its accuracy included), for what judging costs."""


def unit_values(key: str, values: Sequence[float]) -> dict[str, Any]:
    """One metric's units as :data:`Units` holds them."""
    return {"key": key, "values": [float(v) for v in values]}


def prompts_key(texts: Sequence[str]) -> str:
    """The units key of per-prompt metrics: the held-out prompt texts, in order."""
    return "prompts:" + _fingerprint(list(texts))


def pairs_key(pairs: Sequence[dict[str, Any]]) -> str:
    """The units key of per-pair metrics: the held-out pairs, in order."""
    return "pairs:" + _fingerprint(list(pairs))


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
    key = _fingerprint(p_ids, c_ids, r_ids)
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


def evaluate_policy(
    model: Any,
    tokenizer: Any,
    *,
    prompts: Sequence[Prompt],
    pairs: Sequence[dict[str, Any]],
    settings: EvalSettings,
    gold: bool,
    ref_model: Any | None = None,
    reward_model: Any | None = None,
    reference_memo: dict[str, Any] | None = None,
    has_reference: bool = True,
    reward_function: Any | None = None,
    judge: Judge | None = None,
) -> EvalReport:
    """All the metrics a policy gets: sampled on held-out prompts, scored on held-out pairs.

    ``reference_memo`` (a dict kept across the trials of a study, in one process) holds what depends
    only on the reference policy: its samples on the eval prompts, their gold rewards and judge scores,
    and its pair log-probs.
    """
    raw_prompts = list(prompts[: settings.n_prompts])
    texts = [prompt_text(p, tokenizer) for p in raw_prompts]
    metrics: dict[str, float] = {}
    samples = _draw(model, tokenizer, texts, settings)
    key = prompts_key(texts)
    units: Units = {}

    def per_prompt(metric: str, values: Sequence[float]) -> None:
        """A sampled metric: its mean over samples, and its mean per prompt as the units."""
        metrics[metric] = sum(values) / max(1, len(values))
        grouped = _per_prompt(values, samples.prompt_index, len(texts))
        units[metric] = unit_values(key, [sum(g) / len(g) for g in grouped])

    per_prompt("response_length", [float(len(r)) for r in samples.response_ids])
    table: list[dict[str, Any]] = []
    if has_reference:
        pad = tokenizer.pad_token_id
        pol = sequence_logprobs(model, samples.prompt_ids, samples.response_ids, pad_token_id=pad)
        with reference_of(model, ref_model) as ref:
            ref_lp = sequence_logprobs(ref, samples.prompt_ids, samples.response_ids, pad_token_id=pad)
        per_prompt("kl", (pol - ref_lp).tolist())
        held_out = pairs[: settings.n_pairs]
        paired = pair_report(
            implicit_reward_margins(model, tokenizer, held_out, ref_model=ref_model, reference_memo=reference_memo),
            held_out,
        )
        metrics.update(paired.metrics)
        units.update(paired.units)
    rewards: list[float] | None = None
    if gold:
        from alignlab import task

        judged = [task.judge(texts[i], samples.texts[k]) for k, i in enumerate(samples.prompt_index)]
        rewards = [j.reward for j in judged]
        per_prompt("gold_reward", rewards)
        per_prompt("malformed_rate", [float(j.malformed) for j in judged])
        if has_reference:
            ref_rewards = reference_gold_rewards(model, tokenizer, texts, settings, ref_model, reference_memo)
            policy_rewards = _per_prompt(rewards, samples.prompt_index, len(texts))
            metrics["win_rate"] = task.win_rate(policy_rewards, ref_rewards)
            units["win_rate"] = unit_values(
                key, [task.win_rate([p], [r]) for p, r in zip(policy_rewards, ref_rewards, strict=True)]
            )
    if reward_model is not None or reward_function is not None:
        sampled_prompts = [texts[i] for i in samples.prompt_index]
        if reward_function is not None:
            from alignlab.run.reward_functions import score

            scores = score(reward_function, sampled_prompts, samples.texts)
        else:
            ended = [tokenizer.eos_token_id in ids for ids in samples.response_ids]
            scores = reward_model_scores(reward_model, tokenizer, sampled_prompts, samples.texts, ended=ended)
        per_prompt("reward", [float(x) for x in scores])
    judge_seconds = 0.0
    if judge is not None:
        started = time.perf_counter()

        def scored(drawn: Any) -> list[float]:  # the judge's score of each sample
            eos = tokenizer.eos_token_id
            ended = [eos in ids for ids in drawn.response_ids]
            return judge.score([raw_prompts[i] for i in drawn.prompt_index], drawn.texts, ended)

        judge_scores = scored(samples)
        per_prompt("judge_reward", judge_scores)
        if has_reference:
            ref = _reference_samples(model, tokenizer, texts, settings, ref_model, reference_memo)
            ref_scores = _cached(
                reference_memo,
                f"judge:{judge.key}:{ref.key}",
                lambda: _per_prompt(scored(ref), ref.prompt_index, len(texts)),
            )
            from alignlab.task import win_rate

            grouped = _per_prompt(judge_scores, samples.prompt_index, len(texts))
            wins = [win_rate([p], [r]) for p, r in zip(grouped, ref_scores, strict=True)]
            metrics["judge_win_rate"] = sum(wins) / len(wins)
            units["judge_win_rate"] = unit_values(key, wins)
            kl = units["kl"]["values"]
            priced = [w - judge.kl_coef * k for w, k in zip(wins, kl, strict=True)]
            metrics["judge_win_rate_kl"] = sum(priced) / len(priced)
            units["judge_win_rate_kl"] = unit_values(key, priced)
        if judge.accuracy is not None:
            metrics["judge_accuracy"] = judge.accuracy
            units["judge_accuracy"] = unit_values(pairs_key(pairs[: len(judge.accuracy_units)]), judge.accuracy_units)
        judge_seconds = time.perf_counter() - started
    for k in range(min(32, len(samples.texts))):
        row: dict[str, Any] = {"prompt": texts[samples.prompt_index[k]], "response": samples.texts[k]}
        if rewards is not None:
            row["gold_reward"] = rewards[k]
        table.append(row)
    return EvalReport(metrics=metrics, samples=table, units=units, judge_seconds=judge_seconds)


def _per_prompt(values: Sequence[float], index: Sequence[int], n_prompts: int) -> list[list[float]]:
    grouped: list[list[float]] = [[] for _ in range(n_prompts)]
    for v, i in zip(values, index, strict=True):
        grouped[i].append(v)
    return grouped


@dataclass
class _ReferenceSamples:
    """The reference policy's samples on the eval prompts (same prompts, same seed as the policy's)."""

    key: str
    texts: list[str]
    response_ids: list[list[int]]
    prompt_index: list[int]


def _reference_samples(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    settings: EvalSettings,
    ref_model: Any | None,
    cache: dict[str, Any] | None,
) -> _ReferenceSamples:
    """The reference policy's samples, drawn once and cached across trials (what its gold rewards and
    judge scores are computed from)."""
    key = _fingerprint(texts, settings.model_dump(mode="json", exclude={"every_n_steps", "n_pairs"}))

    def draw() -> _ReferenceSamples:
        with reference_of(model, ref_model) as ref:
            drawn = _draw(ref, tokenizer, texts, settings)
        return _ReferenceSamples(
            key, list(drawn.texts), [list(ids) for ids in drawn.response_ids], list(drawn.prompt_index)
        )

    result: _ReferenceSamples = _cached(cache, f"samples:{key}", draw)
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

    ref = _reference_samples(model, tokenizer, texts, settings, ref_model, cache)
    rewards: list[list[float]] = _cached(
        cache,
        f"gold:{ref.key}",
        lambda: _per_prompt(
            [task.gold_reward(texts[i], ref.texts[k]) for k, i in enumerate(ref.prompt_index)],
            ref.prompt_index,
            len(texts),
        ),
    )
    return rewards


def _draw(model: Any, tokenizer: Any, texts: list[str], settings: EvalSettings) -> Any:
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


def _cached(cache: dict[str, Any] | None, key: str, compute: Any) -> Any:
    """``cache[key]``, computed by ``compute()`` the first time (always computed without a cache)."""
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def evaluate_trained_policy(
    policy: Any,
    trainer: Any,
    models: Models,
    setup: Setup,
    data: RunData,
    settings: EvalSettings,
    memo: dict[str, Any],
) -> EvalReport:
    """:func:`evaluate_policy` for a policy being trained by a TRL trainer, on the run's held-out data.

    The reference is the trainer's frozen ``ref_model`` (full fine-tuning) or, with LoRA, the policy
    with its adapter disabled; ``memo`` keeps the reference's results across the runs of a process.
    """
    ref_model = getattr(trainer, "ref_model", None)
    return evaluate_policy(
        policy,
        setup.tokenizer,
        prompts=data.eval_prompts,
        pairs=data.eval_pairs,
        settings=settings,
        gold=data.gold,
        ref_model=ref_model,
        reward_model=models.reward_model,
        reward_function=models.reward.function if models.reward is not None else None,
        reference_memo=memo,
        has_reference=ref_model is not None or hasattr(policy, "disable_adapter"),
        judge=setup.judge,
    )
