"""A finished run evaluated again from its saved outputs, on more held-out prompts and several sampling seeds.

What ``alignlab best NAME --confirm K`` asks of the top trials (alignlab.sweep.confirm): a sweep's
evaluation is sized for speed, so its ranking carries the noise of a few prompts and one sampling seed.
:func:`reevaluate` loads the run's adapter (or full model) from its output folder, with the reference
the run trained against (the base with the adapter disabled, or the base model for full fine-tuning),
and evaluates it with :func:`alignlab.run.evaluation.evaluate_policy` once per seed. Each prompt's units
are averaged over the seeds, so the units stay one per prompt (the bootstrap unit) and the seeds' noise
averages out within them. Pair metrics do not sample: they are scored once. A reward model (an
algorithm with a ``SEQ_CLS`` adapter) is scored on the held-out pairs only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError
from alignlab.run.config import RunConfig
from alignlab.run.evaluation import EvalReport, Units

#: The seeds ``--confirm`` samples with by default (the sweep's own evaluation seed is EvalSettings.seed).
DEFAULT_SEEDS: tuple[int, ...] = (11, 22, 33)


def saved_model_folder(output_dir: str | Path, config: RunConfig) -> Path:
    """Where a run saved its policy: ``adapter/`` with LoRA, ``model/`` for full fine-tuning."""
    return Path(output_dir) / ("adapter" if config.lora is not None else "model")


def reevaluate(
    config: RunConfig,
    output_dir: str | Path,
    *,
    n_prompts: int | None = None,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    samples_per_prompt: int | None = None,
    memo: dict[str, Any] | None = None,
) -> EvalReport:
    """The saved run of ``config`` in ``output_dir`` evaluated on ``n_prompts`` held-out prompts (None:
    all of them) with each of ``seeds``, ``samples_per_prompt`` samples each (None: the run's own).

    ``memo`` (a dict kept across calls) holds what depends only on the reference, by reference model, as
    in a sweep. A missing output folder raises UserInputError naming it.
    """
    from alignlab.models import load_tokenizer
    from alignlab.run.algorithms import algorithm_of
    from alignlab.run.assets import load_run_data, resolve_model, tokenizer_folder
    from alignlab.run.training import quiet_libraries

    if not seeds:
        raise ValueError("reevaluate needs at least one seed")
    folder = saved_model_folder(output_dir, config)
    if not folder.is_dir():
        raise UserInputError(f"{config.name}: the saved model folder {folder} is missing")
    quiet_libraries()
    algorithm = algorithm_of(config.algorithm)
    model_dir = resolve_model(config.model)
    tokenizer = load_tokenizer(tokenizer_folder(model_dir))
    fraction = config.judge.fraction if config.judge is not None and config.judge.train_on else None
    data = load_run_data(algorithm.TRAIN_KIND, config.data, seed=config.seed, judge_fraction=fraction)
    update: dict[str, Any] = {"every_n_steps": None, "n_prompts": n_prompts or max(1, len(data.eval_prompts))}
    if samples_per_prompt is not None:
        update["samples_per_prompt"] = samples_per_prompt
    settings = config.eval.model_copy(update=update)
    memo = ({} if memo is None else memo).setdefault(str(model_dir), {})  # per reference, as in training
    if algorithm.PEFT_TASK_TYPE == "SEQ_CLS":
        from alignlab.run.evaluation import reward_model_report

        scorer = _load_reward_model(model_dir, folder, tokenizer, lora=config.lora is not None)
        return reward_model_report(scorer, tokenizer, data.eval_pairs[: settings.n_pairs])
    policy, ref_model = _load_policy(model_dir, folder, lora=config.lora is not None)
    reward_model, reward_function = _load_reward(config, data.gold, tokenizer, algorithm.NEEDS_REWARD_MODEL)
    from alignlab.run.judges import judge_of_run

    judge = judge_of_run(config, data, model_dir, tokenizer_folder(model_dir))
    return _over_seeds(
        policy, ref_model, tokenizer, data, settings, seeds, reward_model, reward_function, memo, judge=judge
    )


def _over_seeds(
    policy: Any,
    ref_model: Any,
    tokenizer: Any,
    data: Any,
    settings: Any,
    seeds: Sequence[int],
    reward_model: Any,
    reward_function: Any,
    memo: dict[str, Any],
    *,
    judge: Any = None,
) -> EvalReport:
    from alignlab.run.evaluation import evaluate_policy

    reports = []
    for i, seed in enumerate(seeds):
        reports.append(
            evaluate_policy(
                policy,
                tokenizer,
                prompts=data.eval_prompts,
                pairs=data.eval_pairs if i == 0 else [],  # pair metrics do not sample: scored once
                settings=settings.model_copy(update={"seed": int(seed)}),
                gold=data.gold,
                ref_model=ref_model,
                reward_model=reward_model,
                reward_function=reward_function,
                reference_memo=memo,
                has_reference=True,
                judge=judge,
            )
        )
    return combine_seeds(reports)


def combine_seeds(reports: Sequence[EvalReport]) -> EvalReport:
    """One report from evaluations of the same prompts with different seeds: each metric (and each
    prompt's unit) the mean over the reports that have it."""
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


def _load_policy(model_dir: Path, folder: Path, *, lora: bool) -> tuple[Any, Any]:
    """(policy, reference): base + adapter with the adapter disabled as the reference, or the saved full
    model with the base model as the reference."""
    from alignlab.models import load_causal_lm

    if lora:
        from peft import PeftModel

        base = load_causal_lm(model_dir)
        policy = PeftModel.from_pretrained(base, str(folder))
        return policy.eval(), None
    return load_causal_lm(folder).eval(), load_causal_lm(model_dir).eval()


def _load_reward_model(model_dir: Path, folder: Path, tokenizer: Any, *, lora: bool) -> Any:
    from alignlab.models import resolve_device
    from alignlab.run.algorithms.reward import load_reward_backbone

    if lora:
        from peft import PeftModel

        model = PeftModel.from_pretrained(load_reward_backbone(model_dir, tokenizer), str(folder))
    else:
        model = load_reward_backbone(folder, tokenizer)
    return model.to(resolve_device()).eval()


def _load_reward(config: RunConfig, gold: bool, tokenizer: Any, needed: bool) -> tuple[Any, Any]:
    """(reward model, reward function) of an online run, scored beside the gold reward as in training."""
    if not needed:
        return None, None
    from alignlab.models import resolve_device
    from alignlab.run.algorithms.reward import load_reward_backbone
    from alignlab.run.rewards import resolve_reward

    reward = resolve_reward(config, gold=gold)
    if reward.model_dir is not None:
        model = load_reward_backbone(reward.model_dir, tokenizer).to(resolve_device()).eval()
        return model, None
    return None, reward.function
