"""The best trial as a LLaMA-Factory training YAML (``llamafactory-cli train FILE``).

LLaMA-Factory parses one YAML into ModelArguments, DataArguments, TrainingArguments (transformers'
Seq2SeqTrainingArguments), FinetuningArguments and GeneratingArguments (src/llamafactory/hparams/); an
unknown key is an error. The file sets ``stage`` (sft, rm, dpo, kto, ppo; SimPO and ORPO are stage dpo
with ``pref_loss: simpo|orpo``), ``finetuning_type`` and the LoRA fields (``lora_rank``, ``lora_alpha``,
``lora_dropout``, ``lora_target``), the trial's params under LLaMA-Factory's names (each algorithm module
declares its stage and those names, its ``llamafactory``, alignlab.run.algorithms.LlamaFactory: beta is
``pref_beta``, KTO's weights ``kto_chosen_weight``/``kto_rejected_weight``, ``max_length`` is
``cutoff_len``, PPO's ``kl_target`` is ``ppo_target``, ...), those that are transformers' training
arguments as they are (``learning_rate``, ``max_steps``, ...), and the data as a dataset name with its
``dataset_dir``: the entry to add to that folder's ``dataset_info.json`` is in the file's header.

The values TRL would have used by default (DPOConfig's learning rate 1e-6, max_length 1024, ...) are
written out, since LLaMA-Factory's defaults differ. GRPO and RLOO have no LLaMA-Factory stage.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError
from alignlab.run.algorithms import LlamaFactory, algorithm_of
from alignlab.run.config import RunConfig
from alignlab.run.rewards import DEFAULT_REWARD_MODEL
from alignlab.sweep.rendering import DataSource, Rendered, convert_hint, data_source, model_folder

#: The stage whose ``pref_loss`` picks among TRL's DPO losses (SimPO and ORPO name theirs in their modules).
LOSS_STAGE = "dpo"
#: TRL DPOConfig loss types LLaMA-Factory's ``pref_loss`` has (it also has kto_pair, orpo, simpo).
DPO_LOSSES: tuple[str, ...] = ("sigmoid", "hinge", "ipo")
#: TRL's defaults written out whether or not the trial set them (LLaMA-Factory's defaults differ).
EFFECTIVE: tuple[str, ...] = ("learning_rate", "beta", "max_length", "simpo_gamma")


def render(config: RunConfig, path: Path) -> Rendered:
    algorithm = algorithm_of(config.algorithm)
    if algorithm.llamafactory is None:
        raise UserInputError(
            f"--format llamafactory: LLaMA-Factory has no {config.algorithm} trainer (its stages: sft, rm, dpo, "
            "kto, ppo); export --format trl or alignlab"
        )
    factory = algorithm.llamafactory
    stage, renames = factory.stage, factory.field_names()
    lost: list[str] = []
    model = model_folder(config.model, beside=path)
    lost += model.unexpressed
    settings: dict[str, Any] = {"model_name_or_path": model.value, "stage": stage, "do_train": True}
    params = _effective(config)
    loss = _pref_loss(config, factory, params, lost)
    if loss is not None:
        settings["pref_loss"] = loss[0]
        if loss[1]:
            settings["pref_ftx"] = loss[1]
    if config.lora is not None:
        targets = config.lora.target_modules
        settings.update(
            {
                "finetuning_type": "lora",
                "lora_rank": config.lora.r,
                "lora_alpha": config.lora.lora_alpha,
                "lora_dropout": config.lora.lora_dropout,
                "lora_target": "all" if targets == "all-linear" else ",".join(_as_list(targets)),
            }
        )
    else:
        settings["finetuning_type"] = "full"
    training = _training_fields()
    for key, value in params.items():
        if key in ("loss_type", "loss_weights", "kl_coef") or (key in algorithm.PARAMS and key not in renames):
            continue  # the preference loss and PPO's KL are said below, alignlab's own params after the loop
        if key in renames:
            settings[renames[key]] = value
        elif key in training:
            settings[key] = value
        else:
            lost.append(f"{key}={value}: TRL's {config.algorithm} setting has no LLaMA-Factory counterpart")
    lost += [
        f"{k}={params[k]}: {algorithm.PARAMS[k]} (alignlab's); LLaMA-Factory has no such setting"
        for k in algorithm.PARAMS
        if k in params and k not in renames
    ]
    settings.update(_ppo(config, params, lost) if stage == "ppo" else {})
    notes = [*model.notes, *_data(config, algorithm.TRAIN_KIND, settings, lost)]
    settings.update({"seed": config.seed, "output_dir": f"saves/{config.name}"})
    lost.append(
        "template: LLaMA-Factory formats prompts with a chat template it names (qwen3, llama3, ...): set "
        "the one for your model (alignlab used the tokenizer's own)"
    )
    lost.append(
        f"eval, max_kl: alignlab's held-out evaluation ({config.eval.n_prompts} prompts x "
        f"{config.eval.samples_per_prompt} samples: win rate, KL, ...) and its stop when KL passes "
        f"max_kl={config.max_kl} have no LLaMA-Factory counterpart"
    )
    copies = [model.copy] if model.copy is not None else []
    return Rendered(settings, f"llamafactory-cli train {path}", lost, notes, copies)


def _as_list(modules: str | list[str]) -> list[str]:
    return [modules] if isinstance(modules, str) else list(modules)


def _effective(config: RunConfig) -> dict[str, Any]:
    """The trial's params, after the TRL config class's defaults for :data:`EFFECTIVE` (imports trl).
    The settings alignlab adds for TRL's sake (SimPO's loss_type, a collator's columns) are left out:
    LLaMA-Factory has its own (``pref_loss``)."""
    fields = dataclasses.fields(algorithm_of(config.algorithm).config_class())
    defaults = {f.name: f.default for f in fields if f.name in EFFECTIVE}
    return {**{k: v for k, v in defaults.items() if v is not dataclasses.MISSING and v is not None}, **config.params}


def _training_fields() -> set[str]:
    """transformers' Seq2SeqTrainingArguments fields, which LLaMA-Factory's TrainingArguments extends."""
    from transformers import Seq2SeqTrainingArguments

    return {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)}


def _pref_loss(
    config: RunConfig, factory: LlamaFactory, params: dict[str, Any], lost: list[str]
) -> tuple[str, float] | None:
    """``(pref_loss, pref_ftx)`` of a preference stage; None for the others."""
    if factory.pref_loss is not None:
        return factory.pref_loss, 0.0
    if factory.stage != LOSS_STAGE:
        if "loss_type" in params and params["loss_type"] not in ("kto", ["kto"]):
            lost.append(f"loss_type={params['loss_type']}: LLaMA-Factory's {config.algorithm} has one loss")
        return None
    raw = params.get("loss_type", "sigmoid")
    losses = [raw] if isinstance(raw, str) else list(raw)
    weights = list(params.get("loss_weights") or [1.0] * len(losses))
    ftx = float(weights[losses.index("sft")]) if "sft" in losses else 0.0
    rest = [(loss, w) for loss, w in zip(losses, weights, strict=False) if loss != "sft"]
    if len(rest) == 1 and rest[0][0] in DPO_LOSSES and float(rest[0][1]) == 1.0:
        if ftx:
            lost.append(
                f"loss_type={losses}: as pref_ftx={ftx}; LLaMA-Factory averages the SFT term per sequence, "
                "TRL per token (close, not identical)"
            )
        return rest[0][0], ftx
    lost.append(
        f"loss_type={losses}, loss_weights={weights}: LLaMA-Factory's pref_loss is one of "
        f"{', '.join(DPO_LOSSES)}, kto_pair, orpo, simpo, with weight 1 (plus pref_ftx): this file uses sigmoid"
    )
    return "sigmoid", ftx


def _ppo(config: RunConfig, params: dict[str, Any], lost: list[str]) -> dict[str, Any]:
    """The reward model, and what LLaMA-Factory's PPO (TRL 0.9's, adaptive KL) does with the KL."""
    if "kl_target" not in params:
        lost.append(
            f"kl_coef={params.get('kl_coef', 0.05)}: alignlab's run kept the KL coefficient fixed; "
            "LLaMA-Factory's PPO always adapts it (from 0.2 toward ppo_target, 6.0 by default)"
        )
    else:
        lost.append(
            f"kl_coef={params.get('kl_coef', 0.05)}: the adaptive controller's start; LLaMA-Factory starts at 0.2"
        )
    if config.reward_function is not None:
        lost.append(
            f"reward_function {config.reward_function}: LLaMA-Factory's PPO scores with a reward model "
            "(or reward_model_type: api, a reward server)"
        )
        return {}
    if config.reward_model is not None and not isinstance(config.reward_model, str):
        lost.append(
            f"reward_model: {{train_on: heldout, fraction: {config.reward_model.fraction:g}}}: alignlab trained the "
            "reward model first, from a share of the pairs no trial used; train one with stage rm and set reward_model"
        )
        return {}
    reward = model_folder(config.reward_model or DEFAULT_REWARD_MODEL, what="reward_model")
    lost += reward.unexpressed
    lost.append(
        "reward_model: LLaMA-Factory's PPO loads a reward model with a value head (trained with stage rm), "
        "not the sequence classifier alignlab trains: train one with stage rm and point reward_model at it"
    )
    return {"reward_model": reward.value, "reward_model_type": "full"}


def _data(config: RunConfig, kind: str, settings: dict[str, Any], lost: list[str]) -> list[str]:
    """``dataset``/``dataset_dir`` (and ``max_samples``) in ``settings``; the header's dataset_info.json entry."""
    source = data_source(config, kind)
    lost += source.unexpressed
    if source.path is None:
        return []
    entry = dataset_entry(source, kind)
    if entry is None:
        lost.append(convert_hint(config, kind, f"in alignlab's {source.format} shape, which this stage does not read"))
        return []
    name = source.path.name.split(".")[0].replace("-", "_") or "alignlab_data"
    settings.update({"dataset": name, "dataset_dir": str(source.path.parent)})
    if config.data.max_examples is not None:
        settings["max_samples"] = config.data.max_examples
    lost.append(
        f"data: {source.path}: LLaMA-Factory reads datasets by name from dataset_info.json in dataset_dir; "
        f"add the entry below as {name!r}"
    )
    return [
        f"dataset_info.json entry ({source.path.parent}/dataset_info.json) for dataset {name!r}:",
        f'  "{name}": {json.dumps(entry)}',
    ]


def dataset_entry(source: DataSource, kind: str) -> dict[str, Any] | None:
    """The dataset_info.json description of the file for a stage reading ``kind`` rows; None when
    LLaMA-Factory cannot read its shape (data/README.md: alpaca and sharegpt formats)."""
    first, file = source.first, {"file_name": source.path.name if source.path else ""}
    strings = all(isinstance(first.get(k), str) for k in first.keys() & {"prompt", "chosen", "rejected", "completion"})
    if kind == "pairwise" and source.format == "llama-factory-sharegpt":
        columns = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
        return {**file, "ranking": True, "formatting": "sharegpt", "columns": columns}
    if kind == "binary" and source.format == "llama-factory-kto":
        tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
        return {**file, "formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "label"}, "tags": tags}
    if kind == "pairwise" and source.format == "alpaca-dpo" and {"chosen", "rejected"} <= first.keys():
        columns = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}
        return {**file, "ranking": True, "columns": columns}
    if not strings or "prompt" not in first:
        return None
    if kind == "pairwise" and source.format == "trl-standard":
        return {**file, "ranking": True, "columns": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}}
    if kind == "binary" and source.format == "trl-unpaired":
        return {**file, "columns": {"prompt": "prompt", "response": "completion", "kto_tag": "label"}}
    if kind == "sft" and source.format == "trl-prompt-completion":
        return {**file, "columns": {"prompt": "prompt", "response": "completion"}}
    if kind == "prompt":
        return {**file, "columns": {"prompt": "prompt"}}
    return None
