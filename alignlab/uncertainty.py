"""How much of a difference between trials is noise: bootstrap standard errors, intervals, paired differences.

Every held-out metric alignlab reports is the mean of per-unit values (alignlab.run.evaluation): one value
per held-out prompt for the sampled metrics (win rate, gold reward, KL, ...), one per held-out pair for
preference accuracy and reward margin. The noise in a metric is the draw of those units, so its standard
error is the bootstrap over units: resample the units with replacement, take the mean, and read the spread
of the means (seeded, so the same units give the same answer). Two trials evaluated on the same prompts in
the same order are compared *paired*: each resample draws the same unit indices for both, so the variance
the prompts share (an easy prompt is easy for every trial) cancels out of the difference. Trials evaluated
on different units (another study's prompts) fall back to independent resamples.

Pure numpy and the standard library: no torch, no Optuna. The records that carry the units are
alignlab.sweep.records; the views that show the numbers are alignlab.sweep.best, results.compare,
results.report and the quick start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

#: Bootstrap resamples: the Monte Carlo error of a standard error from B resamples is about 1/sqrt(2B)
#: of it (1.6% at 2000), well under the differences it is used to judge.
N_RESAMPLES = 2000
#: Coverage of the intervals shown everywhere.
LEVEL = 0.95
#: The seed of the resampling, fixed so a study reads the same every time.
SEED = 0

Method = Literal["percentile", "normal"]


@dataclass(frozen=True)
class Estimate:
    """A metric's mean over its units, with its bootstrap standard error and interval."""

    value: float
    """The mean of the units."""
    se: float
    """Bootstrap standard error of the mean (NaN with fewer than 2 units)."""
    low: float
    high: float
    """The ``level`` interval (percentile of the bootstrap means, or value +- z * se)."""
    n: int
    """How many units (prompts or pairs)."""
    level: float = LEVEL

    @property
    def defined(self) -> bool:
        return math.isfinite(self.se)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """The difference of two means, a - b, with its bootstrap standard error and interval."""

    value: float
    se: float
    low: float
    high: float
    paired: bool
    """True when both were resampled with the same unit indices (same prompts, same order)."""
    n_a: int
    n_b: int
    level: float = LEVEL

    @property
    def beyond_noise(self) -> bool:
        """Whether the interval of the difference leaves out zero."""
        return math.isfinite(self.se) and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "beyond_noise": self.beyond_noise}


def _units(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"units must be one value per unit (a flat sequence), but got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("units must be finite numbers, but some are NaN or infinite")
    return array


def _indices(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, n, size=(n_resamples, n))


def bootstrap_means(
    values: Sequence[float] | np.ndarray, *, n_resamples: int = N_RESAMPLES, seed: int = SEED
) -> np.ndarray:
    """The means of ``n_resamples`` resamples (with replacement) of ``values``."""
    units = _units(values)
    if units.size == 0:
        raise ValueError("bootstrap_means needs at least one unit, but got none")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, but got {n_resamples=}")
    rng = np.random.default_rng(seed)
    return units[_indices(units.size, n_resamples, rng)].mean(axis=1)


def _interval(center: float, se: float, draws: np.ndarray, level: float, method: Method) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), but got {level=}")
    if method == "normal":
        z = NormalDist().inv_cdf(0.5 + level / 2)
        return center - z * se, center + z * se
    if method == "percentile":
        tail = (1 - level) / 2
        low, high = np.quantile(draws, [tail, 1 - tail])
        return float(low), float(high)
    raise ValueError(f"method must be 'percentile' or 'normal', but got {method=}")


def estimate(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
    method: Method = "percentile",
) -> Estimate:
    """The mean of ``values`` with its bootstrap standard error and ``level`` interval."""
    units = _units(values)
    if units.size == 0:
        raise ValueError("estimate needs at least one unit, but got none")
    mean = float(units.mean())
    if units.size < 2:
        return Estimate(mean, math.nan, math.nan, math.nan, int(units.size), level)
    draws = bootstrap_means(units, n_resamples=n_resamples, seed=seed)
    se = float(draws.std(ddof=1))
    low, high = _interval(mean, se, draws, level, method)
    return Estimate(mean, se, low, high, int(units.size), level)


def standard_error(
    values: Sequence[float] | np.ndarray, *, n_resamples: int = N_RESAMPLES, seed: int = SEED
) -> float:
    """Bootstrap standard error of the mean of ``values`` (NaN with fewer than 2 units)."""
    return estimate(values, n_resamples=n_resamples, seed=seed).se


def difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    paired: bool,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
    method: Method = "percentile",
) -> Difference:
    """mean(a) - mean(b) with its bootstrap standard error and interval.

    ``paired``: unit i of ``a`` and unit i of ``b`` are the same prompt (or pair), so each resample
    draws the same indices for both; they must then have the same length. Unpaired, each side is
    resampled on its own.
    """
    ua, ub = _units(a), _units(b)
    if ua.size == 0 or ub.size == 0:
        raise ValueError(f"difference needs units on both sides, but got {ua.size} and {ub.size}")
    if paired and ua.size != ub.size:
        raise ValueError(f"a paired difference needs the same units on both sides, but got {ua.size} and {ub.size}")
    value = float(ua.mean() - ub.mean())
    if min(ua.size, ub.size) < 2:
        return Difference(value, math.nan, math.nan, math.nan, paired, int(ua.size), int(ub.size), level)
    rng = np.random.default_rng(seed)
    if paired:
        idx = _indices(ua.size, n_resamples, rng)
        draws = ua[idx].mean(axis=1) - ub[idx].mean(axis=1)
    else:
        draws = ua[_indices(ua.size, n_resamples, rng)].mean(axis=1) - ub[
            _indices(ub.size, n_resamples, rng)
        ].mean(axis=1)
    se = float(draws.std(ddof=1))
    low, high = _interval(value, se, draws, level, method)
    return Difference(value, se, low, high, paired, int(ua.size), int(ub.size), level)


def fmt_pm(value: float, se: float | None, *, digits: int = 3) -> str:
    """``0.589 ± 0.025`` (the value alone when there is no standard error)."""
    if se is None or not math.isfinite(se):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ± {se:.{digits}f}"


def describe_difference(diff: Difference, *, digits: int = 3, unit: str = "units") -> str:
    """``+0.081 ± 0.012 (95% interval +0.058 to +0.104, paired over 100 prompts)``; ``unit`` names them."""
    if not math.isfinite(diff.se):
        return f"{diff.value:+.{digits}f} (no interval: fewer than 2 units)"
    how = f"paired over {diff.n_a} {unit}" if diff.paired else f"unpaired, {diff.n_a} and {diff.n_b} {unit}"
    return (
        f"{diff.value:+.{digits}f} ± {diff.se:.{digits}f} ({diff.level:.0%} interval "
        f"{diff.low:+.{digits}f} to {diff.high:+.{digits}f}, {how})"
    )


def verdict(
    diff: Difference, a: str, b: str, *, maximize: bool = True, metric: str = "", unit: str = "units"
) -> str:
    """In words: ``A beats B beyond noise on M: A - B = d ± se (95% interval ...)`` or ``A and B are
    within noise on M: A - B = ...``.

    ``diff`` is a - b; ``maximize`` says which sign is better (for a metric to minimize, A beats B when
    the difference is below zero). The difference shown is the winner's minus the loser's.
    """
    on = f" on {metric}" if metric else ""
    if not diff.beyond_noise:
        return f"{a} and {b} are within noise{on}: {a} - {b} = {describe_difference(diff, unit=unit)}"
    if (diff.value > 0) == maximize:
        return f"{a} beats {b} beyond noise{on}: {a} - {b} = {describe_difference(diff, unit=unit)}"
    flipped = Difference(-diff.value, diff.se, -diff.high, -diff.low, diff.paired, diff.n_b, diff.n_a, diff.level)
    return f"{b} beats {a} beyond noise{on}: {b} - {a} = {describe_difference(flipped, unit=unit)}"
