"""Sweep files: :class:`SweepSpec`, parsed strictly, every problem reported at once with its key path.

A sweep file describes an Optuna study of training runs::

    name: dpo-beta-lr
    algorithm: dpo                 # or a list, to compare algorithms in one study
    model: builtin:tiny-sft
    data: {task: builtin}
    fixed: {max_steps: 150, per_device_train_batch_size: 32}   # TRL fields set in every trial
    lora: {r: 8, lora_alpha: 16}
    search:                        # named by the TRL (or PEFT LoRA) field each one sets
      beta: {type: float, low: 0.01, high: 1.0, log: true}
      learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
    objectives: [{metric: win_rate, direction: maximize}]
    constraints: [{metric: kl, max: 8.0}]
    sampler: {type: tpe}
    pruner: {type: median}
    budget: {n_trials: 8}
    enqueue: [{beta: 0.1, learning_rate: 5.0e-6}]             # literature defaults, run first

With a list of algorithms, ``algorithm`` becomes a categorical parameter of the study, and each
search parameter is sampled only in the trials of the algorithms that have that field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from alignlab.errors import UserInputError
from alignlab.run.config import (
    ALGORITHM_NAMES,
    LORA_FIELDS,
    AlgorithmNames,
    DataSettings,
    EvalSettings,
    JudgeSettings,
    LoraSettings,
    RewardModelSettings,
    StrictModel,
    format_validation_error,
    read_yaml,
)
from alignlab.run.trl_fields import check_params, check_value, known_param_names, search_range_problems
from alignlab.sweep.objectives import metric_problems

Scalar = str | int | float | bool

#: The name of the categorical parameter of a study that compares algorithms (and the ``enqueue`` key
#: that pins a default to one algorithm).
ALGORITHM_PARAM = "algorithm"


class FloatParam(StrictModel):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    """Sample on a log scale (low must be > 0)."""
    step: float | None = None

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        if self.low >= self.high:
            raise ValueError(f"low must be < high, but got low={self.low} and high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"low must be > 0 for a log scale, but got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("step cannot be combined with log: true")
        if self.step is not None:
            _check_step(self.low, self.high, self.step)
        return self


def _check_step(low: float, high: float, step: float) -> None:
    """A step is > 0 and divides high - low (Optuna would silently lower high to the last step)."""
    if step <= 0:
        raise ValueError(f"step must be > 0, but got step={step}")
    n = (high - low) / step
    if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
        raise ValueError(
            f"high - low must be a multiple of step, but got low={low}, high={high} and step={step} "
            f"(the last value would be {low + int(n) * step:g}, not {high})"
        )


class IntParam(StrictModel):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(1, gt=0)

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        if self.low >= self.high:
            raise ValueError(f"low must be < high, but got low={self.low} and high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"low must be > 0 for a log scale, but got low={self.low}")
        if self.log and self.step != 1:
            raise ValueError(f"step must be 1 with log: true (Optuna's rule), but got step={self.step}")
        _check_step(self.low, self.high, self.step)
        return self


class CategoricalParam(StrictModel):
    type: Literal["categorical"]
    choices: list[Scalar] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> CategoricalParam:
        seen: list[tuple[type, Scalar]] = []
        for choice in self.choices:
            if (type(choice), choice) in seen:
                raise ValueError(f"each choice may appear once, but {choice!r} is given twice")
            seen.append((type(choice), choice))
        return self


SearchParam = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class Objective(StrictModel):
    metric: str
    """One of alignlab.run.config.METRICS."""
    direction: Literal["maximize", "minimize"]

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


class Constraint(StrictModel):
    """A feasibility bound on a metric (e.g. KL to the reference <= a target); `best` prefers feasible trials."""

    metric: str
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> Constraint:
        if self.max is None and self.min is None:
            raise ValueError("give max, min or both")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"min must be <= max, but got min={self.min} and max={self.max}")
        return self

    def describe(self) -> str:
        """The bound in words: ``kl <= 6.0``, ``win_rate >= 0.5``, or both joined by ``and``."""
        parts = [
            f"{self.metric} <= {self.max}" if self.max is not None else "",
            f"{self.metric} >= {self.min}" if self.min is not None else "",
        ]
        return " and ".join(p for p in parts if p)


class SamplerSettings(StrictModel):
    type: Literal["tpe", "random", "grid", "cmaes", "gp", "nsga2"] = "tpe"
    n_startup_trials: int | None = Field(None, ge=0)
    """Random trials before the model-based sampler starts (tpe, gp, cmaes); default: Optuna's."""


class PrunerSettings(StrictModel):
    type: Literal["median", "asha", "hyperband", "none"] = "median"
    n_startup_trials: int = Field(2, ge=0)
    """median: trials to finish before pruning starts."""
    n_warmup_steps: int = Field(0, ge=0)
    """median: steps of a trial before it may be pruned."""
    min_resource: int | Literal["auto"] = "auto"
    """asha/hyperband: the smallest budget (in reported evaluations) before a trial may be stopped."""
    reduction_factor: int = Field(3, ge=2)

    @model_validator(mode="after")
    def _resource(self) -> PrunerSettings:
        if self.min_resource != "auto" and self.min_resource < 1:
            raise ValueError(f"min_resource must be >= 1 or auto, but got {self.min_resource}")
        return self


class Budget(StrictModel):
    n_trials: int = Field(8, gt=0)
    """Finished trials (complete, pruned or failed) the study runs to; a resumed study counts what it has."""
    timeout_s: float | None = Field(None, gt=0)
    """Stop starting new trials after this many seconds of this invocation."""
    max_trial_steps: int | None = Field(None, gt=0)
    """Cap on each trial's max_steps (a sampled or fixed value above it is lowered to it)."""


class Heartbeat(StrictModel):
    """How workers notice a dead worker: a running trial records a heartbeat every ``interval_s``; one
    silent for ``grace_s`` is failed by the next worker that looks and retried with the same params."""

    interval_s: int = Field(5, gt=0)
    grace_s: int = Field(20, gt=0)
    """Longer than the longest pause of a live worker (a slow checkpoint save, a loaded machine)."""
    max_retry: int = Field(3, ge=0)
    """Retries of one trial whose worker keeps dying, before its slot goes to a new draw."""

    @model_validator(mode="after")
    def _grace(self) -> Heartbeat:
        if self.grace_s <= self.interval_s:
            raise ValueError(
                f"grace_s must be > interval_s, but got grace_s={self.grace_s} and interval_s={self.interval_s}"
            )
        return self


class SweepSpec(StrictModel):
    """A sweep file: one Optuna study of training runs."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    """The study name: its folder under studies/, its Optuna study and its MLflow experiment."""
    description: str = ""
    algorithm: AlgorithmNames
    """One algorithm, or a list to compare algorithms in one study (a categorical parameter)."""
    model: str
    """The starting policy: a local HF folder or builtin:tiny-sft / smollm2-135m (see alignlab.run.config)."""
    reward_model: str | RewardModelSettings | None = None
    """The online algorithms' (PPO, GRPO, RLOO) reward model; default builtin:tiny-rm on the built-in task.
    ``{train_on: heldout, fraction: 0.5}`` trains one from the data's own pairs once, before the first
    trial, on a share of the prompts no trial, judge or evaluation uses (alignlab.run.splits)."""
    reward_function: str | None = None
    """The online algorithms' reward function instead (``builtin:gold`` or ``module:function``, see
    alignlab.run.rewards); the offline algorithms of a mixed sweep ignore it."""
    data: DataSettings
    judge: JudgeSettings | None = None
    """What scores the trials' samples on data without a gold reward, so the sweep can optimise
    ``judge_win_rate_kl``: ``{train_on: heldout, fraction: 0.2}`` (a reward model trained once on pairs no
    trial sees), ``{reward_model: PATH}`` or ``{function: module:fn}`` (alignlab.run.judges). On your own
    data, judge_win_rate_kl with a held-out judge is the objective that ranked trials like the truth wherever
    it was measured (docs/objectives.md); preference_accuracy, reward_margin and the plain judge_win_rate
    picked collapsed models."""
    fixed: dict[str, Any] = Field(default_factory=dict)
    """TRL fields set in every trial (max_steps, per_device_train_batch_size, ...). Per algorithm via
    a nested mapping: ``fixed: {dpo: {...}, kto: {...}}`` sets those only for that algorithm."""
    lora: LoraSettings | None = Field(default_factory=LoraSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    search: dict[str, SearchParam] = Field(default_factory=dict)
    objectives: list[Objective] = Field(min_length=1)
    constraints: list[Constraint] = Field(default_factory=list)
    sampler: SamplerSettings = Field(default_factory=SamplerSettings)
    pruner: PrunerSettings = Field(default_factory=PrunerSettings)
    budget: Budget = Field(default_factory=Budget)
    seed: int = Field(0, ge=0, lt=2**32)
    """Seeds the sampler (each worker its own, derived from it) and every trial's training (numpy's range)."""
    storage: str | None = None
    """Any Optuna RDB URL; default sqlite:///studies/<name>/optuna.db. Every worker given the same URL
    joins the study: ``postgresql://USER@HOST:PORT/DB`` (the ``alignlab[postgres]`` extra) for workers on
    several machines. A password may be in the URL, or in $PGPASSWORD / ~/.pgpass as libpq reads them;
    alignlab never prints or writes it (alignlab.sweep.secrets)."""
    tracking_uri: str | None = None
    """MLflow tracking URI; default the store shared by all studies, sqlite:///studies/mlflow.db. For
    workers on several machines, an MLflow server (``http://HOST:5000``) with a PostgreSQL backend store."""
    heartbeat: Heartbeat = Field(default_factory=Heartbeat)
    enqueue: list[dict[str, Scalar]] = Field(default_factory=list)
    """Parameter sets run as the first trials: the literature defaults the sweep must beat."""
    cache_reference: bool = True
    """DPO and KTO trials reuse the reference log-probs of the train rows computed by the first trial."""

    @property
    def algorithms(self) -> list[str]:
        return list(self.algorithm) if isinstance(self.algorithm, list) else [self.algorithm]

    def fixed_for(self, algorithm: str) -> dict[str, Any]:
        """The fixed TRL fields of one algorithm: shared entries, then that algorithm's own."""
        shared = {k: v for k, v in self.fixed.items() if k not in ALGORITHM_NAMES}
        own = self.fixed.get(algorithm) or {}
        return {**shared, **own}


def load_sweep(path: str | Path, *, check_trl: bool = True) -> SweepSpec:
    """Load and check a sweep file; raises UserInputError listing every problem with its key path."""
    return parse_sweep(read_yaml(path), where=str(path), check_trl=check_trl)


def parse_sweep(raw: dict[str, Any], *, where: str = "<sweep>", check_trl: bool = True) -> SweepSpec:
    """Validate a sweep mapping. ``check_trl`` also checks field names against TRL (imports trl)."""
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise UserInputError(format_validation_error(where, exc)) from None
    problems = _semantic_problems(spec, where)
    if check_trl:
        problems += _trl_problems(spec, where)
    if problems:
        raise UserInputError(problems)
    return spec


def _semantic_problems(spec: SweepSpec, where: str) -> list[str]:
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


def distinct_configurations(spec: SweepSpec) -> int | None:
    """How many distinct param sets the search space of a one-algorithm sweep has; None when infinite
    (a float without a step) or when the sweep compares algorithms (each has its own subspace)."""
    if len(spec.algorithms) > 1:
        return None
    size = 1
    for param in spec.search.values():
        if isinstance(param, CategoricalParam):
            size *= len(set(param.choices))
        elif isinstance(param, IntParam):
            size *= len(range(param.low, param.high + 1, param.step)) if not param.log else param.high - param.low + 1
        elif param.step is not None:
            size *= round((param.high - param.low) / param.step) + 1
        else:
            return None
    return size


def _trl_problems(spec: SweepSpec, where: str) -> list[str]:
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
            problems.append(
                f"{where}: search.{name}: not a field of TRL's config for {', '.join(spec.algorithms)} "
                f"(nor a LoRA field {', '.join(LORA_FIELDS)})"
            )
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
