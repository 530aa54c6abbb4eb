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
    expected = field.type if field is not None else float
    if expected in (float, "float") and not (isinstance(value, int | float) and not isinstance(value, bool)):
        return [f"{where}: expected a number, but got {value!r}"]
    if expected in (int, "int") and not (isinstance(value, int) and not isinstance(value, bool)):
        return [f"{where}: expected an integer, but got {value!r}"]
    if expected in (bool, "bool") and not isinstance(value, bool):
        return [f"{where}: expected true or false, but got {value!r}"]
    return []
