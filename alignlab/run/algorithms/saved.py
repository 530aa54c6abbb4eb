"""A finished policy evaluated again from its saved model: the ``evaluate_saved`` of every algorithm that
trains a policy (alignlab.run.reevaluate calls it; a reward model's is in alignlab.run.algorithms.reward).

The policy is evaluated with :func:`alignlab.run.evaluation.evaluate_policy` once per seed, with the
reward the run was scored with (an online run's reward model or function) and its judge. Each prompt's
units are averaged over the seeds, so the units stay one per prompt (the bootstrap unit) and the seeds'
noise averages out within them. Pair metrics do not sample: they are scored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.parts import Saved, SavedRun

if TYPE_CHECKING:
    from alignlab.run.eval_units import EvalReport, Units


def evaluate_policy_again(saved: Saved, run: SavedRun) -> EvalReport:
    """``saved`` evaluated on the run's held-out prompts with each of ``run.seeds``, the seeds combined."""
    from alignlab.run.assets import tokenizer_folder
    from alignlab.run.evaluation import evaluate_policy
    from alignlab.run.judges import judge_of_run

    reward_model, reward_function = _reward(run)
    judge = judge_of_run(run.config, run.data, run.model_dir, tokenizer_folder(run.model_dir))
    reports = [
        evaluate_policy(
            saved.model,
            run.tokenizer,
            prompts=run.data.eval_prompts,
            pairs=run.data.eval_pairs if i == 0 else [],  # pair metrics do not sample: scored once
            settings=run.settings.model_copy(update={"seed": int(seed)}),
            gold=run.data.gold,
            ref_model=saved.reference,
            reward_model=reward_model,
            reward_function=reward_function,
            reference_memo=run.memo,
            has_reference=True,
            judge=judge,
        )
        for i, seed in enumerate(run.seeds)
    ]
    return combine_seeds(reports)


def _reward(run: SavedRun) -> tuple[Any, Any]:
    """(reward model, reward function) of an online run, scored beside the gold reward as in training."""
    if not run.needs_reward:
        return None, None
    from alignlab.models import resolve_device
    from alignlab.run.algorithms.reward_model import load_reward_backbone
    from alignlab.run.rewards import resolve_reward

    reward = resolve_reward(run.config, gold=run.data.gold)
    if reward.model_dir is not None:
        model = load_reward_backbone(reward.model_dir, run.tokenizer).to(resolve_device()).eval()
        return model, None
    return None, reward.function


def combine_seeds(reports: Sequence[EvalReport]) -> EvalReport:
    """One report from evaluations of the same prompts with different seeds: each metric (and each
    prompt's unit) the mean over the reports that have it."""
    from alignlab.run.eval_units import EvalReport

    metrics: dict[str, float] = {}
    units: Units = {}
    names = dict.fromkeys(m for r in reports for m in r.metrics)
    for name in names:
        having = [r for r in reports if name in r.metrics]
        metrics[name] = sum(r.metrics[name] for r in having) / len(having)
        with_units = [r.units[name] for r in having if name in r.units]
        if with_units and all(u["key"] == with_units[0]["key"] for u in with_units):
            columns = zip(*(u["values"] for u in with_units), strict=True)
            units[name] = {"key": with_units[0]["key"], "values": [sum(c) / len(with_units) for c in columns]}
    return EvalReport(metrics=metrics, samples=reports[0].samples if reports else [], units=units)
