"""Which ``params`` a run of each algorithm accepts: the fields of TRL's own config dataclasses.

A run's hyperparameters are named by the TRL field they set, so a trial's params paste into TRL as they
are. This module checks those names and simple values against the algorithm's TRL config class (imported
lazily: checking a config imports trl, loading one does not), plus the few settings alignlab adds on
top (an algorithm module's ``PARAMS``) and the closed sets TRL checks only at the first loss call (its
``CHOICES``), so a typo is reported before any model loads.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from alignlab.run.algorithms import algorithm_of

#: TRL fields alignlab sets itself; a config may not set them.
RESERVED_PARAMS: frozenset[str] = frozenset(
    {"output_dir", "report_to", "bf16", "fp16", "use_cpu", "seed", "run_name", "logging_dir", "push_to_hub"}
)


#: Value ranges of TRL's numeric fields that TRL (or torch) only refuses mid-run, if at all: (low, high,
#: low_inclusive, high_inclusive); None is unbounded. The same field name means the same thing in every
#: TRL config. ``max_steps`` is separate: -1 (train by epochs) or a positive count.
RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "learning_rate": (0.0, None, False, False),
    "beta": (0.0, None, True, False),
    "per_device_train_batch_size": (1, None, True, False),
    "per_device_eval_batch_size": (1, None, True, False),
    "gradient_accumulation_steps": (1, None, True, False),
    "num_train_epochs": (0.0, None, False, False),
    "max_length": (1, None, True, False),
    "max_prompt_length": (1, None, True, False),
    "max_completion_length": (1, None, True, False),
    "warmup_ratio": (0.0, 1.0, True, True),
    "warmup_steps": (0, None, True, False),
    "weight_decay": (0.0, None, True, False),
    "max_grad_norm": (0.0, None, True, False),
    "label_smoothing": (0.0, 0.5, True, False),
    "desirable_weight": (0.0, None, False, False),
    "undesirable_weight": (0.0, None, False, False),
    "kl_coef": (0.0, None, True, False),
    "cliprange": (0.0, None, False, False),
    "cliprange_value": (0.0, None, False, False),
    "vf_coef": (0.0, None, True, False),
    "gamma": (0.0, 1.0, True, True),
    "lam": (0.0, 1.0, True, True),
    "num_ppo_epochs": (1, None, True, False),
    "num_mini_batches": (1, None, True, False),
    "response_length": (1, None, True, False),
    "temperature": (0.0, None, False, False),
    "num_generations": (2, None, True, False),
    "kl_target": (0.0, None, False, False),
    "kl_horizon": (1, None, True, False),
}


def range_problem(name: str, value: int | float, *, where: str) -> str | None:
    """The problem with a number outside its field's range (RANGES, and max_steps' -1 or > 0), if any."""
    if name == "max_steps":
        return None if value == -1 or value > 0 else f"{where}: must be -1 (train by epochs) or > 0, but got {value}"
    bounds = RANGES.get(name)
    if bounds is None:
        return None
    low, high, low_in, high_in = bounds
    below = low is not None and (value < low if low_in else value <= low)
    above = high is not None and (value > high if high_in else value >= high)
    if not (below or above):
        return None
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_in else '>'} {low:g}")
    if high is not None:
        parts.append(f"{'<=' if high_in else '<'} {high:g}")
    return f"{where}: must be {' and '.join(parts)}, but got {value}"


def trl_config_class(algorithm: str) -> type:
    """The TRL config dataclass of an algorithm (imports trl)."""
    return algorithm_of(algorithm).config_class()


def trl_fields(algorithm: str) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(trl_config_class(algorithm))}


def known_param_names(algorithm: str) -> set[str]:
    """Every name a run of this algorithm accepts in ``params``."""
    return (set(trl_fields(algorithm)) - RESERVED_PARAMS) | set(algorithm_of(algorithm).PARAMS)


def check_params(algorithm: str, params: dict[str, Any], *, where: str) -> list[str]:
    """Problems with ``params`` for ``algorithm``: unknown names, reserved names, values outside closed sets."""
    fields = trl_fields(algorithm)
    extras = algorithm_of(algorithm).PARAMS
    cls_name = trl_config_class(algorithm).__name__
    problems: list[str] = []
    for name, value in params.items():
        if name in RESERVED_PARAMS:
            problems.append(f"{where}.{name}: set by alignlab, not by the config")
        elif name not in fields and name not in extras:
            problems.append(
                f"{where}.{name}: not a field of TRL's {cls_name} (nor an alignlab {algorithm} setting)"
            )
        else:
            problems.extend(check_value(algorithm, name, value, where=f"{where}.{name}"))
    return problems


def value_kind(algorithm: str, name: str) -> str:
    """What a field takes: ``int``, ``float``, ``bool``, ``choice`` (a closed set), or ``other`` (text,
    lists, ...); an alignlab setting without a TRL field (``PARAMS``) is a ``float``."""
    if name in algorithm_of(algorithm).CHOICES:
        return "choice"
    field = trl_fields(algorithm).get(name)
    if field is None:
        return "float"
    if field.metadata.get("choices") or "Literal" in str(field.type):
        return "choice"
    kinds = [a for a in (typing.get_args(field.type) or (field.type,)) if a not in (type(None), "None")]
    if len(kinds) != 1:
        return "other"
    return {int: "int", "int": "int", float: "float", "float": "float", bool: "bool", "bool": "bool"}.get(
        kinds[0], "other"
    )


def search_range_problems(
    algorithm: str, name: str, *, low: float, high: float, integer: bool, where: str
) -> list[str]:
    """Problems with a numeric search range over TRL field ``name``: the field takes numbers (integers
    for an integer field) and both bounds lie in its range (RANGES; max_steps > 0)."""
    kind = value_kind(algorithm, name)
    cls_name = trl_config_class(algorithm).__name__
    if kind in ("bool", "choice", "other"):
        what = {"bool": "true or false", "choice": "one of a closed set of names"}.get(kind, "values that are not numbers")
        return [f"{where}: TRL's {cls_name}.{name} takes {what}, not a number range (use type: categorical)"]
    if kind == "int" and not integer:
        return [f"{where}: TRL's {cls_name}.{name} is an integer, but the range is of floats (use type: int)"]
    problems = []
    for bound, value in (("low", low), ("high", high)):
        if name == "max_steps" and value < 1:
            problems.append(f"{where}.{bound}: a searched max_steps must be > 0, but got {value}")
            continue
        problem = range_problem(name, value, where=f"{where}.{bound}")
        if problem is not None:
            problems.append(problem)
    return problems


def check_value(algorithm: str, name: str, value: Any, *, where: str) -> list[str]:
    """Check one value against a closed set or a simple type (float/int/bool/str) of its TRL field."""
    choices = algorithm_of(algorithm).CHOICES.get(name)
    field = trl_fields(algorithm).get(name)
    if choices is None and field is not None:
        meta = field.metadata.get("choices")
        literal = (
            [a for a in typing.get_args(field.type) if isinstance(a, str)]
            if "Literal" in str(field.type)
            else []
        )
        choices = tuple(meta) if meta else (tuple(literal) if literal else None)
    if choices is not None:
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if v not in choices]
        if bad:
            return [f"{where}: {bad[0]!r} is not one of {', '.join(choices)}"]
        return []
    kind = value_kind(algorithm, name)
    if value is None and field is not None and type(None) in typing.get_args(field.type):
        return []  # an optional field left unset
    if kind == "float" and not (isinstance(value, int | float) and not isinstance(value, bool)):
        return [f"{where}: expected a number, but got {value!r}"]
    if kind == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
        return [f"{where}: expected an integer, but got {value!r}"]
    if kind == "bool" and not isinstance(value, bool):
        return [f"{where}: expected true or false, but got {value!r}"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        problem = range_problem(name, value, where=where)
        if problem is not None:
            return [problem]
    return []
