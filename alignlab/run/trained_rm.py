"""Reward models alignlab trains from a share of the user's own pairs: once, cached by content hash.

Two settings ask for one (alignlab.run.config.RewardTraining): a held-out judge
(``judge: {train_on: heldout}``, alignlab.run.judges) and the reward model of the online trials
(``reward_model: {train_on: heldout}``, alignlab.run.rewards). Both train TRL's RewardTrainer on the
pairs of their own share of the prompts (alignlab.run.splits) and save the model with its tokenizer under
``studies/cache/<kind>/<key>``, where the key hashes what the model depends on: the starting model's
weights, its tokenizer, the pairs, and the training settings. The trials of a study and every worker
then share one model; a file lock keeps two workers from training it twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.paths import cache_dir

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import RewardTraining, RunConfig

#: Default training: this many passes over the pairs at BATCH_SIZE, at least MIN_STEPS steps.
EPOCHS = 8
MIN_STEPS = 50
BATCH_SIZE = 32
#: Default learning rates: the built-in tiny models' (as builtin:tiny-rm), LoRA adapters', all weights'.
TINY_LEARNING_RATE = 1e-3
LORA_LEARNING_RATE = 1e-4
LEARNING_RATE = 1e-5


@dataclass
class TrainedRewardModel:
    """A reward model trained (or found in the cache) for a share of pairs."""

    folder: Path
    """The saved sequence classifier, with its tokenizer."""
    key: str
    """The content hash it is cached under."""
    n_pairs: int
    train_seconds: float
    """What training it cost in this process (0 when it came from the cache)."""
    cached: bool


def recipe(
    settings: RewardTraining,
    n_pairs: int,
    *,
    builtin_model: bool,
) -> dict[str, Any]:
    """The training settings with their defaults filled in (what the cache key hashes, beside the data)."""
    batch_size = settings.batch_size or BATCH_SIZE
    default_rate = (
        TINY_LEARNING_RATE if builtin_model else LORA_LEARNING_RATE if settings.lora else LEARNING_RATE
    )
    out: dict[str, Any] = {
        "steps": settings.max_steps or max(MIN_STEPS, math.ceil(EPOCHS * n_pairs / batch_size)),
        "learning_rate": settings.learning_rate or default_rate,
    }
    # Only where set, so the keys of models cached before these settings existed stay valid.
    if settings.batch_size is not None:
        out["batch_size"] = batch_size
    if settings.lora is not None:
        out["lora"] = settings.lora.model_dump(mode="json")
    return out


def train_once(
    settings: RewardTraining,
    pairs: list[dict[str, Any]],
    *,
    kind: str,
    model_dir: Path,
    tokenizer_dir: Path,
    builtin_model: bool,
    max_length: int,
    seed: int,
) -> TrainedRewardModel:
    """The reward model of ``pairs`` under ``studies/cache/<kind>/``, trained here unless cached.
    ``builtin_model``: the starting model is a built-in tiny one (its learning rate)."""
    from filelock import FileLock

    from alignlab.run.algorithms.refcache import folder_fingerprint

    training = recipe(settings, len(pairs), builtin_model=builtin_model)
    content = {
        "model": folder_fingerprint(str(model_dir)),
        "tokenizer": folder_fingerprint(str(tokenizer_dir)),
        "pairs": hashlib.sha256(json.dumps(pairs, sort_keys=True, default=str).encode()).hexdigest(),
        **training,
        "max_length": max_length,
        "seed": seed,
    }
    key = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    root = cache_dir() / kind
    target = root / key
    root.mkdir(parents=True, exist_ok=True)
    cached = True
    started = time.monotonic()
    with FileLock(str(root / f".{key}.lock")):
        if not (target / "config.json").is_file():
            from alignlab.run.algorithms.reward_model import train_reward_model

            cached = False
            train_reward_model(
                model_dir,
                tokenizer_dir,
                pairs,
                target,
                steps=training["steps"],
                learning_rate=training["learning_rate"],
                seed=seed,
                max_length=max_length,
                batch_size=settings.batch_size or BATCH_SIZE,
                lora=settings.lora,
            )
            record = {**content, "n_pairs": len(pairs), "train_seconds": round(time.monotonic() - started, 2)}
            (target / "trained.json").write_text(json.dumps(record), encoding="utf-8")
    return TrainedRewardModel(target, key, len(pairs), 0.0 if cached else time.monotonic() - started, cached)


def shares(config: RunConfig) -> dict[str, float | None]:
    """The split fractions of a run (``load_run_data``'s keywords): its held-out judge's and its staged
    reward model's, None where it has none."""
    judge = config.judge.fraction if config.judge is not None and config.judge.train_on else None
    staged = (
        config.reward_model
        if config.reward_model is not None and not isinstance(config.reward_model, str)
        else None
    )
    return {"judge_fraction": judge, "reward_model_fraction": staged.fraction if staged is not None else None}


def staged_reward_model(
    config: RunConfig, data: RunData, model_dir: Path, tokenizer_dir: Path
) -> Path | None:
    """The folder of the reward model a run with ``reward_model: {train_on: heldout}`` trains first (from the
    policy's own backbone, on :attr:`RunData.reward_model_pairs`), or None when it names another source."""
    settings = config.reward_model
    if settings is None or isinstance(settings, str) or config.reward_function is not None:
        return None
    return train_once(
        settings,
        data.reward_model_pairs,
        kind="reward_models",
        model_dir=model_dir,
        tokenizer_dir=tokenizer_dir,
        builtin_model=config.model.startswith("builtin:"),
        max_length=int(config.params.get("max_length", 512)),
        seed=config.seed,
    ).folder


__all__ = ["TrainedRewardModel", "recipe", "shares", "staged_reward_model", "train_once"]
