"""A user's reward function: the reference imported (``module:function``, the current folder searched
first, or ``path/to/file.py:function``), its signature checked against TRL's convention, and called as
TRL calls it (:func:`score`). :func:`reward_function_problems` checks a reference without training
(``alignlab validate``). Where a run's reward comes from is :mod:`alignlab.run.rewards`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError

GOLD = "builtin:gold"
"""The built-in task's gold reward as a reward function."""
BUILTIN_REWARD_FUNCTIONS: tuple[str, ...] = (GOLD,)

RewardFunction = Callable[..., list[float]]
"""TRL's reward-function convention: keywords ``prompts``, ``completions`` and more; one float each."""


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
    target, problem = import_reward_function(reference)
    if problem is not None or target is None:
        return [f"reward_function: {problem}"]
    return [f"reward_function: {p}" for p in _signature_problems(reference, target)]


def import_reward_function(reference: str) -> tuple[RewardFunction | None, str | None]:
    """The function ``module:function`` or ``path/file.py:function`` names, or why it cannot be had."""
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


def score(function: RewardFunction, prompts: Sequence[Any], completions: Sequence[str]) -> list[float]:
    """Call a reward function the way TRL does (keywords); each reward as a float (None counts as 0)."""
    values = function(prompts=list(prompts), completions=list(completions), completion_ids=None)
    if len(values) != len(completions):
        raise UserInputError(
            f"reward_function: returned {len(values)} rewards for {len(completions)} completions (expected one each)"
        )
    return [0.0 if v is None else float(v) for v in values]
