"""The noise in a study's numbers: a trial's metric with its standard error, the difference of two trials,
and which leading trials are within noise of each other.

The statistics are alignlab.uncertainty (bootstrap over the evaluation units); the units are
what alignlab.sweep.records keeps per trial (:class:`~alignlab.sweep.records.EvalUnits`). Two trials whose
units have the same key (the same held-out prompts in the same order) are compared paired, others
unpaired. A study made before alignlab kept units has none: its values have no standard error
(:data:`NO_UNITS`), and the views say so once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alignlab.sweep.records import EvalUnits, TrialRecord

if TYPE_CHECKING:
    from alignlab.uncertainty import Difference, Estimate

#: A trial as :class:`Leaders` names it: its number, or ``study/number`` across studies.
Label = int | str
#: How many trials after the leader are compared with it.
LOOK = 20
#: Said once where values are shown without a standard error because the study kept no units.
NO_UNITS = (
    "no standard errors: these trials store no per-prompt evaluation units (the study ran before alignlab "
    "kept them, or its trainer reports none)"
)


def unit_name(units: EvalUnits | None) -> str:
    """What the units are: ``prompts`` (sampled metrics) or ``pairs`` (preference accuracy, reward margin)."""
    if units is None:
        return "units"
    kind = units.key.partition(":")[0]
    return kind if kind in ("prompts", "pairs") else "units"


def estimate_of(units: EvalUnits | None) -> Estimate | None:
    """The bootstrap estimate of the mean of ``units`` (None without units)."""
    if units is None or not units.values:
        return None
    from alignlab.uncertainty import estimate

    return estimate(units.values)


def trial_estimate(trial: TrialRecord, metric: str) -> Estimate | None:
    """A trial's ``metric`` with its bootstrap standard error, from its stored units (None without)."""
    return estimate_of(trial.units.get(metric))


def difference_of(a: EvalUnits | None, b: EvalUnits | None) -> Difference | None:
    """mean(a) - mean(b), paired when both have the same key and length; None when either is missing."""
    if a is None or b is None or not a.values or not b.values:
        return None
    from alignlab.uncertainty import difference

    paired = a.key == b.key and len(a.values) == len(b.values)
    return difference(a.values, b.values, paired=paired)


def trial_difference(a: TrialRecord, b: TrialRecord, metric: str) -> Difference | None:
    """Trial a's ``metric`` minus trial b's, bootstrapped over their units (paired when they share them)."""
    return difference_of(a.units.get(metric), b.units.get(metric))


@dataclass
class Leaders:
    """The leading trial on a metric and the trials within noise of it."""

    metric: str
    maximize: bool
    leader: Label
    within: list[tuple[Label, Difference]] = field(default_factory=list)
    """Trials whose difference to the leader (leader minus them) has an interval that holds zero."""
    next_beyond: tuple[Label, Difference] | None = None
    """When none is within noise: the best of the others, and how far behind it is."""
    unmeasured: list[Label] = field(default_factory=list)
    """Trials compared that have no units for the metric (no standard error)."""
    unit: str = "units"

    @property
    def numbers(self) -> list[Label]:
        """The leader and the trials within noise of it, best first."""
        return [self.leader, *(n for n, _ in self.within)]

    def describe(self) -> str:
        """One line: which trials are within noise of the leader, or by how much it leads."""
        from alignlab.uncertainty import describe_difference

        if self.within:
            shown = self.within[:5]
            more = f" and {len(self.within) - 5} more" if len(self.within) > 5 else ""
            gaps = "; ".join(f"trial {n} {_gap(d)}" for n, d in shown)
            named = [str(n) for n in self.numbers[:6]]
            listed = ", ".join(named[:-1]) + (" and " if not more else ", ") + named[-1]
            line = (
                f"trials {listed}{more} are within noise of each other "
                f"on {self.metric}: the evaluation cannot tell them apart (each minus trial {self.leader}: {gaps})"
            )
        elif self.next_beyond is not None:
            n, d = self.next_beyond
            line = (
                f"trial {self.leader} leads beyond noise on {self.metric}: the next, trial {n}, is behind by "
                f"{describe_difference(d, unit=self.unit)}"
            )
        else:
            line = f"trial {self.leader} is the only trial with a standard error on {self.metric}"
        if self.unmeasured:
            listed = ", ".join(map(str, self.unmeasured[:5])) + (" ..." if len(self.unmeasured) > 5 else "")
            line += f" (trials {listed} store no units: not compared)"
        return line


def _gap(diff: Difference) -> str:
    """A trial minus the leader (``diff`` is leader minus the trial)."""
    return f"{-diff.value:+.3f} ± {diff.se:.3f}"


def leaders_of(
    entries: Sequence[tuple[Label, EvalUnits | None]], metric: str, *, maximize: bool, look: int = LOOK
) -> Leaders | None:
    """Which of ``entries`` (trial number, or another label, and its units; best first) are within noise
    of the first.

    Each of the next ``look`` is compared with the leader (leader minus it, with its interval): within
    noise when the interval holds zero. None when the leader has no units.
    """
    if not entries or entries[0][1] is None:
        return None
    number, units = entries[0]
    found = Leaders(metric=metric, maximize=maximize, leader=number, unit=unit_name(units))
    best_beyond: tuple[Label, Difference] | None = None
    for other, other_units in entries[1 : look + 1]:
        diff = difference_of(units, other_units)
        if diff is None:
            found.unmeasured.append(other)
        elif not diff.beyond_noise:
            found.within.append((other, diff))
        elif best_beyond is None:
            best_beyond = (other, diff)
    if not found.within:
        found.next_beyond = best_beyond
    return found


def leading_trials(
    trials: Sequence[TrialRecord], metric: str, *, maximize: bool, look: int = LOOK
) -> Leaders | None:
    """:func:`leaders_of` over trial records (best first)."""
    return leaders_of([(t.number, t.units.get(metric)) for t in trials], metric, maximize=maximize, look=look)


@dataclass
class Versus:
    """One trial against another (the best against the literature default) on one metric."""

    metric: str
    trial: int
    other: int
    value: float | None
    other_value: float | None
    se: float | None
    other_se: float | None
    difference: Difference | None
    """trial minus other, paired when they share their units; None without units."""
    verdict: str
    """In words, with the difference and its interval."""


def versus(
    trial: TrialRecord, other: TrialRecord, metric: str, *, maximize: bool, names: tuple[str, str] | None = None
) -> Versus:
    """``trial`` against ``other`` on ``metric``: both values with their standard errors, and whether
    the difference is beyond noise. ``names`` label them in the verdict (default ``trial N``)."""
    from alignlab.uncertainty import verdict

    a, b = names or (f"trial {trial.number}", f"trial {other.number}")
    ea, eb = trial_estimate(trial, metric), trial_estimate(other, metric)
    diff = trial_difference(trial, other, metric)
    if diff is None:
        gap = (_value(trial, metric, ea) or 0.0) - (_value(other, metric, eb) or 0.0)
        said = f"{a} - {b} = {gap:+.3f} on {metric}, noise unknown ({NO_UNITS})"
    else:
        said = verdict(diff, a, b, maximize=maximize, metric=metric, unit=unit_name(trial.units.get(metric)))
    return Versus(
        metric=metric,
        trial=trial.number,
        other=other.number,
        value=_value(trial, metric, ea),
        other_value=_value(other, metric, eb),
        se=ea.se if ea is not None and ea.defined else None,
        other_se=eb.se if eb is not None and eb.defined else None,
        difference=diff,
        verdict=said,
    )


def _value(trial: TrialRecord, metric: str, est: Estimate | None) -> float | None:
    """The trial's final metric as stored, else the mean of its units."""
    value = trial.metrics.get(metric)
    return value if value is not None else (est.value if est is not None else None)
