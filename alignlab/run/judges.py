"""Judges: what scores a run's samples where there is no gold reward, so a sweep can optimise
``judge_win_rate`` instead of a proxy that ranks trials against the truth.

A run (or a sweep) names one judge (:class:`alignlab.run.config.JudgeSettings`):

- ``train_on: heldout, fraction: F``: a Bradley-Terry reward model trained on the pairs of a share F of
  the train prompts that no trial trains or selects on (the split rule of alignlab.run.assets). It is
  trained once and cached under ``studies/cache/judges/<content hash>`` (the starting model's weights,
  its tokenizer, the judge's pairs and its training settings), so the trials of a study, and every
  worker, share one judge; a file lock keeps two workers from training it twice;
- ``reward_model: PATH``: a local sequence classifier with its own tokenizer (it scores the text, so its
  tokenizer may differ from the policy's), or the output folder of an ``alignlab train`` reward run
  (a LoRA adapter over its base model);
- ``function: module:fn``: a reward function with the convention GRPO/RLOO use (alignlab.run.rewards).

Every evaluation of a run with a judge then reports (alignlab.run.evaluation):

- ``judge_win_rate``: per held-out prompt, how often the judge scores a policy sample above a reference
  sample of the same prompt (every policy sample against every reference sample, ties half), the
  reference sampled with the same seed, exactly as the gold ``win_rate``; one unit per prompt;
- ``judge_reward``: the mean judge score of the policy's samples;
- ``judge_accuracy``: how often the judge ranks the held-out evaluation pairs right (pairs it never
  trained on, ties half): how far to trust the two above.

docs/objectives.md measures how well each candidate objective ranks trials against the gold win rate.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.paths import cache_dir

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import JudgeSettings

#: Scores completions of prompts: ``(prompts, completions, ended) -> one float each``. Prompts are as the
#: data holds them (strings or message lists); ``ended`` says which completions reached their eos.
Scorer = Callable[[Sequence[Any], Sequence[str], Sequence[bool]], list[float]]

#: A held-out judge's default training: this many passes over its pairs (batch 32), at least MIN_STEPS.
EPOCHS = 8
MIN_STEPS = 50
BATCH_SIZE = 32
#: Its default learning rate: the built-in tiny models' (as builtin:tiny-rm), else a full reward model's.
TINY_LEARNING_RATE = 1e-3
LEARNING_RATE = 1e-5


@dataclass
class Judge:
    """A resolved judge."""

    source: str
    """As tags and tables show it: ``heldout:0.2``, a folder, ``module:function``."""
    key: str
    """Identifies the judge's scores (a content hash for a trained judge): what evaluation caches them by."""
    scorer: Scorer
    n_pairs: int = 0
    """Pairs a held-out judge trained on (0 for the others)."""
    train_seconds: float = 0.0
    """What training it cost in this process (0 when it came from the cache or was given)."""
    cached: bool = False
    """Whether a held-out judge came from the cache."""
    accuracy_units: list[float] = field(default_factory=list)
    """1, 0.5 or 0 per held-out evaluation pair (right, tie, wrong); :attr:`accuracy` is their mean."""

    @property
    def accuracy(self) -> float | None:
        return sum(self.accuracy_units) / len(self.accuracy_units) if self.accuracy_units else None

    def score(self, prompts: Sequence[Any], completions: Sequence[str], ended: Sequence[bool] | None = None) -> list[float]:
        flags = list(ended) if ended is not None else [True] * len(completions)
        return self.scorer(prompts, completions, flags) if completions else []


def resolve_judge(
    settings: JudgeSettings,
    data: RunData,
    *,
    model_dir: Path,
    tokenizer_dir: Path,
    builtin_model: bool,
    max_length: int,
    seed: int,
) -> Judge:
    """The run's judge, trained (once, cached) where it is a held-out one, with its accuracy on the run's
    held-out evaluation pairs. ``builtin_model``: the policy is a built-in tiny model (its learning rate)."""
    if settings.function is not None:
        from alignlab.run.rewards import load_reward_function, score

        function = load_reward_function(settings.function)

        def by_function(prompts: Sequence[Any], completions: Sequence[str], ended: Sequence[bool]) -> list[float]:
            return score(function, prompts, completions)

        judge = Judge(settings.function, f"function:{settings.function}", by_function)
    elif settings.reward_model is not None:
        folder = Path(settings.reward_model).expanduser()
        if problems := folder_problems(folder, key="judge.reward_model"):
            raise UserInputError(problems)
        from alignlab.run.algorithms.refcache import folder_fingerprint

        judge = Judge(str(folder), f"model:{folder_fingerprint(str(folder.resolve()))}", _model_scorer(folder))
    else:
        judge = _heldout_judge(
            settings,
            data.judge_pairs,
            model_dir=model_dir,
            tokenizer_dir=tokenizer_dir,
            builtin_model=builtin_model,
            max_length=max_length,
            seed=seed,
        )
    judge.accuracy_units = pair_accuracy_units(judge, data.eval_pairs)
    return judge


def pair_accuracy_units(judge: Judge, pairs: Sequence[dict[str, Any]]) -> list[float]:
    """1 where the judge scores a pair's chosen above its rejected, 0.5 on a tie, else 0."""
    if not pairs:
        return []
    from alignlab.run.evaluation import completion_text

    prompts = [p["prompt"] for p in pairs]
    chosen = judge.score(prompts, [completion_text(p["chosen"]) for p in pairs])
    rejected = judge.score(prompts, [completion_text(p["rejected"]) for p in pairs])
    return [1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected, strict=True)]


def _heldout_judge(
    settings: JudgeSettings,
    pairs: list[dict[str, Any]],
    *,
    model_dir: Path,
    tokenizer_dir: Path,
    builtin_model: bool,
    max_length: int,
    seed: int,
) -> Judge:
    from filelock import FileLock

    from alignlab.run.algorithms.refcache import folder_fingerprint

    steps = settings.max_steps or max(MIN_STEPS, math.ceil(EPOCHS * len(pairs) / BATCH_SIZE))
    learning_rate = settings.learning_rate or (TINY_LEARNING_RATE if builtin_model else LEARNING_RATE)
    recipe = {
        "model": folder_fingerprint(str(model_dir)),
        "tokenizer": folder_fingerprint(str(tokenizer_dir)),
        "pairs": hashlib.sha256(json.dumps(pairs, sort_keys=True, default=str).encode()).hexdigest(),
        "steps": steps,
        "learning_rate": learning_rate,
        "max_length": max_length,
        "seed": seed,
    }
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    root = cache_dir() / "judges"
    target = root / key
    root.mkdir(parents=True, exist_ok=True)
    cached = True
    started = time.monotonic()
    with FileLock(str(root / f".{key}.lock")):
        if not (target / "config.json").is_file():
            from alignlab.run.algorithms.reward import train_reward_model

            cached = False
            train_reward_model(
                model_dir,
                tokenizer_dir,
                pairs,
                target,
                steps=steps,
                learning_rate=learning_rate,
                seed=seed,
                max_length=max_length,
                batch_size=BATCH_SIZE,
            )
            (target / "judge.json").write_text(
                json.dumps({**recipe, "n_pairs": len(pairs), "train_seconds": round(time.monotonic() - started, 2)}),
                encoding="utf-8",
            )
    return Judge(
        f"heldout:{settings.fraction:g}",
        f"heldout:{key}",
        _model_scorer(target),
        n_pairs=len(pairs),
        train_seconds=0.0 if cached else time.monotonic() - started,
        cached=cached,
    )


def _model_scorer(folder: Path) -> Scorer:
    """A sequence classifier's scores of prompt + completion (+ its eos where the completion ended), with
    the folder's own tokenizer and chat template."""
    from alignlab.models import load_tokenizer, resolve_device
    from alignlab.run.evaluation import prompt_text, reward_model_scores

    tokenizer = load_tokenizer(folder)
    model = load_sequence_classifier(folder, tokenizer).to(resolve_device()).eval()

    def by_model(prompts: Sequence[Any], completions: Sequence[str], ended: Sequence[bool]) -> list[float]:
        texts = [prompt_text(p, tokenizer) for p in prompts]
        return reward_model_scores(model, tokenizer, texts, list(completions), ended=ended)

    return by_model


def load_sequence_classifier(folder: Path, tokenizer: Any) -> Any:
    """A full sequence-classification model, or a SEQ_CLS LoRA adapter merged into its base."""
    from transformers import AutoModelForSequenceClassification

    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel

        adapter = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        base = AutoModelForSequenceClassification.from_pretrained(adapter["base_model_name_or_path"], num_labels=1)
        base.config.pad_token_id = tokenizer.pad_token_id
        return PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=1)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def folder_problems(folder: Path, *, key: str) -> list[str]:
    """Whether a folder can judge: a sequence classifier (or a SEQ_CLS adapter whose base exists) with
    tokenizer files of its own. Reads JSON only."""
    shown = str(folder)
    if not folder.exists():
        return [f"{key}: {shown!r} does not exist (expected a local sequence-classification model folder)"]
    if not folder.is_dir():
        return [f"{key}: {shown!r} is a file (expected a local sequence-classification model folder)"]
    problems: list[str] = []
    if not ((folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()):
        problems.append(
            f"{key}: {shown!r} has no tokenizer of its own (tokenizer.json / tokenizer_config.json); a judge "
            "scores text with its own tokenizer: save it with tokenizer.save_pretrained(folder)"
        )
    adapter = _read_json(folder / "adapter_config.json")
    if adapter is not None:
        if adapter.get("task_type") != "SEQ_CLS":
            problems.append(
                f"{key}: {shown!r} is a LoRA adapter of task_type {adapter.get('task_type')!r}, not a sequence "
                "classifier (expected SEQ_CLS: a reward model, e.g. `alignlab train sweeps/runs/rm.yaml`)"
            )
        base = str(adapter.get("base_model_name_or_path") or "")
        if not base or not (Path(base) / "config.json").is_file():
            problems.append(f"{key}: {shown!r}: the adapter's base model {base!r} is not a local folder")
        return problems
    config = _read_json(folder / "config.json")
    if config is None:
        return [*problems, f"{key}: {shown!r} has no readable config.json (expected a saved model folder)"]
    architectures = [str(a) for a in config.get("architectures") or []]
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        problems.append(
            f"{key}: {shown!r} is not a sequence classifier (its architectures: {', '.join(architectures) or 'none'}; "
            "expected a *ForSequenceClassification reward model)"
        )
    return problems


def judge_problems(settings: JudgeSettings, *, builtin_data: bool) -> list[str]:
    """Problems with a judge's reference, found without loading a model: ``key: what`` lines."""
    if settings.reward_model is not None:
        return folder_problems(Path(settings.reward_model).expanduser(), key="judge.reward_model")
    if settings.function is not None:
        from alignlab.run.rewards import reward_function_problems

        return [
            p.replace("reward_function:", "judge.function:", 1)
            for p in reward_function_problems(settings.function, builtin_data=builtin_data)
        ]
    return []


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


__all__ = ["Judge", "Scorer", "judge_problems", "pair_accuracy_units", "resolve_judge"]
