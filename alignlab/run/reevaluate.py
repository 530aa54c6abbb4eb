"""A finished run evaluated again from its saved outputs, on more held-out prompts and several sampling seeds.

What ``alignlab best NAME --confirm K`` asks of the top trials (alignlab.sweep.confirm): a sweep's
evaluation is sized for speed, so its ranking carries the noise of a few prompts and one sampling seed.
:func:`reevaluate` has the run's algorithm load its adapter (or full model) back from its output folder
(``load_saved``: a policy with the reference it trained against, the base with the adapter disabled or
the base model for full fine-tuning) and evaluate it again (``evaluate_saved``: a policy with
:func:`alignlab.run.evaluation.evaluate_policy` once per seed, the seeds combined by
:func:`combine_seeds`, alignlab.run.algorithms.saved; a reward model on the held-out pairs only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError
from alignlab.run.config import RunConfig
from alignlab.run.eval_units import EvalReport

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
    from alignlab.run.algorithms import SavedRun, algorithm_of
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
    saved = algorithm.load_saved(model_dir, folder, tokenizer, lora=config.lora is not None)
    run = SavedRun(config, model_dir, tokenizer, data, settings, seeds, memo, algorithm.NEEDS_REWARD_MODEL)
    return algorithm.evaluate_saved(saved, run)
