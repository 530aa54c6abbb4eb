"""The Optuna sampler and pruner a sweep file's ``sampler:`` and ``pruner:`` settings name.

Samplers are seeded with the sweep's ``seed`` (each worker of a shared study with its own, derived from
it: alignlab.sweep.claims.worker_seed); TPE uses Optuna's constant liar, so workers running at once
sample away from each other's running trials; the constrained ones (tpe, gp, nsga2) read each finished
trial's constraint values (alignlab.sweep.records); the grid sampler's space is every choice and step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alignlab.sweep import records
from alignlab.sweep.spec import ALGORITHM_PARAM, CategoricalParam, IntParam, SweepSpec

if TYPE_CHECKING:
    import optuna


def make_sampler(spec: SweepSpec, *, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sweep's sampler, seeded with ``seed`` (default: the sweep's)."""
    import optuna.samplers as s

    seed = spec.seed if seed is None else seed
    settings = spec.sampler
    startup: dict[str, Any] = (
        {} if settings.n_startup_trials is None else {"n_startup_trials": settings.n_startup_trials}
    )
    constraints = _constraints_func(spec) if spec.constraints else None
    if settings.type == "tpe":
        return s.TPESampler(seed=seed, constraints_func=constraints, constant_liar=True, **startup)
    if settings.type == "random":
        return s.RandomSampler(seed=seed)
    if settings.type == "grid":
        return s.GridSampler(grid(spec), seed=seed)
    if settings.type == "cmaes":
        return s.CmaEsSampler(seed=seed, **startup)
    if settings.type == "gp":
        return s.GPSampler(seed=seed, constraints_func=constraints, **startup)
    return s.NSGAIISampler(seed=seed, constraints_func=constraints)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    import optuna.pruners as p

    settings = spec.pruner
    if settings.type == "median":
        return p.MedianPruner(
            n_startup_trials=settings.n_startup_trials, n_warmup_steps=settings.n_warmup_steps
        )
    if settings.type == "asha":
        return p.SuccessiveHalvingPruner(
            min_resource=settings.min_resource, reduction_factor=settings.reduction_factor
        )
    if settings.type == "hyperband":
        return p.HyperbandPruner(
            min_resource=1 if settings.min_resource == "auto" else settings.min_resource,
            reduction_factor=settings.reduction_factor,
        )
    return p.NopPruner()


def grid(spec: SweepSpec) -> dict[str, list[Any]]:
    """The grid sampler's search space: every choice, every int step, every float step."""
    values: dict[str, list[Any]] = {}
    if len(spec.algorithms) > 1:
        values[ALGORITHM_PARAM] = spec.algorithms
    for name, param in spec.search.items():
        if isinstance(param, CategoricalParam):
            values[name] = list(param.choices)
        elif isinstance(param, IntParam):
            values[name] = list(range(param.low, param.high + 1, param.step))
        elif param.step is not None:
            n = round((param.high - param.low) / param.step)
            values[name] = [param.low + i * param.step for i in range(n + 1)]
    return values


def _constraints_func(spec: SweepSpec) -> Callable[[optuna.trial.FrozenTrial], list[float]]:
    """Optuna's convention: each value <= 0 means the constraint holds."""
    n_bounds = sum((c.max is not None) + (c.min is not None) for c in spec.constraints)

    def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
        return records.stored_constraint_values(trial, n_bounds)

    return constraints
