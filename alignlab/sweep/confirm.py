"""``alignlab best NAME --confirm K``: the top K trials re-evaluated on more prompts and seeds, and the best
picked by the confirmed value.

A sweep ranks its trials on a quick evaluation (a sample of the held-out prompts, one sampling seed), so
its top trials are often within noise of each other (alignlab.sweep.noise). :func:`confirm_top` takes
the top K of the pool the best is chosen from (alignlab.sweep.best.ranked_pool: constraints, Pareto
front), re-evaluates each from its saved adapter (alignlab.run.reevaluate: every held-out prompt by
default, several seeds), and picks the best confirmed first objective among those that still meet the
constraints. The result is recorded on the study (alignlab.sweep.records: ``StudyAttr.CONFIRMATION``,
read back by select_best while no trial completes after it) and on each trial's MLflow run
(alignlab.run.tracking.log_confirmed).

``confirm_top(..., reevaluate=...)`` takes any function from a trial and the settings to an EvalReport,
which is how the selection logic is tested without training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.sweep.records import EvalUnits, StudyRecord, TrialRecord, constraint_values, trial_records

if TYPE_CHECKING:
    from alignlab.run.eval_units import EvalReport

#: Seeds of the confirming evaluations: distinct from the sweep's evaluation seed (EvalSettings.seed).
FIRST_SEED = 10_000


def confirm_seeds(n: int) -> tuple[int, ...]:
    """The ``n`` sampling seeds ``--confirm`` uses."""
    if n < 1:
        raise ValueError(f"need at least one seed, but got {n=}")
    return tuple(FIRST_SEED + i for i in range(n))


@dataclass(frozen=True)
class ConfirmSettings:
    """How the top trials are re-evaluated."""

    n_prompts: int | None = None
    """Held-out prompts to sample on; None: all of them."""
    seeds: tuple[int, ...] = field(default_factory=lambda: confirm_seeds(3))
    samples_per_prompt: int | None = None
    """Samples per prompt and seed; None: each trial's own."""


#: Re-evaluates one trial: (trial, settings) -> its report (metrics and per-prompt units).
Reevaluate = Callable[[TrialRecord, ConfirmSettings], "EvalReport"]


@dataclass
class ConfirmedTrial:
    number: int
    params: dict[str, Any]
    sweep_value: float | None
    """The first objective as the sweep measured it."""
    sweep_se: float | None
    value: float | None
    """The first objective re-evaluated."""
    se: float | None
    interval: list[float] | None
    n_units: int
    metrics: dict[str, float]
    """Every re-evaluated metric."""
    feasible: bool
    """Whether the re-evaluated metrics meet the study's constraints."""
    mlflow_run_id: str | None


@dataclass
class Confirmation:
    """The outcome of :func:`confirm_top`."""

    study: str
    metric: str
    direction: str
    trials: list[ConfirmedTrial]
    """Best confirmed first (feasible trials before infeasible ones)."""
    chosen: int
    sweep_best: int
    """The trial the sweep's own values chose."""
    settings: ConfirmSettings
    rule: str
    noise: str | None
    """Which confirmed trials are still within noise of the chosen one, in words."""
    within_noise: list[int] = field(default_factory=list)
    """Those trials."""
    mlflow_logged: list[int] = field(default_factory=list)
    """Trials whose MLflow run got the confirmed metrics."""


def adapter_problems(trials: Sequence[TrialRecord]) -> list[str]:
    """One line per trial that cannot be re-evaluated: no run config, or no saved adapter folder."""
    problems = []
    for t in trials:
        if not t.run_config:
            problems.append(f"trial {t.number}: the study recorded no run config, so it cannot be re-evaluated")
        elif not t.adapter_path:
            problems.append(f"trial {t.number}: the study recorded no adapter folder")
        elif not Path(t.adapter_path).is_dir():
            problems.append(
                f"trial {t.number}: its adapter folder {t.adapter_path} is missing (moved or deleted); "
                "--confirm re-evaluates the saved adapters"
            )
    return problems


def confirm_top(
    record: StudyRecord,
    k: int,
    *,
    settings: ConfirmSettings | None = None,
    reevaluate: Reevaluate | None = None,
    on_trial: Callable[[int, int, int], None] | None = None,
) -> Confirmation:
    """Re-evaluate the top ``k`` trials and pick by the confirmed value; see the module docstring.

    ``on_trial(i, k, number)`` is called before each re-evaluation (a progress display). Raises
    UserInputError when no trial completed, or listing every top trial whose adapter is missing.
    """
    from alignlab.sweep.best import ranked_pool

    if k < 1:
        raise UserInputError(f"--confirm must be >= 1, but got {k}")
    settings = settings or ConfirmSettings()
    trials = trial_records(record)
    complete = [t for t in trials if t.state == "COMPLETE" and t.values]
    if not complete:
        raise UserInputError(f"study {record.name!r}: no trial has completed yet")
    pool, _ = ranked_pool(record, complete)
    top = pool[:k]
    problems = adapter_problems(top)
    if problems:
        raise UserInputError(problems)
    run = reevaluate or saved_reevaluator()
    first = record.objectives[0]
    confirmed: list[ConfirmedTrial] = []
    units: dict[int, EvalUnits | None] = {}
    for i, trial in enumerate(top):
        if on_trial is not None:
            on_trial(i, len(top), trial.number)
        report = run(trial, settings)
        raw = report.units.get(first.metric)
        units[trial.number] = EvalUnits(str(raw["key"]), list(raw["values"])) if raw else None
        confirmed.append(_confirmed(record, trial, report, units[trial.number]))
    sign = 1.0 if first.maximize else -1.0
    confirmed.sort(key=lambda c: (not c.feasible, c.value is None, -sign * (c.value or 0.0)))
    chosen = confirmed[0]
    from alignlab.sweep.noise import leaders_of, unit_name

    leaders = leaders_of([(c.number, units[c.number]) for c in confirmed], first.metric, maximize=first.maximize)
    seeds = len(settings.seeds)
    rule = (
        f"{'highest' if first.maximize else 'lowest'} {first.metric} re-evaluated on {chosen.n_units} "
        f"{unit_name(units[chosen.number])} x {seeds} seed{'s' if seeds > 1 else ''} among the top {len(top)}"
    )
    outcome = Confirmation(
        study=record.name,
        metric=first.metric,
        direction=first.direction,
        trials=confirmed,
        chosen=chosen.number,
        sweep_best=pool[0].number,
        settings=settings,
        rule=rule,
        noise=leaders.describe() if leaders is not None else None,
        within_noise=[int(n) for n, _ in leaders.within] if leaders is not None else [],
    )
    _record(record, outcome, n_complete=len(complete))
    return outcome


def _confirmed(
    record: StudyRecord, trial: TrialRecord, report: EvalReport, units: EvalUnits | None
) -> ConfirmedTrial:
    from alignlab.sweep.noise import estimate_of, trial_estimate

    first = record.objectives[0]
    est, swept = estimate_of(units), trial_estimate(trial, first.metric)
    holds = all(v <= 0 for v in constraint_values(record.constraints, report.metrics))
    return ConfirmedTrial(
        number=trial.number,
        params=dict(trial.params),
        sweep_value=trial.metric(first.metric, record.objectives),
        sweep_se=swept.se if swept is not None and swept.defined else None,
        value=report.metrics.get(first.metric),
        se=est.se if est is not None and est.defined else None,
        interval=[est.low, est.high] if est is not None and est.defined else None,
        n_units=len(units.values) if units is not None else 0,
        metrics=dict(report.metrics),
        feasible=holds,
        mlflow_run_id=trial.mlflow_run_id,
    )


def _record(record: StudyRecord, outcome: Confirmation, *, n_complete: int) -> None:
    """On the study (what select_best reads back) and on each confirmed trial's MLflow run."""
    from alignlab.run import tracking
    from alignlab.sweep.records import write_confirmation

    s = outcome.settings
    results = {
        str(c.number): {
            "metric": outcome.metric,
            "value": c.value,
            "se": c.se,
            "interval": c.interval,
            "n_prompts": c.n_units,
            "seeds": list(s.seeds),
            "feasible": c.feasible,
            "metrics": c.metrics,
        }
        for c in outcome.trials
    }
    write_confirmation(
        record.study,
        {
            "metric": outcome.metric,
            "chosen": outcome.chosen,
            "sweep_best": outcome.sweep_best,
            "trials": [c.number for c in outcome.trials],
            "n_complete": n_complete,
            "rule": outcome.rule,
            "settings": asdict(s),
            "noise": outcome.noise,
            "within_noise": outcome.within_noise,
            "results": results,
        },
    )
    if not tracking.store_exists(record.tracking_uri):
        return
    for c in outcome.trials:
        if c.mlflow_run_id is None:
            continue
        metrics = dict(c.metrics)
        if c.se is not None:
            metrics[f"{outcome.metric}_se"] = c.se
        tags = {"chosen": c.number == outcome.chosen, "prompts": c.n_units, "seeds": ",".join(map(str, s.seeds))}
        tracking.log_confirmed(record.tracking_uri, c.mlflow_run_id, metrics, tags)
        outcome.mlflow_logged.append(c.number)


def saved_reevaluator() -> Reevaluate:
    """The real re-evaluation: each trial's saved adapter through alignlab.run.reevaluate (imports torch)."""
    memo: dict[str, Any] = {}

    def run(trial: TrialRecord, settings: ConfirmSettings) -> EvalReport:
        from alignlab.run.config import RunConfig
        from alignlab.run.reevaluate import reevaluate

        config = RunConfig.model_validate(trial.run_config)
        return reevaluate(
            config,
            str(trial.adapter_path),
            n_prompts=settings.n_prompts,
            seeds=settings.seeds,
            samples_per_prompt=settings.samples_per_prompt,
            memo=memo,
        )

    return run
