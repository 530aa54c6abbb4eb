"""Where an online run's reward comes from: a learned reward model or a reward function.

Online algorithms (PPO, GRPO, RLOO) score their own samples. A run names one source:

- ``reward_function``: ``builtin:gold`` (the built-in task's gold reward, as a programmatic reward) or a
  user's Python function, ``module:function`` (importable, the current folder searched first) or
  ``path/to/file.py:function``. It follows TRL's reward-function convention: called with keyword
  arguments ``prompts`` and ``completions`` (lists of the same length; strings, or message lists for
  conversational data) plus others it may ignore through ``**kwargs``, it returns one float per completion;
- else ``reward_model``: a sequence classifier sharing the policy's tokenizer (a local folder, or
  ``builtin:tiny-rm`` on the built-in task, the default there), or ``{train_on: heldout, fraction: R}``:
  one trained first from the policy's backbone on the pairs of its own share of the prompts
  (alignlab.run.splits), once per content hash (alignlab.run.trained_rm), before the run trains.

On the built-in task, whenever the policy trains on anything but the gold reward itself, the gold
reward is *monitored*: computed on the same samples and logged beside the training reward every step
(GRPO/RLOO: TRL's ``rewards/gold_reward/mean`` with weight 0; PPO: ``objective/gold_reward``), so reward
hacking (the learned reward up while the gold reward falls) shows in the curves.

:func:`reward_function_problems` checks a reference without training (``alignlab validate``).
Nothing heavy is imported here; a user's module is imported only when checked or used.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError

if TYPE_CHECKING:
    from alignlab.run.config import RunConfig

GOLD = "builtin:gold"
"""The built-in task's gold reward as a reward function."""
BUILTIN_REWARD_FUNCTIONS: tuple[str, ...] = (GOLD,)
DEFAULT_REWARD_MODEL = "builtin:tiny-rm"
"""The reward model of an online run on the built-in task that names neither source."""

RewardFunction = Callable[..., list[float]]


@dataclass
class Reward:
    """The resolved reward of one online run."""

    source: str
    """The reference as the config gives it: ``builtin:tiny-rm``, a folder, ``builtin:gold``, ``module:function``."""
    model_dir: Path | None
    """The reward model's folder, when the policy trains on a learned reward model."""
    function: RewardFunction | None
    """The reward function, when the policy trains on one."""
    monitor: RewardFunction | None
    """A reward logged beside the training one but not trained on: the gold reward on the built-in task."""


def gold_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """The built-in task's gold reward of each completion (TRL's reward-function signature)."""
    from alignlab import task
    from alignlab.run.evaluation import completion_text

    return [
        task.gold_reward(_prompt_string(p), completion_text(c))
        for p, c in zip(prompts, completions, strict=True)
    ]


def _prompt_string(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    users = [str(m.get("content", "")) for m in prompt if m.get("role") == "user"]
    return users[-1] if users else ""


def load_reward_function(reference: str) -> RewardFunction:
    """The function a ``reward_function`` reference names; UserInputError (one line) if it cannot be had."""
    if reference == GOLD:
        return gold_reward
    target, problem = _import(reference)
    if problem is not None:
        raise UserInputError(f"reward_function: {problem}")
    assert target is not None
    return target


def reward_function_problems(reference: str, *, builtin_data: bool) -> list[str]:
    """Problems with a ``reward_function`` reference (imports the user's module), ``key: what`` lines."""
    if reference.startswith("builtin:"):
        if reference not in BUILTIN_REWARD_FUNCTIONS:
            return [
                f"reward_function: unknown built-in reward {reference!r} (expected {', '.join(BUILTIN_REWARD_FUNCTIONS)} "
                "or module:function)"
            ]
        if not builtin_data:
            return [
                f"reward_function: {GOLD} scores the built-in task's prompts only (data: {{task: builtin}})"
            ]
        return []
    target, problem = _import(reference)
    if problem is not None or target is None:
        return [f"reward_function: {problem}"]
    return [f"reward_function: {p}" for p in _signature_problems(reference, target)]


def _import(reference: str) -> tuple[RewardFunction | None, str | None]:
    module_ref, sep, name = reference.rpartition(":")
    if not sep or not module_ref or not name.isidentifier():
        return None, (
            f"{reference!r} is not a reward function reference (expected {GOLD}, module:function or "
            "path/to/file.py:function)"
        )
    try:
        if module_ref.endswith(".py"):
            path = Path(module_ref).expanduser()
            if not path.is_file():
                return None, f"{reference!r}: {module_ref} does not exist (expected a Python file)"
            spec = importlib.util.spec_from_file_location(f"alignlab_reward_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            cwd = str(Path.cwd())
            added = cwd not in sys.path
            if added:
                sys.path.insert(0, cwd)
            try:
                module = importlib.import_module(module_ref)
            finally:
                if added:
                    sys.path.remove(cwd)
    except ModuleNotFoundError as exc:
        return None, f"{reference!r}: module {module_ref!r} not found ({exc.msg})"
    except Exception as exc:  # a user's module may fail any way while it is imported
        return None, f"{reference!r}: importing {module_ref} failed: {type(exc).__name__}: {exc}"
    target = getattr(module, name, None)
    if target is None:
        return None, f"{reference!r}: {module_ref} has no {name!r}"
    if not callable(target):
        return None, f"{reference!r}: {name} is a {type(target).__name__}, not a function"
    return target, None


def _signature_problems(reference: str, target: Callable[..., Any]) -> list[str]:
    """TRL calls ``f(prompts=..., completions=..., completion_ids=..., trainer_state=..., <data columns>)``."""
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # a builtin or C function: nothing to read
        return []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return []
    return [
        f"{reference!r}: must take prompts, completions and **kwargs (TRL calls reward functions as "
        "f(prompts=..., completions=..., completion_ids=..., trainer_state=..., **columns) and expects one "
        "float per completion)"
    ]


def resolve_reward(config: RunConfig, *, gold: bool, trained: Path | None = None) -> Reward:
    """The reward of an online run: its reward function if it names one, else its reward model
    (default builtin:tiny-rm; ``trained``: the folder of the one the run trained first, for
    ``reward_model: {train_on: heldout}``); with ``gold`` (the built-in task) the gold reward is
    monitored beside it."""
    from alignlab.run.assets import resolve_model

    if config.reward_function is not None:
        function = load_reward_function(config.reward_function)
        monitor = gold_reward if gold and config.reward_function != GOLD else None
        return Reward(config.reward_function, None, function, monitor)
    monitor = gold_reward if gold else None
    if config.reward_model is not None and not isinstance(config.reward_model, str):
        if trained is None:
            raise ValueError("reward_model: {train_on: heldout}: the trained folder must be given")
        return Reward(f"heldout:{config.reward_model.fraction:g}", trained, None, monitor)
    source = config.reward_model or DEFAULT_REWARD_MODEL
    return Reward(source, resolve_model(source, what="reward_model"), None, monitor)


def trl_reward_funcs(reward: Reward, reward_model: Any, tokenizer: Any) -> tuple[list[Any], list[float]]:
    """GRPO/RLOO's ``reward_funcs`` and ``reward_weights``: the training reward with weight 1, the
    monitored gold reward beside it with weight 0 (TRL logs each as ``rewards/<name>/mean``).

    A learned reward model goes in as a function (:func:`reward_model_function`), not as the model:
    TRL's GRPO and RLOO score a model on prompt + completion without the eos its RewardTrainer trained
    on, which leaves the built-in reward model's scores flat.
    """
    funcs: list[Any] = [
        reward.function if reward.function is not None else reward_model_function(reward_model, tokenizer)
    ]
    weights = [1.0]
    if reward.monitor is not None:
        funcs.append(reward.monitor)
        weights.append(0.0)
    return funcs, weights


def reward_model_function(reward_model: Any, tokenizer: Any) -> RewardFunction:
    """A learned reward model as a TRL reward function (named ``reward_model`` in TRL's logs): each
    completion scored with its eos, as TRL's RewardTrainer trained it, on the policy's device."""
    from alignlab.models import resolve_device
    from alignlab.run.evaluation import completion_text, prompt_text, reward_model_scores

    reward_model.to(resolve_device())

    def reward_model_reward(
        prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float]:
        eos = tokenizer.eos_token_id
        ended = [eos in ids for ids in completion_ids] if completion_ids is not None else None
        return reward_model_scores(
            reward_model,
            tokenizer,
            [prompt_text(p, tokenizer) for p in prompts],
            [completion_text(c) for c in completions],
            ended=ended,
        )

    reward_model_reward.__name__ = "reward_model"
    return reward_model_reward


def score(function: RewardFunction, prompts: Sequence[Any], completions: Sequence[str]) -> list[float]:
    """Call a reward function the way TRL does (keywords); each reward as a float (None counts as 0)."""
    values = function(prompts=list(prompts), completions=list(completions), completion_ids=None)
    if len(values) != len(completions):
        raise UserInputError(
            f"reward_function: returned {len(values)} rewards for {len(completions)} completions (expected one each)"
        )
    return [0.0 if v is None else float(v) for v in values]
