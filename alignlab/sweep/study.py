"""Sweeps as Optuna studies: a sweep file in, trials run and recorded, the best configuration out.

- One Optuna study per sweep, in ``spec.storage`` (any Optuna RDB URL; default SQLite under
  studies/<name>/), so several workers can share it.
- Each trial builds a :class:`~alignlab.run.config.RunConfig` from the fixed settings and the sampled
  params (named after the TRL field they set) and calls :func:`alignlab.run.training.run_training`.
- Intermediate evaluations feed the pruner; a failed run (OOM, NaN, diverged KL) is recorded with its
  reason (``fail_reason``) and the study goes on.
- Resume: running the same sweep again continues the study. Trials run with a heartbeat: a trial
  whose process was killed is marked FAIL once its heartbeat is stale and retried with the same
  params. The budget counts finished trials (complete, pruned, or failed with a reason), so no trial
  is counted twice.
- MLflow: one experiment per study with one parent run; each trial is a nested child run tagged with
  its number and state. The parent carries the study settings, and the best trial's params (as tags
  ``best.<param>``: params are immutable in MLflow and the best may change on resume) and metrics
  (``best/<metric>``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from alignlab.errors import UserInputError
from alignlab.paths import default_storage_url, study_dir, write_atomic
from alignlab.run import tracking
from alignlab.run.config import LORA_FIELDS, RunConfig, known_param_names
from alignlab.sweep.spec import CategoricalParam, FloatParam, IntParam, SweepSpec, load_sweep, parse_sweep

if TYPE_CHECKING:
    import optuna

    from alignlab.run.training import RunResult

#: Heartbeat of running trials: a trial silent for GRACE_PERIOD_S is taken as dead, failed and retried.
HEARTBEAT_INTERVAL_S = 5
GRACE_PERIOD_S = 20


@dataclass
class SweepEvent:
    """Progress of a sweep, for a live display."""

    kind: str
    """``trial_started`` | ``step`` | ``trial_finished``."""
    trial_number: int
    finished: int
    """Trials finished so far (the budget's count)."""
    n_trials: int
    params: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    max_steps: int = 0
    result: RunResult | None = None
    best_value: float | None = None


@dataclass
class SweepOutcome:
    name: str
    storage: str
    n_finished: int
    best: BestTrial | None
    mlflow_parent_run_id: str
    tracking_uri: str


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


class TrialFailed(Exception):
    """A trial's run failed (OOM, NaN loss, diverged KL); caught by Optuna, recorded FAIL with its reason."""


def finished_count(study: optuna.Study) -> int:
    """Trials that count against the budget: complete, pruned, or failed with a reason of their own.

    A trial failed only because its process died (stale heartbeat) does not count: it is retried.
    """
    from optuna.trial import TrialState

    count = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
            t.state == TrialState.FAIL and "fail_reason" in t.user_attrs
        ):
            count += 1
    return count


def open_study(spec: SweepSpec, *, storage: str | None = None) -> optuna.Study:
    """Create or load the study of a sweep (same name, same storage: it resumes)."""
    import optuna
    from optuna.storages import RDBStorage, RetryFailedTrialCallback

    url = storage or spec.storage or default_storage_url(spec.name)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    rdb = RDBStorage(
        url,
        heartbeat_interval=HEARTBEAT_INTERVAL_S,
        grace_period=GRACE_PERIOD_S,
        failed_trial_callback=RetryFailedTrialCallback(max_retry=2),
    )
    directions = [o.direction for o in spec.objectives]
    return optuna.create_study(
        study_name=spec.name,
        storage=rdb,
        directions=directions,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
        load_if_exists=True,
    )


def make_sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    import optuna.samplers as s

    settings = spec.sampler
    startup: dict[str, Any] = (
        {} if settings.n_startup_trials is None else {"n_startup_trials": settings.n_startup_trials}
    )
    constraints = _constraints_func(spec) if spec.constraints else None
    if settings.type == "tpe":
        return s.TPESampler(seed=spec.seed, constraints_func=constraints, **startup)
    if settings.type == "random":
        return s.RandomSampler(seed=spec.seed)
    if settings.type == "grid":
        return s.GridSampler(_grid(spec), seed=spec.seed)
    if settings.type == "cmaes":
        return s.CmaEsSampler(seed=spec.seed, **startup)
    if settings.type == "gp":
        return s.GPSampler(seed=spec.seed, constraints_func=constraints, **startup)
    return s.NSGAIISampler(seed=spec.seed, constraints_func=constraints)


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


def _grid(spec: SweepSpec) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    if len(spec.algorithms) > 1:
        grid["algorithm"] = spec.algorithms
    for name, param in spec.search.items():
        if isinstance(param, CategoricalParam):
            grid[name] = list(param.choices)
        elif isinstance(param, IntParam):
            grid[name] = list(range(param.low, param.high + 1, param.step))
        elif param.step is not None:
            n = round((param.high - param.low) / param.step)
            grid[name] = [param.low + i * param.step for i in range(n + 1)]
    return grid


def _constraints_func(spec: SweepSpec) -> Callable[[optuna.trial.FrozenTrial], list[float]]:
    """Optuna's convention: each value <= 0 means the constraint holds."""

    def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
        return list(trial.user_attrs.get("constraint_values", [0.0] * _n_bounds(spec)))

    return constraints


def _n_bounds(spec: SweepSpec) -> int:
    return sum((c.max is not None) + (c.min is not None) for c in spec.constraints)


def constraint_values(spec: SweepSpec, metrics: dict[str, float]) -> list[float]:
    """One value per bound, <= 0 when it holds (a missing metric counts as violated)."""
    values = []
    for con in spec.constraints:
        value = metrics.get(con.metric)
        if con.max is not None:
            values.append(1.0 if value is None else value - con.max)
        if con.min is not None:
            values.append(1.0 if value is None else con.min - value)
    return values


def sample_params(trial: optuna.Trial, spec: SweepSpec) -> tuple[str, dict[str, Any]]:
    """The trial's algorithm and its sampled params (only those its algorithm has)."""
    algorithm = spec.algorithms[0]
    if len(spec.algorithms) > 1:
        algorithm = str(trial.suggest_categorical("algorithm", spec.algorithms))
    names = known_param_names(algorithm) | set(LORA_FIELDS)
    params: dict[str, Any] = {}
    for name, param in spec.search.items():
        if name not in names:
            continue
        if isinstance(param, FloatParam):
            params[name] = trial.suggest_float(name, param.low, param.high, log=param.log, step=param.step)
        elif isinstance(param, IntParam):
            params[name] = trial.suggest_int(name, param.low, param.high, log=param.log, step=param.step)
        else:
            params[name] = trial.suggest_categorical(name, param.choices)
    return algorithm, params


def trial_config(
    spec: SweepSpec, algorithm: str, sampled: dict[str, Any], number: int, *, tracking_uri: str
) -> RunConfig:
    """The run config of one trial: the sweep's fixed settings with the sampled params set."""
    params = dict(spec.fixed_for(algorithm))
    lora_updates: dict[str, Any] = {}
    for name, value in sampled.items():
        if name in LORA_FIELDS:
            lora_updates[name] = value
        elif algorithm == "dpo" and name == "loss_type" and isinstance(value, str):
            params[name] = [value]  # a list in trl 1.12
        else:
            params[name] = value
    cap = spec.budget.max_trial_steps
    if cap is not None:
        params["max_steps"] = (
            min(int(params.get("max_steps", cap)), cap) if int(params.get("max_steps", -1)) > 0 else cap
        )
    evaluation = spec.eval
    if (
        spec.pruner.type != "none"
        and evaluation.every_n_steps is None
        and int(params.get("max_steps", -1)) > 0
    ):
        evaluation = evaluation.model_copy(update={"every_n_steps": max(1, int(params["max_steps"]) // 4)})
    lora = spec.lora.model_copy(update=lora_updates) if spec.lora is not None else None
    return RunConfig(
        name=f"{algorithm}-trial-{number}",
        algorithm=algorithm,
        model=spec.model,
        reward_model=spec.reward_model,
        data=spec.data,
        params=params,
        lora=lora,
        eval=evaluation,
        seed=spec.seed,
        tracking_uri=tracking_uri,
        experiment=spec.name,
        output_dir=str(study_dir(spec.name) / "trials" / str(number)),
        cache_reference=spec.cache_reference,
    )


def run_sweep(
    spec: SweepSpec,
    *,
    n_trials: int | None = None,
    storage: str | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> SweepOutcome:
    """Run (or resume) a sweep until ``n_trials`` trials have finished, or the timeout passes."""
    import optuna

    from alignlab.run.training import quiet_libraries, run_training

    quiet_libraries()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget = n_trials or spec.budget.n_trials
    folder = study_dir(spec.name)
    folder.mkdir(parents=True, exist_ok=True)
    study = open_study(spec, storage=storage)
    _check_same_sweep(study, spec)
    uri = tracking.use_tracking_uri(spec.tracking_uri)
    write_atomic(
        folder / "sweep.yaml",
        yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False),
    )
    _enqueue_defaults(study, spec)
    reference_cache: dict[str, Any] = {}
    deadline = time.monotonic() + spec.budget.timeout_s if spec.budget.timeout_s else None
    primary = spec.objectives[0]

    def emit(event: SweepEvent) -> None:
        if on_event is not None:
            on_event(event)

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        algorithm, sampled = sample_params(trial, spec)
        config = trial_config(spec, algorithm, sampled, trial.number, tracking_uri=uri)
        trial.set_user_attr("algorithm", algorithm)
        trial.set_user_attr("run_config", config.model_dump(mode="json", exclude_none=True))
        done = finished_count(study)
        emit(SweepEvent("trial_started", trial.number, done, budget, params=dict(trial.params)))

        def on_evaluate(step: int, metrics: dict[str, float]) -> bool:
            value = metrics.get(primary.metric)
            if value is None or len(spec.objectives) > 1:
                return False
            trial.report(value, step)
            return trial.should_prune()

        def on_step(step: int, total: int) -> None:
            emit(
                SweepEvent(
                    "step", trial.number, done, budget, params=dict(trial.params), step=step, max_steps=total
                )
            )

        result = run_training(
            config,
            on_evaluate=on_evaluate,
            on_step=on_step,
            reference_cache=reference_cache,
            tags={
                f"{tracking.TAG_PREFIX}study": spec.name,
                f"{tracking.TAG_PREFIX}trial_number": str(trial.number),
                f"{tracking.TAG_PREFIX}enqueued": str(bool(trial.user_attrs.get("enqueued", False))),
            },
        )
        _record(trial, spec, result)
        emit(
            SweepEvent(
                "trial_finished",
                trial.number,
                done + 1,
                budget,
                params=dict(trial.params),
                result=result,
                best_value=_best_value(study),
            )
        )
        if result.status == "failed":
            raise TrialFailed(result.reason or "failed")
        if result.status == "pruned":
            raise optuna.TrialPruned(result.reason)
        missing = [o.metric for o in spec.objectives if o.metric not in result.metrics]
        if missing:
            trial.set_user_attr("fail_reason", f"the run reported no {', '.join(missing)}")
            _set_state_tag(result, "FAIL")
            raise TrialFailed(f"the run reported no {', '.join(missing)}")
        values = tuple(float(result.metrics[o.metric]) for o in spec.objectives)
        return values[0] if len(values) == 1 else values

    with _parent_run(study, spec, uri):
        while finished_count(study) < budget and (deadline is None or time.monotonic() < deadline):
            study.optimize(objective, n_trials=1, catch=(TrialFailed,))
        best = select_best(study, spec)
        if best is not None:
            _log_best(best)
        parent_id = str(study.user_attrs["mlflow_parent_run_id"])
    _fail_stale(study)
    return SweepOutcome(spec.name, _storage_url(study), finished_count(study), best, parent_id, uri)


def _record(trial: optuna.Trial, spec: SweepSpec, result: RunResult) -> None:
    """The trial's outcome as user attrs (read by compare/report) and its MLflow state tag."""
    trial.set_user_attr("mlflow_run_id", result.mlflow_run_id)
    trial.set_user_attr("metrics", result.metrics)
    trial.set_user_attr("steps", result.steps)
    trial.set_user_attr("runtime_s", round(result.runtime_s, 2))
    if result.output_dir:
        trial.set_user_attr("adapter_path", result.output_dir)
    if spec.constraints:
        trial.set_user_attr("constraint_values", constraint_values(spec, result.metrics))
    if result.status == "failed":
        trial.set_user_attr("fail_reason", result.reason or "failed")
    state = {"completed": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}[result.status]
    _set_state_tag(result, state)


def _set_state_tag(result: RunResult, state: str) -> None:
    if result.mlflow_run_id:
        tracking.set_run_tags(result.mlflow_run_id, {f"{tracking.TAG_PREFIX}trial_state": state})


def _best_value(study: optuna.Study) -> float | None:
    from optuna.trial import TrialState

    if len(study.directions) > 1:
        return None
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    if not done:
        return None
    pick = max if study.direction.name == "MAXIMIZE" else min
    return float(pick(t.value for t in done if t.value is not None))


def select_best(study: optuna.Study, spec: SweepSpec) -> BestTrial | None:
    """The best complete trial, by a stated rule.

    Single objective: the best value among trials that meet every constraint (all trials if none
    does). Several objectives: the Pareto front, then among its trials that meet the constraints the
    best first objective (the whole front if none does).
    """
    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    if not complete:
        return None
    first = spec.objectives[0]
    sign = 1.0 if first.direction == "maximize" else -1.0
    pool = complete
    rule = f"{'highest' if sign > 0 else 'lowest'} {first.metric}"
    if len(spec.objectives) > 1:
        front_numbers = {t.number for t in study.best_trials}
        pool = [t for t in complete if t.number in front_numbers]
        rule += " on the Pareto front of " + " / ".join(
            f"{o.metric} ({o.direction})" for o in spec.objectives
        )
    if spec.constraints:
        feasible = [
            t for t in pool if all(v <= 0 for v in constraint_values(spec, t.user_attrs.get("metrics", {})))
        ]
        bounds = ", ".join(
            " and ".join(
                p
                for p in (
                    f"{c.metric} <= {c.max}" if c.max is not None else "",
                    f"{c.metric} >= {c.min}" if c.min is not None else "",
                )
                if p
            )
            for c in spec.constraints
        )
        if feasible:
            pool, rule = feasible, rule + f" among trials with {bounds}"
        else:
            rule += f" (no trial met {bounds}; all were considered)"
    best = max(pool, key=lambda t: sign * t.values[0])
    return BestTrial(
        number=best.number,
        params=dict(best.params),
        values=list(best.values),
        metrics=dict(best.user_attrs.get("metrics", {})),
        rule=rule,
        run_config=dict(best.user_attrs.get("run_config", {})),
        mlflow_run_id=best.user_attrs.get("mlflow_run_id"),
        output_dir=best.user_attrs.get("adapter_path"),
        enqueued=bool(best.user_attrs.get("enqueued", False)),
    )


def enqueued_baseline(study: optuna.Study) -> Any:
    """The first complete trial that was enqueued (a literature default), if any."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get("enqueued"):
            return t
    return None


def export_best(
    best: BestTrial, path: str | Path, *, name: str, max_steps: int | None = None, full_data: bool = False
) -> RunConfig:
    """Write the best trial's run config so that ``alignlab train`` reproduces it (longer / on all data if asked)."""
    raw = dict(best.run_config)
    raw["name"] = name
    raw.pop("output_dir", None)
    raw.pop("experiment", None)
    if max_steps is not None:
        raw["params"] = {**raw.get("params", {}), "max_steps": max_steps}
    if full_data:
        raw["data"] = {k: v for k, v in raw.get("data", {}).items() if k != "max_examples"}
    config = RunConfig.model_validate(raw)
    write_atomic(Path(path), f"# Best trial {best.number}: {best.rule}\n" + config.to_yaml())
    return config


def load_study(name: str, *, storage: str | None = None) -> tuple[optuna.Study, SweepSpec]:
    """An existing study and the sweep it was run with (studies/<name>/sweep.yaml)."""
    import optuna

    folder = study_dir(name)
    spec_file = folder / "sweep.yaml"
    if not spec_file.is_file():
        known = (
            sorted(p.name for p in folder.parent.glob("*/sweep.yaml").__iter__())
            if folder.parent.exists()
            else []
        )
        names = (
            sorted(p.parent.name for p in folder.parent.glob("*/sweep.yaml"))
            if folder.parent.exists()
            else known
        )
        raise UserInputError(
            f"study {name!r}: not found under {folder.parent} (studies: {', '.join(names) or 'none'})"
        )
    spec = load_sweep(spec_file, check_trl=False)
    url = storage or spec.storage or default_storage_url(name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except KeyError:
        raise UserInputError(f"study {name!r}: not in storage {url}") from None
    return study, spec


def list_studies() -> list[dict[str, Any]]:
    """Every study under studies/: name, algorithms, trials by state, best value."""
    from alignlab.paths import studies_root

    rows = []
    root = studies_root()
    for spec_file in sorted(root.glob("*/sweep.yaml")) if root.exists() else []:
        name = spec_file.parent.name
        try:
            study, spec = load_study(name)
        except UserInputError:
            continue
        rows.append({"name": name, "algorithms": spec.algorithms, **study_status(study, spec)})
    return rows


def study_status(study: optuna.Study, spec: SweepSpec) -> dict[str, Any]:
    from collections import Counter

    states = Counter(t.state.name for t in study.get_trials(deepcopy=False))
    best = select_best(study, spec)
    return {
        "n_trials": spec.budget.n_trials,
        "finished": finished_count(study),
        "states": dict(states),
        "best_trial": best.number if best else None,
        "best_values": best.values if best else None,
        "objectives": [o.metric for o in spec.objectives],
    }


def _enqueue_defaults(study: optuna.Study, spec: SweepSpec) -> None:
    """Enqueue the literature defaults once, when the study is new."""
    if study.user_attrs.get("defaults_enqueued"):
        return
    for params in spec.enqueue:
        algorithms = [params["algorithm"]] if "algorithm" in params else spec.algorithms
        for algorithm in algorithms:
            names = known_param_names(str(algorithm)) | set(LORA_FIELDS)
            fixed = {k: v for k, v in params.items() if k in names}
            if len(spec.algorithms) > 1:
                fixed["algorithm"] = algorithm
            study.enqueue_trial(fixed, user_attrs={"enqueued": True}, skip_if_exists=True)
    study.set_user_attr("defaults_enqueued", True)


def _check_same_sweep(study: optuna.Study, spec: SweepSpec) -> None:
    """Resuming with a different search space or objectives would mix incomparable trials."""
    stored = study.user_attrs.get("spec")
    current = spec.model_dump(mode="json")
    if stored is None:
        study.set_user_attr("spec", current)
        study.set_user_attr("objectives", [o.metric for o in spec.objectives])
        study.set_user_attr("directions", [o.direction for o in spec.objectives])
        study.set_user_attr("constraints", [c.model_dump() for c in spec.constraints])
        study.set_user_attr("algorithms", spec.algorithms)
        return
    for key in ("algorithm", "search", "objectives", "model", "data"):
        if stored.get(key) != current.get(key):
            raise UserInputError(
                f"sweep {spec.name!r}: {key} differs from the study already in storage; "
                f"rename the sweep or delete studies/{spec.name}/ to start over"
            )


@contextlib.contextmanager
def _parent_run(study: optuna.Study, spec: SweepSpec, uri: str) -> Iterator[str]:
    """The study's parent MLflow run, created once and resumed by later invocations."""
    parent_id = study.user_attrs.get("mlflow_parent_run_id")
    with tracking.study_run(
        spec.name,
        resume_run_id=parent_id,
        tags={f"{tracking.TAG_PREFIX}study": spec.name, f"{tracking.TAG_PREFIX}role": "study"},
    ) as (run_id, experiment_id):
        if parent_id is None:
            study.set_user_attr("mlflow_parent_run_id", run_id)
            study.set_user_attr("mlflow_experiment_id", experiment_id)
            study.set_user_attr("tracking_uri", uri)
            tracking.log_params(
                {
                    "algorithms": ",".join(spec.algorithms),
                    "model": spec.model,
                    "sampler": spec.sampler.type,
                    "pruner": spec.pruner.type,
                    "n_trials": spec.budget.n_trials,
                    "objectives": ",".join(f"{o.metric}:{o.direction}" for o in spec.objectives),
                    "search_space": ",".join(spec.search),
                    "seed": spec.seed,
                }
            )
            tracking.log_text(
                yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False), "sweep.yaml"
            )
        yield run_id


def _log_best(best: BestTrial) -> None:
    tracking.set_tags({f"best.{k}": v for k, v in best.params.items()})
    tracking.set_tags(
        {
            "best.trial_number": best.number,
            "best.rule": best.rule,
            "best.mlflow_run_id": best.mlflow_run_id or "",
        }
    )
    tracking.log_metrics(best.metrics, prefix="best/")


def _fail_stale(study: optuna.Study) -> None:
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)


def _storage_url(study: optuna.Study) -> str:
    storage = study._storage
    return str(getattr(storage, "url", getattr(getattr(storage, "_backend", None), "url", "")))


__all__ = [
    "BestTrial",
    "SweepEvent",
    "SweepOutcome",
    "export_best",
    "list_studies",
    "load_study",
    "open_study",
    "parse_sweep",
    "run_sweep",
    "select_best",
]
