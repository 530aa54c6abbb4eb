"""Sweep files: the schema (:class:`SweepSpec` and its parts), each field documented where it is declared.

What a file means beyond its schema (ranges against TRL's fields, the budget against the search space,
the pruner against the objectives, ...) is checked by :mod:`alignlab.sweep.checks`, whose
:func:`~alignlab.sweep.checks.load_sweep` reads a file with every problem of every layer at once.

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
    warm_start: [dpo-beta-lr-noisy]  # earlier studies the sampler starts from (alignlab.sweep.warm_start)

With a list of algorithms, ``algorithm`` becomes a categorical parameter of the study, and each
search parameter is sampled only in the trials of the algorithms that have that field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from alignlab.run.config import (
    ALGORITHM_NAMES,
    AlgorithmNames,
    DataSettings,
    EvalSettings,
    JudgeSettings,
    LoraSettings,
    RewardModelSettings,
    StrictModel,
)

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
    warm_start: list[str] = Field(default_factory=list)
    """Earlier studies (by name, under studies/) whose complete trials the sampler starts from: added once as
    prior trials (rank-scaled, never counted in the budget, never the best) and the best of them enqueued
    (alignlab.sweep.warm_start). Each must share a searched parameter, an algorithm and the objectives'
    directions with this sweep; another model or data set is fine."""
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
