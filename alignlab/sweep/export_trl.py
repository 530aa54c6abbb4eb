"""The best trial as a TRL CLI config: the YAML that ``trl <command> --config FILE`` reads (trl 1.12).

A TRL training script (trl/scripts/<command>.py) parses one YAML into four dataclasses: ScriptArguments
(the data), the algorithm's config (DPOConfig, KTOConfig, ...), ModelConfig (model and LoRA) and
DatasetMixtureConfig (``datasets: [{path, data_files, split, columns}]``); an unknown key is an error.
The file sets:

- the trial's params by their TRL names (fields of the algorithm's config), after the settings the
  algorithm module adds (SimPO: ``loss_type: simpo``, ``cpo_alpha: 0``), and ``seed``/``data_seed``;
- ``model_name_or_path`` (a built-in tiny model as a copy with its tokenizer, written beside the file),
  ``use_peft``, ``lora_r``, ``lora_alpha``, ``lora_dropout``, ``lora_target_modules``, ``lora_task_type``;
- the data as a local file in TRL's shape (``datasets``); a ``max_examples`` cap as ``split: train[:N]``;
- GRPO/RLOO: ``reward_model_name_or_path`` or ``reward_funcs`` (dotted paths; ``builtin:gold`` is
  ``alignlab.run.rewards.gold_reward``); PPO: ``sft_model_path`` and ``reward_model_path``.

- ``bf16``, ``use_cpu``, ``gradient_checkpointing`` as alignlab's trials set them on this machine
  (alignlab.models.trainer_device_settings): on a CPU ``use_cpu: true`` and fp32, without which
  ``trl dpo --config`` stops at "Your setup doesn't support bf16/gpu"; on CUDA bf16. Exported on one
  machine and trained on another kind, these three are the lines to change.

alignlab's reference log-probs cache only saves time and has no counterpart.

Commands: trl 1.12 has ``trl sft|reward|dpo|kto|grpo|rloo`` (trl/cli/commands/__init__.py); each
algorithm module names its own (its ``trl``, alignlab.run.algorithms.TrlCli, with the fields its script
names the reward and the policy in). SimPO (CPOConfig with ``loss_type: simpo``), ORPO and PPO live in
``trl.experimental`` and have none: their file has the same layout, for a script that parses
(ScriptArguments, CPOConfig | ORPOConfig | PPOConfig, ModelConfig, DatasetMixtureConfig) with
``TrlParser(...).parse_args_and_config()`` as trl/scripts/dpo.py does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignlab.run.algorithms import algorithm_of
from alignlab.run.config import RunConfig
from alignlab.run.rewards import DEFAULT_REWARD_MODEL, GOLD
from alignlab.sweep.rendering import Location, Rendered, convert_hint, data_source, model_folder

#: The shapes (alignlab.data.formats names) TRL's trainer for each TRAIN_KIND reads as they are; the
#: online trainers read the ``prompt`` column of any of them.
TRL_SHAPES: dict[str, tuple[str, ...]] = {
    "pairwise": ("trl-standard",),
    "binary": ("trl-unpaired",),
    "sft": ("trl-prompt-completion", "trl-messages", "trl-language-modeling"),
    "prompt": ("prompt-only", "trl-standard", "trl-unpaired", "trl-prompt-completion"),
}

#: The dataset builder of ``datasets.load_dataset`` for a file, by its suffix.
BUILDERS: dict[str, str] = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def render(config: RunConfig, path: Path) -> Rendered:
    algorithm = algorithm_of(config.algorithm)
    command = algorithm.trl.command
    lost: list[str] = []
    notes: list[str] = []
    model = model_folder(config.model, beside=path)
    lost += model.unexpressed
    notes += model.notes
    settings: dict[str, Any] = {"model_name_or_path": model.value}
    settings.update(_data(config, algorithm.TRAIN_KIND, lost))
    locations = [model]
    settings.update(_reward(config, path, lost, notes, locations))
    trl = {**algorithm.trl_settings(config), **config.params}
    for key, value in list(trl.items()):
        if key in algorithm.PARAMS:
            del trl[key]
            lost.append(
                f"{key}={value}: {algorithm.PARAMS[key]} (alignlab's); TRL's "
                f"{config.algorithm} config has no such field"
            )
    settings.update(trl)
    settings.update({"seed": config.seed, "data_seed": config.seed, "output_dir": config.name})
    settings.update(_device(config, notes))
    if config.lora is not None:
        settings.update(
            {
                "use_peft": True,
                "lora_r": config.lora.r,
                "lora_alpha": config.lora.lora_alpha,
                "lora_dropout": config.lora.lora_dropout,
                "lora_target_modules": _as_list(config.lora.target_modules),
                "lora_task_type": algorithm.PEFT_TASK_TYPE,
            }
        )
    else:
        settings["use_peft"] = False
    lost.append(
        f"eval, max_kl: alignlab's held-out evaluation ({config.eval.n_prompts} prompts x "
        f"{config.eval.samples_per_prompt} samples: win rate, KL, ...) and its stop when KL passes "
        f"max_kl={config.max_kl} have no TRL counterpart (TRL evaluates its loss on a test split)"
    )
    if config.judge is not None:
        lost.append(
            f"judge {config.judge.describe()}: alignlab's judge scores its held-out evaluation (judge_win_rate); "
            "TRL has no counterpart"
        )
    if command is None:
        run = f"a script parsing it with TrlParser (trl 1.12 has no `trl {config.algorithm}` command)"
    else:
        run = f"trl {command} --config {path}"
    copies = [loc.copy for loc in locations if loc.copy is not None]
    return Rendered(settings, run, lost, notes, copies)


def _device(config: RunConfig, notes: list[str]) -> dict[str, Any]:
    """bf16 / use_cpu / gradient_checkpointing as alignlab's trials set them on this machine."""
    from alignlab.models import resolve_device, trainer_device_settings

    device = resolve_device()
    notes.append(
        f"bf16, use_cpu, gradient_checkpointing: as alignlab's trials set them on this machine ({device}); "
        "on another kind of machine change these three"
    )
    return dict(trainer_device_settings(config.model, device))


def _as_list(modules: str | list[str]) -> list[str]:
    return [modules] if isinstance(modules, str) else list(modules)


def _data(config: RunConfig, kind: str, lost: list[str]) -> dict[str, Any]:
    source = data_source(config, kind)
    lost += source.unexpressed
    if source.path is None:
        return {}
    builder = BUILDERS.get(source.path.suffix if source.path.suffix != ".gz" else Path(source.path.stem).suffix)
    explicit = "prompt" in source.first
    readable = source.format in TRL_SHAPES.get(kind, ()) and (kind != "prompt" or explicit)
    if builder is None or not readable:
        why = f"in alignlab's {source.format} shape" if builder else "not a JSON, CSV or Parquet file"
        lost.append(convert_hint(config, kind, why + ", which TRL's trainer does not read"))
        return {}
    dataset: dict[str, Any] = {"path": builder, "data_files": str(source.path), "split": "train"}
    if config.data.max_examples is not None:
        dataset["split"] = f"train[:{config.data.max_examples}]"
        if config.data.path is not None:
            lost.append(
                f"data.max_examples={config.data.max_examples}: the first rows of the file, not of alignlab's "
                "training split"
            )
    if kind == "prompt":
        dataset["columns"] = ["prompt"]
    return {"datasets": [dataset]}


def _reward(
    config: RunConfig, path: Path, lost: list[str], notes: list[str], locations: list[Location]
) -> dict[str, Any]:
    """The reward, in the fields the algorithm's script has (its TrlCli): GRPO/RLOO reward_model_name_or_path
    or reward_funcs; PPO reward_model_path, with the policy in sft_model_path."""
    algorithm = algorithm_of(config.algorithm)
    if not algorithm.NEEDS_REWARD_MODEL:
        return {}
    cli = algorithm.trl
    policy = {cli.policy_field: locations[0].value} if cli.policy_field else {}
    if config.reward_function is not None:
        if not cli.reward_funcs:
            lost.append(
                f"reward_function {config.reward_function}: TRL's {config.algorithm} trainer scores with a reward "
                f"model only (alignlab wraps the function); {cli.reward_model_field} is left at TRL's default"
            )
            return policy
        if config.reward_function == GOLD:
            notes.append("reward_funcs: alignlab.run.rewards.gold_reward is the built-in task's gold reward")
            notes.append("(TRL imports it by that dotted path: alignlab must be installed where TRL runs)")
            return {"reward_funcs": ["alignlab.run.rewards.gold_reward"]}
        module, _, function = config.reward_function.rpartition(":")
        if module.endswith(".py"):
            lost.append(
                f"reward_function {config.reward_function}: TRL imports reward functions by dotted path "
                "(module.function, the current folder first): make the file a module and list it in reward_funcs"
            )
            return {}
        return {"reward_funcs": [f"{module}.{function}"]}
    if config.reward_model is not None and not isinstance(config.reward_model, str):
        lost.append(
            f"reward_model: {{train_on: heldout, fraction: {config.reward_model.fraction:g}}}: alignlab trained the "
            f"reward model first, from a share of the pairs no trial used; train one (trl reward) and name its folder "
            f"in {cli.reward_model_field}"
        )
        return policy
    reward = model_folder(config.reward_model or DEFAULT_REWARD_MODEL, what="reward_model", beside=path)
    lost += reward.unexpressed
    notes += reward.notes
    locations.append(reward)
    return {cli.reward_model_field: reward.value, **policy}
