"""Judges: what scores a run's samples where there is no gold reward, so a sweep can optimise
``judge_win_rate`` instead of a proxy that ranks trials against the truth.

A run (or a sweep) names one judge (:class:`alignlab.run.config.JudgeSettings`):

- ``train_on: heldout, fraction: F``: a Bradley-Terry reward model trained on the pairs of a share F of
  the train prompts that no trial trains or selects on (the split rule of alignlab.run.splits). It is
  trained once and cached under ``studies/cache/judges/<content hash>`` (the starting model's weights,
  its tokenizer, the judge's pairs and its training settings; alignlab.run.trained_rm), so the trials of
  a study, and every worker, share one judge; a file lock keeps two workers from training it twice. Its
  ``batch_size`` and ``lora`` make it affordable on a real model on a CPU (all weights at batch 32, the
  default, suits the built-in tiny models);
- ``reward_model: PATH``: a local sequence classifier with its own tokenizer (it scores the text, so its
  tokenizer may differ from the policy's), or the output folder of an ``alignlab train`` reward run
  (a LoRA adapter over its base model);
- ``function: module:fn``: a reward function with the convention GRPO/RLOO use (alignlab.run.rewards).

Every evaluation of a run with a judge then reports (alignlab.run.evaluation):

- ``judge_win_rate``: per held-out prompt, how often the judge scores a policy sample above a reference
  sample of the same prompt (every policy sample against every reference sample, ties half), the
  reference sampled with the same seed, exactly as the gold ``win_rate``; one unit per prompt;
- ``judge_win_rate_kl``: ``judge_win_rate - kl_coef * KL``, per prompt: a judge, like any learned reward,
  overrates policies that drift from the samples it learned from (Gao et al. 2023, "Scaling laws for
  reward model overoptimization"), and this prices the drift as the RLHF objective does;
- ``judge_reward``: the mean judge score of the policy's samples;
- ``judge_accuracy``: how often the judge ranks the held-out evaluation pairs right (pairs it never
  trained on, ties half): how far to trust the two above. It depends on the judge and the pairs only, so
  it is computed once and cached beside the judge (``studies/cache/judges/accuracy/``), not per trial.

docs/objectives.md measures how well each candidate objective ranks trials against the gold win rate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.paths import cache_dir

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import JudgeSettings, RunConfig

#: Scores completions of prompts: ``(prompts, completions, ended) -> one float each``. Prompts are as the
#: data holds them (strings or message lists); ``ended`` says which completions reached their eos.
Scorer = Callable[[Sequence[Any], Sequence[str], Sequence[bool]], list[float]]


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
    kl_coef: float = 0.01
    """What one nat of KL costs in ``judge_win_rate_kl`` (JudgeSettings.kl_coef)."""

    @property
    def accuracy(self) -> float | None:
        return sum(self.accuracy_units) / len(self.accuracy_units) if self.accuracy_units else None

    def score(self, prompts: Sequence[Any], completions: Sequence[str], ended: Sequence[bool] | None = None) -> list[float]:
        flags = list(ended) if ended is not None else [True] * len(completions)
        return self.scorer(prompts, completions, flags) if completions else []


def judge_of_run(config: RunConfig, data: RunData, model_dir: Path, tokenizer_dir: Path) -> Judge | None:
    """A run's judge (None without one): trained once per content hash where it is a held-out one."""
    if config.judge is None:
        return None
    return resolve_judge(
        config.judge,
        data,
        model_dir=model_dir,
        tokenizer_dir=tokenizer_dir,
        builtin_model=config.model.startswith("builtin:"),
        max_length=int(config.params.get("max_length", 512)),
        seed=config.seed,
        n_pairs=config.eval.n_pairs,
    )


def resolve_judge(
    settings: JudgeSettings,
    data: RunData,
    *,
    model_dir: Path,
    tokenizer_dir: Path,
    builtin_model: bool,
    max_length: int,
    seed: int,
    n_pairs: int | None = None,
) -> Judge:
    """The run's judge, trained (once, cached) where it is a held-out one, with its accuracy on the run's
    held-out evaluation pairs (the first ``n_pairs``, those preference accuracy scores; default all).
    ``builtin_model``: the policy is a built-in tiny model (its learning rate). A held-out judge scores
    the last ``max_length`` tokens of a text, as long as it trained on."""
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
    pairs = data.eval_pairs if n_pairs is None else data.eval_pairs[:n_pairs]
    judge.accuracy_units = _cached_accuracy_units(judge, pairs, cache=settings.function is None)
    return judge


def _cached_accuracy_units(judge: Judge, pairs: Sequence[dict[str, Any]], *, cache: bool) -> list[float]:
    """:func:`pair_accuracy_units`, read from the cache when this judge (by its content key) has already
    scored these pairs: every trial of a study has the same judge and evaluation pairs. A function judge
    is not cached (its code may change under the same name)."""
    if not cache or not pairs:
        return pair_accuracy_units(judge, pairs)
    digest = hashlib.sha256(json.dumps([judge.key, list(pairs)], sort_keys=True, default=str).encode()).hexdigest()
    path = cache_dir() / "judges" / "accuracy" / f"{digest[:24]}.json"
    if path.is_file():
        units = _read_json(path)
        if units is not None and isinstance(units.get("units"), list) and len(units["units"]) == len(pairs):
            return [float(u) for u in units["units"]]
    computed = pair_accuracy_units(judge, pairs)
    from alignlab.paths import write_atomic

    write_atomic(path, json.dumps({"judge": judge.key, "units": computed}))
    return computed


def pair_accuracy_units(judge: Judge, pairs: Sequence[dict[str, Any]]) -> list[float]:
    """1 where the judge scores a pair's chosen above its rejected, 0.5 on a tie, else 0."""
    if not pairs:
        return []
    from alignlab.run.scoring import completion_text

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
    from alignlab.run.trained_rm import train_once

    trained = train_once(
        settings,
        pairs,
        kind="judges",
        model_dir=model_dir,
        tokenizer_dir=tokenizer_dir,
        builtin_model=builtin_model,
        max_length=max_length,
        seed=seed,
    )
    return Judge(
        f"heldout:{settings.fraction:g}",
        f"heldout:{trained.key}",
        _model_scorer(trained.folder, max_length=max_length),
        n_pairs=trained.n_pairs,
        train_seconds=trained.train_seconds,
        cached=trained.cached,
    )


def _model_scorer(folder: Path, *, max_length: int | None = None) -> Scorer:
    """A sequence classifier's scores of prompt + completion (+ its eos where the completion ended), with
    the folder's own tokenizer and chat template; with ``max_length``, of the text's last tokens."""
    from alignlab.models import load_tokenizer, resolve_device
    from alignlab.run.scoring import prompt_text, reward_model_scores

    tokenizer = load_tokenizer(folder)
    model = load_sequence_classifier(folder, tokenizer).to(resolve_device()).eval()

    def by_model(prompts: Sequence[Any], completions: Sequence[str], ended: Sequence[bool]) -> list[float]:
        texts = [prompt_text(p, tokenizer) for p in prompts]
        return reward_model_scores(model, tokenizer, texts, list(completions), ended=ended, max_length=max_length)

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
        from alignlab.run.reward_functions import reward_function_problems

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


__all__ = ["Judge", "Scorer", "judge_of_run", "judge_problems", "pair_accuracy_units", "resolve_judge"]
