"""Sweep files read and checked: :func:`load_sweep` and :func:`parse_sweep`, every problem of every layer
at once, each with its file and key path.

The schema (:mod:`alignlab.sweep.spec`) comes first; when it fails, the TRL checks still run over the
sections that are valid on their own, so a bad search range does not hide a misspelt TRL field in
``fixed``. Then what the file means (:func:`semantic_problems`: objectives, sampler, pruner, budget,
enqueued defaults) and its fields against TRL's config classes (:func:`trl_problems`, imports trl).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from alignlab.errors import UserInputError
from alignlab.run.config import ALGORITHM_NAMES, LORA_FIELDS, LoraSettings, format_validation_error, read_yaml
from alignlab.run.trl_fields import check_params, check_value, known_param_names, search_range_problems
from alignlab.sweep.objectives import metric_problems
from alignlab.sweep.spec import (
    ALGORITHM_PARAM,
    CategoricalParam,
    FloatParam,
    IntParam,
    SearchParam,
    SweepSpec,
    distinct_configurations,
)


def load_sweep(path: str | Path, *, check_trl: bool = True) -> SweepSpec:
    """Load and check a sweep file; raises UserInputError listing every problem with its key path."""
    return parse_sweep(read_yaml(path), where=str(path), check_trl=check_trl)


def parse_sweep(raw: dict[str, Any], *, where: str = "<sweep>", check_trl: bool = True) -> SweepSpec:
    """Validate a sweep mapping. ``check_trl`` also checks field names against TRL (imports trl)."""
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        problems = format_validation_error(where, exc)
        if check_trl:
            problems += _trl_problems_of_valid_sections(raw, exc, where)
        raise UserInputError(list(dict.fromkeys(problems))) from None
    problems = semantic_problems(spec, where)
    if spec.warm_start:  # opens the named studies (Optuna), read only
        from alignlab.sweep.warm_start import warm_start_problems

        problems += warm_start_problems(spec, where)
    if check_trl:
        problems += trl_problems(spec, where)
    if problems:
        raise UserInputError(problems)
    return spec


def _trl_problems_of_valid_sections(raw: dict[str, Any], error: ValidationError, where: str) -> list[str]:
    """The TRL checks of a file whose schema failed, over the sections that are valid on their own: the
    search parameters whose own range is bad are left out (their names are still checked), other broken
    optional sections take their defaults. Nothing when a required section is broken."""
    broken = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
    pruned = {k: v for k, v in raw.items() if k not in broken or k == "search"}
    search = raw.get("search")
    left_out: list[str] = []
    if "search" in broken and isinstance(search, dict):
        adapter: TypeAdapter[Any] = TypeAdapter(SearchParam)
        kept = {}
        for name, param in search.items():
            try:
                adapter.validate_python(param)
                kept[name] = param
            except ValidationError:
                left_out.append(str(name))
        pruned["search"] = kept
    elif "search" in broken:
        pruned.pop("search", None)
    try:
        spec = SweepSpec.model_validate(pruned)
    except ValidationError:
        return []
    names = {a: known_param_names(a) for a in spec.algorithms}
    problems = trl_problems(spec, where)
    for name in left_out:
        if name not in LORA_FIELDS and not any(name in names[a] for a in spec.algorithms):
            problems.append(_not_a_field(name, spec.algorithms, where))
    return [p for p in problems if not p.startswith(f"{where}: budget.")]  # the space is incomplete


def semantic_problems(spec: SweepSpec, where: str) -> list[str]:
    """What the file means beyond its schema: objectives, sampler and pruner together, the budget against
    the search space, the enqueued defaults, reward settings, per-algorithm sections."""
    problems: list[str] = []
    problems += metric_problems(spec, where)
    if len(spec.objectives) > 1 and spec.pruner.type != "none":
        problems.append(
            f"{where}: pruner.type: Optuna cannot prune multi-objective studies; set pruner: {{type: none}}"
        )
    if spec.sampler.type == "grid":
        for name, param in spec.search.items():
            if isinstance(param, FloatParam) and param.step is None:
                problems.append(
                    f"{where}: search.{name}: the grid sampler needs choices or a step for floats"
                )
    if spec.sampler.type == "cmaes" and any(isinstance(p, CategoricalParam) for p in spec.search.values()):
        problems.append(
            f"{where}: sampler.type: cmaes samples only numeric parameters; use tpe for categorical ones"
        )
    if spec.sampler.type == "cmaes" and len(spec.objectives) > 1:
        problems.append(f"{where}: sampler.type: cmaes cannot optimise several objectives; use tpe or nsga2")
    if not spec.search and len(spec.algorithms) == 1:
        problems.append(
            f"{where}: search: empty, so every trial would run the same configuration (expected at least one "
            "parameter to search; for one fixed run use `alignlab train` with a run config)"
        )
    metrics = [o.metric for o in spec.objectives]
    for i, metric in enumerate(metrics):
        if metric in metrics[:i]:
            problems.append(f"{where}: objectives.{i}.metric: {metric} is already objective {metrics.index(metric)}")
    problems += _enqueue_problems(spec, where)
    size = distinct_configurations(spec)
    if size is not None and spec.search and spec.sampler.type != "grid" and size < spec.budget.n_trials:
        problems.append(
            f"{where}: budget.n_trials: the search space has {size} distinct configurations, but got "
            f"n_trials={spec.budget.n_trials} (trials never repeat params; lower it, widen the space, or use sampler: {{type: grid}})"
        )
    if spec.reward_function is not None and spec.reward_model is not None:
        problems.append(f"{where}: reward_function: give reward_model or reward_function, not both")
    if isinstance(spec.algorithm, list) and len(set(spec.algorithm)) != len(spec.algorithm):
        problems.append(f"{where}: algorithm: each algorithm may appear once")
    for key in spec.fixed:
        if key in ALGORITHM_NAMES and key not in spec.algorithms:
            problems.append(f"{where}: fixed.{key}: {key} is not one of this sweep's algorithms")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", spec.name):
        problems.append(f"{where}: name: letters, digits, '.', '_' and '-' only")
    return problems


def _enqueue_problems(spec: SweepSpec, where: str) -> list[str]:
    """Each enqueued default names search parameters and lies in their range (or choices); they all fit
    in the budget."""
    problems: list[str] = []
    for i, params in enumerate(spec.enqueue):
        for key, value in params.items():
            at = f"{where}: enqueue.{i}.{key}"
            param = spec.search.get(key)
            if param is None:
                if key != ALGORITHM_PARAM:
                    problems.append(
                        f"{at}: not a parameter of the search space (expected one of {', '.join(spec.search)})"
                    )
            elif isinstance(param, CategoricalParam):
                if value not in param.choices:
                    problems.append(f"{at}: {value!r} is not one of the choices {param.choices}")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{at}: expected a number, but got {value!r}")
            elif isinstance(param, IntParam) and not isinstance(value, int):
                problems.append(f"{at}: expected an integer (search.{key} is an int range), but got {value!r}")
            elif not param.low <= value <= param.high:
                problems.append(f"{at}: {value!r} is outside search.{key}'s range [{param.low}, {param.high}]")
    many = sum(
        1 if ALGORITHM_PARAM in params else len(spec.algorithms) for params in spec.enqueue
    )
    if many > spec.budget.n_trials:
        problems.append(
            f"{where}: enqueue: {many} enqueued trials, but budget.n_trials={spec.budget.n_trials}; the budget "
            "would end before the defaults do (raise n_trials or enqueue fewer)"
        )
    return problems


def trl_problems(spec: SweepSpec, where: str) -> list[str]:
    """Field names and values checked against TRL's config dataclasses (imports trl)."""
    problems: list[str] = []
    for algorithm in spec.algorithms:
        fixed = spec.fixed_for(algorithm)
        label = f"{where}: fixed" + (f".{algorithm}" if algorithm in spec.fixed else "")
        problems += check_params(algorithm, fixed, where=label)
    names = {a: known_param_names(a) for a in spec.algorithms}
    for name, param in spec.search.items():
        owners = [a for a in spec.algorithms if name in names[a]]
        if name in LORA_FIELDS:
            if spec.lora is None:
                problems.append(f"{where}: search.{name}: a LoRA field, but lora is null (full fine-tuning)")
            problems += _lora_search_problems(name, param, where=f"{where}: search.{name}")
            continue
        if not owners:
            problems.append(_not_a_field(name, spec.algorithms, where))
            continue
        if isinstance(param, CategoricalParam):
            for algorithm in owners:
                for choice in param.choices:
                    for problem in check_value(
                        algorithm, name, choice, where=f"{where}: search.{name}.choices"
                    ):
                        suffix = (
                            f" (for {algorithm}; set per-algorithm values under fixed.{algorithm})"
                            if len(owners) > 1
                            else ""
                        )
                        problems.append(problem + suffix)
        else:
            for algorithm in owners:
                suffix = f" (for {algorithm})" if len(owners) > 1 else ""
                problems += [
                    p + suffix
                    for p in search_range_problems(
                        algorithm,
                        name,
                        low=param.low,
                        high=param.high,
                        integer=isinstance(param, IntParam),
                        where=f"{where}: search.{name}",
                    )
                ]
    for i, params in enumerate(spec.enqueue):
        for key, value in params.items():
            if key == ALGORITHM_PARAM and value not in spec.algorithms:
                problems.append(
                    f"{where}: enqueue.{i}.algorithm: {value!r} is not one of {', '.join(spec.algorithms)}"
                )
    problems += _budget_problems(spec, names, where)
    return sorted(set(problems), key=problems.index)


def _lora_search_problems(name: str, param: FloatParam | IntParam | CategoricalParam, *, where: str) -> list[str]:
    """A searched LoRA field: integers for r and lora_alpha, every value one LoraSettings accepts."""
    if name in ("r", "lora_alpha") and isinstance(param, FloatParam):
        return [f"{where}: PEFT's LoraConfig.{name} is an integer, but the range is of floats (use type: int)"]
    values = param.choices if isinstance(param, CategoricalParam) else [param.low, param.high]
    problems = []
    for value in values:
        try:
            LoraSettings.model_validate({name: value})
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].lower()
            problems.append(f"{where}: {value!r} is not a valid LoRA {name} ({message})")
    return problems


def _budget_problems(spec: SweepSpec, names: dict[str, set[str]], where: str) -> list[str]:
    """A sweep over several algorithms: its distinct configurations (each algorithm's own subspace) hold
    the budget (trials never repeat params)."""
    if len(spec.algorithms) < 2 or spec.sampler.type == "grid":
        return []
    size = 0
    for algorithm in spec.algorithms:
        single = spec.model_copy(
            update={
                "algorithm": algorithm,
                "search": {
                    k: v for k, v in spec.search.items() if k in LORA_FIELDS or k in names[algorithm]
                },
            }
        )
        count = distinct_configurations(single)
        if count is None:
            return []
        size += count
    if size < spec.budget.n_trials:
        return [
            f"{where}: budget.n_trials: the search space has {size} distinct configurations over "
            f"{', '.join(spec.algorithms)}, but got n_trials={spec.budget.n_trials} (trials never repeat params; "
            "lower it or widen the space)"
        ]
    return []


def _not_a_field(name: str, algorithms: list[str], where: str) -> str:
    return (
        f"{where}: search.{name}: not a field of TRL's config for {', '.join(algorithms)} "
        f"(nor a LoRA field {', '.join(LORA_FIELDS)})"
    )
