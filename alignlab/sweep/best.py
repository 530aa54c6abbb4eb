"""The best trial of a study, by a stated rule, and what is done with it: shown, compared (exported: export.py).

:func:`select_best` reads the study's records (alignlab.sweep.records), so the runner, ``alignlab best``,
``sweep status`` and the quick start choose the same trial. Its values come with their standard errors and
the trials within noise of it (alignlab.sweep.noise); a warm-start prior (alignlab.sweep.warm_start) is never
chosen; once ``best --confirm`` has re-evaluated the top
trials (alignlab.sweep.confirm) and no trial has completed since, the confirmed choice is the best.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alignlab.errors import UserInputError
from alignlab.sweep.catalog import list_studies, open_study
from alignlab.sweep.records import (
    StudyRecord,
    TrialRecord,
    constraint_values,
    finished_count,
    is_discarded,
    stored_confirmation,
    trial_records,
)
from alignlab.sweep.spec import Objective
from alignlab.sweep.warm_start import is_prior, own_trials, prior_sources


@dataclass
class BestTrial:
    """The chosen trial and the rule that chose it."""

    number: int
    params: dict[str, Any]
    values: list[float]
    metrics: dict[str, float]
    rule: str
    """How it was chosen, in words (objective, constraints, Pareto front)."""
    run_config: dict[str, Any]
    mlflow_run_id: str | None
    output_dir: str | None
    enqueued: bool
    objectives: list[str] = field(default_factory=list)
    """The metric of each value, in order."""
    standard_errors: list[float | None] = field(default_factory=list)
    """One per objective: the bootstrap standard error of the value over its evaluation units (None when
    the study kept no units)."""
    intervals: list[list[float] | None] = field(default_factory=list)
    """One per objective: its 95% bootstrap interval ``[low, high]``."""
    within_noise: list[int] = field(default_factory=list)
    """Other trials whose first objective is within noise of this one's (alignlab.sweep.noise)."""
    noise: str | None = None
    """In words: which leading trials are within noise of each other, or why no standard error is known."""
    metric_errors: dict[str, float] = field(default_factory=dict)
    """The standard error of every metric the study kept evaluation units for (objectives and
    constraint metrics such as kl)."""
    confirmed: dict[str, Any] | None = None
    """Its ``best --confirm`` re-evaluation (metric, value, se, interval, prompts, seeds), when current."""
    trust: list[str] = field(default_factory=list)
    """How far to trust the winner, in words: the judge's accuracy on pairs it never trained on, and on the
    built-in task how well this study's objective ranked its trials against the gold win rate."""


def pareto_front(trials: Sequence[TrialRecord], objectives: Sequence[Objective]) -> list[TrialRecord]:
    """The trials no other trial dominates (at least as good on every objective, better on one)."""

    def signed(t: TrialRecord) -> list[float]:
        return [
            (1.0 if o.maximize else -1.0) * float(v) for o, v in zip(objectives, t.values or [], strict=False)
        ]

    points = [signed(t) for t in trials]
    return [
        t
        for t, p in zip(trials, points, strict=True)
        if not any(all(a >= b for a, b in zip(q, p, strict=True)) and q != p for q in points)
    ]


def select_best(record: StudyRecord, trials: Sequence[TrialRecord] | None = None) -> BestTrial | None:
    """The best complete trial, by a stated rule; None when no trial completed.

    The pool is the trials that meet every constraint (all complete trials if none does). Single
    objective: the best value in the pool. Several objectives: the Pareto front of the pool, then on
    it the best first objective.
    """
    trials = own_trials(record, list(trial_records(record) if trials is None else trials))  # never a prior
    complete = [t for t in trials if t.state == "COMPLETE" and t.values]
    if not complete:
        return None
    first = record.objectives[0]
    rule = f"{'highest' if first.maximize else 'lowest'} {first.metric}"
    if record.multi_objective:
        rule += " on the Pareto front of " + " / ".join(
            f"{o.metric} ({o.direction})" for o in record.objectives
        )
    pool, rule = ranked_pool(record, complete, rule)
    best = pool[0]
    confirmation = current_confirmation(record, complete)
    chosen = None
    if confirmation is not None:
        chosen = next((t for t in complete if t.number == confirmation["chosen"]), None)
    found = _with_noise(record, chosen or best, [t for t in pool if t is not (chosen or best)], rule)
    if confirmation is not None and chosen is not None:  # chosen by the re-evaluation: its noise, too
        found.rule = f"{rule}; then {confirmation['rule']}"
        found.confirmed = (confirmation.get("results") or {}).get(str(chosen.number))
        found.within_noise = [int(n) for n in confirmation.get("within_noise") or []]
        found.noise = f"confirmed: {confirmation['noise']}" if confirmation.get("noise") else found.noise
    found.trust = trust_lines(record, complete)
    return found


def trust_lines(record: StudyRecord, complete: Sequence[TrialRecord]) -> list[str]:
    """How far to trust a study's winner (:attr:`BestTrial.trust`)."""
    from alignlab.sweep.fidelity import GOLD_METRIC, objective_agreement

    lines = []
    if record.judge is not None and record.judge.get("accuracy") is not None:
        lines.append(
            f"judge {record.judge.get('source')}: ranks {float(record.judge['accuracy']):.1%} of the held-out "
            "pairs right (pairs it never trained on)"
        )
    agreement = objective_agreement(record, complete)
    if agreement is not None:
        lines.append(
            f"{agreement.metric} ranked this study's {agreement.n_trials} completed trials with Kendall tau "
            f"{agreement.tau:.2f} against the gold {GOLD_METRIC}; its top trial is {agreement.regret:.3f} below "
            "the gold-best"
        )
    return lines


def ranked_pool(
    record: StudyRecord, complete: Sequence[TrialRecord], rule: str = ""
) -> tuple[list[TrialRecord], str]:
    """The trials the best is chosen from, best first by the first objective, and the rule extended.

    The pool is the trials that meet every constraint (all complete trials if none does); with several
    objectives, the Pareto front of that.
    """
    pool = own_trials(record, list(complete))  # a warm-start prior is never chosen (alignlab.sweep.warm_start)
    if record.constraints:
        feasible = [
            t for t in complete if all(v <= 0 for v in constraint_values(record.constraints, t.metrics))
        ]
        bounds = ", ".join(c.describe() for c in record.constraints)
        if feasible:
            pool, rule = feasible, rule + f" among trials with {bounds}"
        else:
            rule += f" (no trial met {bounds}; all were considered)"
    if record.multi_objective:
        pool = pareto_front(pool, record.objectives)
    sign = 1.0 if record.objectives[0].maximize else -1.0
    return sorted(pool, key=lambda t: -sign * (t.values or [0.0])[0]), rule


def current_confirmation(record: StudyRecord, complete: Sequence[TrialRecord]) -> dict[str, Any] | None:
    """The study's ``best --confirm`` record while it still applies: same first objective, and no trial
    completed since (a resumed sweep makes it stale)."""
    stored = stored_confirmation(record.study) if record.study is not None else None
    if stored is None or not record.objectives or stored.get("metric") != record.objectives[0].metric:
        return None
    priors = prior_sources(record)  # confirm counted the complete priors too
    n_complete = len([t for t in complete if t.number not in priors]) + len(priors)
    return stored if stored.get("n_complete") == n_complete else None


def _with_noise(record: StudyRecord, best: TrialRecord, others: Sequence[TrialRecord], rule: str) -> BestTrial:
    from alignlab.sweep.noise import NO_UNITS, leading_trials, trial_estimate

    estimates = [trial_estimate(best, o.metric) for o in record.objectives]
    per_metric = {m: trial_estimate(best, m) for m in best.units}
    first = record.objectives[0]
    leaders = leading_trials([best, *others], first.metric, maximize=first.maximize)
    return BestTrial(
        number=best.number,
        params=dict(best.all_params),
        values=list(best.values or []),
        metrics=dict(best.metrics),
        rule=rule,
        run_config=dict(best.run_config),
        mlflow_run_id=best.mlflow_run_id,
        output_dir=best.adapter_path,
        enqueued=best.enqueued,
        objectives=[o.metric for o in record.objectives],
        standard_errors=[e.se if e is not None and e.defined else None for e in estimates],
        intervals=[[e.low, e.high] if e is not None and e.defined else None for e in estimates],
        within_noise=[int(n) for n, _ in leaders.within] if leaders is not None else [],
        noise=leaders.describe() if leaders is not None else NO_UNITS,
        metric_errors={m: e.se for m, e in per_metric.items() if e is not None and e.defined},
    )


def enqueued_baseline(trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """The first complete trial that was enqueued (a literature default), if any."""
    return next((t for t in trials if t.state == "COMPLETE" and t.enqueued), None)


def study_status(record: StudyRecord) -> dict[str, Any]:
    """Progress of a study: the budget, finished trials, trials by state (warm-start priors as ``PRIOR``),
    the best trial and its values."""
    states = Counter(
        "PRIOR" if is_prior(t) else t.state.name for t in record.study.get_trials(deepcopy=False) if not is_discarded(t)
    )
    best = select_best(record)
    return {
        "n_trials": record.n_trials,
        "finished": finished_count(record.study),
        "states": dict(states),
        "best_trial": best.number if best else None,
        "best_values": best.values if best else None,
        "best_standard_errors": best.standard_errors if best else None,
        "objectives": [o.metric for o in record.objectives],
    }


def study_summaries() -> list[dict[str, Any]]:
    """Every study under studies/: name, algorithms, and its :func:`study_status`; one that does not open
    (a corrupt or foreign storage, a server that does not answer) is ``{"name", "problems"}``."""
    rows: list[dict[str, Any]] = []
    for name in list_studies():
        try:
            record = open_study(name)
        except UserInputError as exc:
            rows.append({"name": name, "problems": exc.problems})
            continue
        rows.append({"name": name, "algorithms": record.algorithms, **study_status(record)})
    return rows
