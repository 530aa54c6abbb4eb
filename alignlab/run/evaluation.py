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

Each metric is the mean of per-unit values, kept in :attr:`EvalReport.units` (alignlab.run.eval_units):
one value per held-out prompt (the mean over its samples) for the sampled metrics, one per held-out pair
for ``preference_accuracy`` / ``reward_margin`` (alignlab.run.pair_metrics). The units are in the order of the held-out prompts (pairs),
so two trials evaluated on the same held-out data have the same unit at the same index and their
difference can be bootstrapped paired (alignlab.uncertainty); each metric's ``key`` is a
fingerprint of its prompts (pairs) in order, equal exactly when they are the same.

The reference is the base model with the LoRA adapter disabled, or a separate frozen model. Both are
sampled with :func:`alignlab.models.sample` (pure sampling, fixed seed), as the built-in task's feedback
is; the reference's samples are drawn once per process (alignlab.run.reference_samples).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alignlab.run.eval_units import EvalReport, Units, group_by_prompt, pairs_key, prompts_key, unit_values
from alignlab.run.pair_metrics import implicit_reward_margins, pair_report
from alignlab.run.reference_samples import cached, draw, reference_gold_rewards, reference_samples
from alignlab.run.scoring import Prompt, prompt_text, reference_of, reward_model_scores, sequence_logprobs

if TYPE_CHECKING:
    from alignlab.run.algorithms import Models, Setup
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings
    from alignlab.run.judges import Judge


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
    samples = draw(model, tokenizer, texts, settings)
    key = prompts_key(texts)
    units: Units = {}

    def per_prompt(metric: str, values: Sequence[float]) -> None:
        """A sampled metric: its mean over samples, and its mean per prompt as the units."""
        metrics[metric] = sum(values) / max(1, len(values))
        grouped = group_by_prompt(values, samples.prompt_index, len(texts))
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
            policy_rewards = group_by_prompt(rewards, samples.prompt_index, len(texts))
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
            ref = reference_samples(model, tokenizer, texts, settings, ref_model, reference_memo)
            ref_scores = cached(
                reference_memo,
                f"judge:{judge.key}:{ref.key}",
                lambda: group_by_prompt(scored(ref), ref.prompt_index, len(texts)),
            )
            from alignlab.task import win_rate

            grouped = group_by_prompt(judge_scores, samples.prompt_index, len(texts))
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


__all__ = ["evaluate_policy", "evaluate_trained_policy"]
