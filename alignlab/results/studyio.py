"""Reading a study after the fact: its Optuna trials and, where the store is there, its MLflow runs.

A study named NAME lives in ``studies/NAME/`` (alignlab.paths): ``optuna.db`` is its Optuna storage
unless ``sweep.yaml`` (the sweep as run) sets ``storage:``. Its MLflow runs are in the shared store
(``sqlite:///studies/mlflow.db``) unless the study says otherwise. What the study runner records, and
this module reads:

- ``study.user_attrs``: ``objectives`` (metric names), ``directions``, ``constraints``
  (``[{metric, max, min}]``), ``mlflow_experiment_id``, ``mlflow_parent_run_id``, ``tracking_uri``,
  ``algorithms``;
- ``trial.params`` by TRL field names (plus ``algorithm`` when a study compares algorithms);
  ``trial.user_attrs``: ``algorithm``, ``mlflow_run_id``, ``metrics`` (final eval metrics keyed by
  alignlab.run.config.METRICS), ``steps``, ``runtime_s``, ``fail_reason``, ``adapter_path``, ``enqueued``;
- MLflow: experiment = study name; one child run per trial tagged ``alignlab.study``,
  ``alignlab.trial_number``, ``alignlab.algorithm``, ``alignlab.trial_state``; eval metrics as
  ``eval/<metric>``.

Reading never creates anything: a missing SQLite file is reported (Optuna storage) or treated as
"no MLflow" (tracking store), never opened (opening would create an empty database).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError
from alignlab.paths import default_storage_url, default_tracking_uri, studies_root, study_dir

#: Main searched parameter of each algorithm, in the order a report looks for them.
MAIN_PARAMS: tuple[str, ...] = ("beta", "desirable_weight", "kl_target", "kl_coef")

#: Where the MLflow UI serves by default (``alignlab ui``); run links in tables and reports use it.
DEFAULT_MLFLOW_URL = "http://127.0.0.1:5000"


@dataclass(frozen=True)
class Objective:
    metric: str
    """A key of alignlab.run.config.METRICS (``win_rate``, ``kl``, ...)."""
    direction: str
    """``maximize`` or ``minimize``."""

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


@dataclass
class StudyRecord:
    """A finished (or running) study, opened read-only enough for reporting."""

    name: str
    storage_url: str
    tracking_uri: str
    study: Any
    """The ``optuna.Study``."""
    objectives: list[Objective]
    constraints: list[dict[str, Any]] = field(default_factory=list)
    experiment_id: str | None = None
    parent_run_id: str | None = None
    algorithms: list[str] = field(default_factory=list)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


@dataclass
class TrialRecord:
    """One trial, flattened from Optuna (and MLflow for the run id when Optuna lacks it)."""

    study: str
    number: int
    state: str
    """COMPLETE, PRUNED, FAIL, RUNNING or WAITING."""
    algorithm: str | None
    params: dict[str, Any]
    """Sampled params by TRL names, without ``algorithm``."""
    values: list[float] | None
    metrics: dict[str, float]
    intermediate: dict[int, float]
    steps: int | None = None
    runtime_s: float | None = None
    mlflow_run_id: str | None = None
    enqueued: bool = False
    fail_reason: str | None = None

    def metric(self, name: str, objectives: Sequence[Objective]) -> float | None:
        """A metric's final value: a complete trial's objective value when it is one, else ``metrics``.

        A pruned trial's Optuna value is its last intermediate value, not a final metric: not used.
        """
        for i, obj in enumerate(objectives):
            if (
                obj.metric == name
                and self.state == "COMPLETE"
                and self.values is not None
                and i < len(self.values)
            ):
                return _finite(self.values[i])
        return _finite(self.metrics.get(name))


@dataclass(frozen=True)
class MlflowRun:
    run_id: str
    run_name: str
    experiment_id: str
    status: str


def list_studies() -> list[str]:
    """Names of the studies under studies_root(): folders with an ``optuna.db`` or a ``sweep.yaml``."""
    root = studies_root()
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and ((p / "optuna.db").is_file() or (p / "sweep.yaml").is_file())
    )


def _unknown(name: str, why: str = "") -> UserInputError:
    known = list_studies()
    listing = ", ".join(known) if known else "none"
    return UserInputError(f"unknown study {name!r}{why} (studies in {studies_root()}: {listing})")


def _sweep_settings(name: str) -> dict[str, Any]:
    path = study_dir(name) / "sweep.yaml"
    if not path.is_file():
        return {}
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserInputError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    return raw if isinstance(raw, dict) else {}


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (relative paths against the cwd), else None."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///")).resolve()


def absolute_sqlite(url: str) -> str:
    """A ``sqlite:///`` URL with an absolute path (other URLs unchanged), for use from another cwd."""
    path = sqlite_path(url)
    return f"sqlite:///{path}" if path is not None else url


def storage_url(name: str) -> str:
    """The Optuna storage of a study: ``sweep.yaml``'s ``storage:`` else studies/<name>/optuna.db."""
    storage = _sweep_settings(name).get("storage")
    return absolute_sqlite(str(storage)) if storage else default_storage_url(name)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's logger at ERROR for the duration (plots warn on studies without trials), then as it was."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


@contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def open_study(name: str) -> StudyRecord:
    """Open a study by name; an unknown name raises UserInputError listing the studies that exist."""
    import optuna

    url = storage_url(name)
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise _unknown(name)
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except KeyError:
        raise _unknown(name, f" (not in its storage {url})") from None
    attrs = study.user_attrs
    names = list(attrs.get("objectives") or [])
    directions = list(attrs.get("directions") or [d.name.lower() for d in study.directions])
    if not names:
        names = list(study.metric_names or [f"objective_{i}" for i in range(len(directions))])
    objectives = [Objective(m, d) for m, d in zip(names, directions, strict=False)]
    tracking = (
        attrs.get("tracking_uri")
        or _sweep_settings(name).get("tracking_uri")
        or os.environ.get("MLFLOW_TRACKING_URI")
        or default_tracking_uri()
    )
    exp = attrs.get("mlflow_experiment_id")
    parent = attrs.get("mlflow_parent_run_id")
    return StudyRecord(
        name=name,
        storage_url=url,
        tracking_uri=absolute_sqlite(str(tracking)),
        study=study,
        objectives=objectives,
        constraints=list(attrs.get("constraints") or []),
        experiment_id=str(exp) if exp is not None else None,
        parent_run_id=str(parent) if parent is not None else None,
        algorithms=list(attrs.get("algorithms") or []),
    )


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None


def trial_records(record: StudyRecord) -> list[TrialRecord]:
    """Every trial of the study, in trial-number order."""
    out = []
    for t in record.study.get_trials(deepcopy=False):
        ua = t.user_attrs
        params = {k: v for k, v in t.params.items() if k != "algorithm"}
        algorithm = ua.get("algorithm") or t.params.get("algorithm")
        if algorithm is None and len(record.algorithms) == 1:
            algorithm = record.algorithms[0]
        runtime = _finite(ua.get("runtime_s"))
        if runtime is None and t.datetime_start is not None and t.datetime_complete is not None:
            runtime = (t.datetime_complete - t.datetime_start).total_seconds()
        steps = ua.get("steps")
        metrics = {
            k: v for k, v in ((k, _finite(v)) for k, v in (ua.get("metrics") or {}).items()) if v is not None
        }
        out.append(
            TrialRecord(
                study=record.name,
                number=t.number,
                state=t.state.name,
                algorithm=str(algorithm) if algorithm is not None else None,
                params=params,
                values=list(t.values) if t.values is not None else None,
                metrics=metrics,
                intermediate={int(k): float(v) for k, v in t.intermediate_values.items()},
                steps=int(steps) if isinstance(steps, int | float) and not isinstance(steps, bool) else None,
                runtime_s=runtime,
                mlflow_run_id=ua.get("mlflow_run_id"),
                enqueued=bool(ua.get("enqueued", False)),
                fail_reason=ua.get("fail_reason"),
            )
        )
    return out


def mlflow_available(tracking_uri: str) -> bool:
    """Whether the MLflow store can be read without creating it (a missing SQLite file: no)."""
    path = sqlite_path(tracking_uri)
    if path is not None:
        return path.is_file()
    return not tracking_uri.startswith("file:") or Path(tracking_uri.removeprefix("file:")).exists()


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    with _quiet_loggers("mlflow", "alembic"):
        return MlflowClient(tracking_uri=tracking_uri)


def mlflow_trial_runs(record: StudyRecord) -> dict[int, MlflowRun]:
    """The study's trial runs in MLflow by trial number ({} when the store or experiment is absent).

    Sets ``record.experiment_id`` when the study did not record it. A resumed study may have several
    runs for one trial number: the latest wins.
    """
    if not mlflow_available(record.tracking_uri):
        return {}
    client = _client(record.tracking_uri)
    with _quiet_loggers("mlflow", "alembic"):
        exp_id = record.experiment_id
        if exp_id is None:
            exp = client.get_experiment_by_name(record.name)
            if exp is None:
                return {}
            exp_id = record.experiment_id = str(exp.experiment_id)
        runs = client.search_runs(
            [exp_id],
            filter_string=f"tags.`alignlab.study` = '{record.name}'",
            max_results=50000,
            order_by=["attributes.start_time ASC"],
        )
    found: dict[int, MlflowRun] = {}
    for run in runs:
        tags = run.data.tags
        number = tags.get("alignlab.trial_number")
        if number is None or tags.get("alignlab.role") == "study":
            continue
        try:
            n = int(number)
        except ValueError:
            continue
        found[n] = MlflowRun(
            run.info.run_id, run.info.run_name or "", str(run.info.experiment_id), run.info.status
        )
    return found


def join_mlflow(record: StudyRecord, trials: list[TrialRecord]) -> dict[int, MlflowRun]:
    """Fill each trial's missing ``mlflow_run_id`` from MLflow; returns the runs found."""
    runs = mlflow_trial_runs(record)
    for t in trials:
        run = runs.get(t.number)
        if t.mlflow_run_id is None and run is not None:
            t.mlflow_run_id = run.run_id
    return runs


def metric_histories(
    tracking_uri: str, run_id: str, keys: Sequence[str]
) -> dict[str, list[tuple[int, float]]]:
    """(step, value) points of each metric of one run; missing metrics are left out."""
    if not mlflow_available(tracking_uri):
        return {}
    client = _client(tracking_uri)
    out: dict[str, list[tuple[int, float]]] = {}
    with _quiet_loggers("mlflow", "alembic"):
        for key in keys:
            try:
                history = client.get_metric_history(run_id, key)
            except Exception:  # a deleted run, or a store that moved: the curve is just missing
                continue
            points = sorted((int(m.step), float(m.value)) for m in history if math.isfinite(m.value))
            if points:
                out[key] = points
    return out


def run_url(experiment_id: str | None, run_id: str | None, *, base: str = DEFAULT_MLFLOW_URL) -> str | None:
    """The MLflow UI address of a run: ``<base>/#/experiments/<exp>/runs/<run>``."""
    if not experiment_id or not run_id:
        return None
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def main_params(trials: Sequence[TrialRecord]) -> list[str]:
    """The study's main searched params (beta, desirable_weight, kl_target, kl_coef) that trials have."""
    present = {k for t in trials for k in t.params}
    return [p for p in MAIN_PARAMS if p in present]
