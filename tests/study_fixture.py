"""Small finished studies, written by the real sweep runner (alignlab.sweep.study.run_sweep) with an
analytic trainer in place of TRL, so what compare/report/ui read is what the runner stores
(alignlab.sweep.records): renaming a stored key breaks these tests.

Real Optuna SQLite storages and a real MLflow SQLite store under a temporary ``ALIGNLAB_STUDIES`` root.
:func:`analytic_train` is a trainer (alignlab.run.trainer.Trainer) with no MLflow of its own: it writes a
``loss`` curve and ``eval/<metric>`` histories to the log the runner hands it, reports the intermediate
evaluations through ``on_evaluate`` and returns a RunResult computed from the params; the runner (the
sweep's trial) owns the MLflow run, so its params, tags and statuses are a real trial's. Each trial's
fate (complete, pruned, failed) is scripted by the plan, so tests can assert the ordering:

- ``dpo-beta``: DPO, objective win_rate (maximize), constraint kl <= 6; params beta, learning_rate.
  Trial 0 is the sweep's enqueued literature default, one trial is pruned and one fails. Storage: the
  default ``studies/dpo-beta/optuna.db``. Its complete trials carry evaluation units (:func:`units_of`,
  100 prompts): the best (trial 3) is within noise of trial 1 and beyond noise of the default.
- ``algo-mix``: DPO, KTO and PPO compared in one study; objectives [win_rate (max), kl (min)]; params
  algorithm, beta (dpo, kto), desirable_weight (kto), kl_target (ppo), learning_rate. Its sweep moves
  the storage to ``<root>/elsewhere/algo-mix.db``, and its trials keep no MLflow run id (removed from the
  storage once built) and no evaluation units (as an older runner's trials), so readers find them
  through the MLflow tags.

The plan's later trials are enqueued on the study between a first run_sweep (the enqueued default)
and a second that resumes it to the budget. Both share ``<root>/mlflow.db``.

:func:`build_optuna_only` is the one hand-built study: an old study with no MLflow store at all,
written with the key constants of alignlab.sweep.records.

Use :func:`built_studies` (a pytest fixture: import it into a test module) and :func:`studies`.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from objectives import win_rate

from alignlab.run import tracking
from alignlab.run.config import RunConfig
from alignlab.run.trainer import NO_LOG, EvaluateHook, RunLog, RunResult, StepHook
from alignlab.sweep import catalog
from alignlab.sweep.checks import parse_sweep
from alignlab.sweep.records import StudyAttr, TrialAttr
from alignlab.sweep.study import run_sweep

DPO_STUDY = "dpo-beta"
MIX_STUDY = "algo-mix"
EVAL_STEPS = (10, 20, 30, 40)
FAIL_REASON = "RuntimeError: loss is NaN at step 10"


def kl(params: dict[str, Any]) -> float:
    """KL grows with the learning rate and shrinks with beta (or follows kl_target for PPO)."""
    lr = float(params["learning_rate"])
    if "kl_target" in params:
        return round(float(params["kl_target"]) * (1 + lr * 1e3), 6)
    return round(lr * 1e3 / float(params.get("beta", 0.1)), 6)


def final_metrics(params: dict[str, Any]) -> dict[str, float]:
    return {
        "win_rate": win_rate(params),
        "kl": kl(params),
        "preference_accuracy": round(0.5 + win_rate(params) / 4, 6),
        "malformed_rate": 0.01,
    }


# (params, fate): fate is "complete", "pruned" or "fail". Trial numbers follow the list order.
DPO_PLAN: list[tuple[dict[str, Any], str]] = [
    ({"beta": 0.1, "learning_rate": 5e-6}, "complete"),  # enqueued literature default
    ({"beta": 0.3, "learning_rate": 1e-4}, "complete"),
    ({"beta": 0.03, "learning_rate": 3e-4}, "complete"),
    ({"beta": 0.1, "learning_rate": 1e-4}, "complete"),  # the best
    ({"beta": 1.0, "learning_rate": 1e-3}, "pruned"),
    ({"beta": 0.01, "learning_rate": 1e-5}, "fail"),
    ({"beta": 0.5, "learning_rate": 2e-5}, "complete"),
]

MIX_PLAN: list[tuple[dict[str, Any], str]] = [
    ({"algorithm": "dpo", "beta": 0.1, "learning_rate": 1e-4}, "complete"),  # enqueued literature default
    ({"algorithm": "kto", "beta": 0.1, "desirable_weight": 1.0, "learning_rate": 5e-5}, "complete"),
    ({"algorithm": "ppo", "kl_target": 2.0, "learning_rate": 1e-5}, "complete"),
    ({"algorithm": "dpo", "beta": 0.05, "learning_rate": 3e-4}, "complete"),
    ({"algorithm": "kto", "beta": 0.3, "desirable_weight": 1.3, "learning_rate": 1e-4}, "complete"),
    ({"algorithm": "ppo", "kl_target": 6.0, "learning_rate": 3e-5}, "complete"),
]

PLANS = {DPO_STUDY: DPO_PLAN, MIX_STUDY: MIX_PLAN}
#: Held-out prompts of the analytic evaluation units, and the spread of a trial's units around its value.
N_UNITS, UNIT_SD = 100, 0.1


def units_of(metrics: dict[str, float], number: int) -> dict[str, dict[str, Any]]:
    """Per-prompt units (alignlab.run.eval_units.Units) whose mean is each metric: a prompt difficulty
    every trial shares (so paired differences are tighter than unpaired) plus the trial's own noise
    (seeded by its number), scaled to UNIT_SD and centred on the value."""
    import numpy as np

    shared = 0.05 * np.sin(1.7 * np.arange(N_UNITS))
    own = np.random.default_rng(number).standard_normal(N_UNITS)
    own = (own - own.mean()) / own.std() * UNIT_SD
    out = {}
    for metric in ("win_rate", "kl"):
        values = shared + own * (1.0 if metric == "win_rate" else metrics[metric])
        values = values - values.mean() + metrics[metric]
        out[metric] = {"key": "prompts:analytic", "values": [float(v) for v in values]}
    return out

SEARCH: dict[str, Any] = {
    "beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
    "desirable_weight": {"type": "float", "low": 0.5, "high": 2.0},
    "kl_target": {"type": "float", "low": 1.0, "high": 10.0},
    "learning_rate": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True},
}


def sweep_raw(name: str, root: Path) -> dict[str, Any]:
    """The sweep file of a fixture study."""
    multi = name == MIX_STUDY
    first = {k: v for k, v in PLANS[name][0][0].items() if multi or k != "algorithm"}
    raw: dict[str, Any] = {
        "name": name,
        "algorithm": ["dpo", "kto", "ppo"] if multi else "dpo",
        "model": "builtin:tiny-sft",
        "data": {"task": "builtin"},
        "search": SEARCH if multi else {k: SEARCH[k] for k in ("beta", "learning_rate")},
        "objectives": [{"metric": "win_rate", "direction": "maximize"}]
        + ([{"metric": "kl", "direction": "minimize"}] if multi else []),
        "constraints": [] if multi else [{"metric": "kl", "max": 6.0}],
        "sampler": {"type": "random"},
        "pruner": {"type": "none"},  # the plan decides which trial is pruned
        "budget": {"n_trials": len(PLANS[name])},
        "enqueue": [first],
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
    }
    if multi:
        raw["storage"] = f"sqlite:///{root / 'elsewhere' / 'algo-mix.db'}"
    return raw


@dataclass
class FixtureStudies:
    root: Path
    tracking_uri: str
    experiment_ids: dict[str, str] = field(default_factory=dict)
    run_ids: dict[str, dict[int, str]] = field(default_factory=dict)
    """study -> trial number -> MLflow run id."""


def analytic_train(
    config: RunConfig,
    *,
    on_evaluate: EvaluateHook | None = None,
    on_step: StepHook | None = None,
    log: RunLog | None = None,
) -> RunResult:
    """A trainer with analytic curves and the fate the plan gives the trial (its number ends its name)."""
    log = log or NO_LOG
    study, number = config.experiment or "", int(config.name.rsplit("-", 1)[1])
    planned, fate = PLANS[study][number]
    params = {"algorithm": config.algorithm, **config.params}
    assert all(params[k] == v for k, v in planned.items()), f"trial {number} ran {params}, planned {planned}"
    metrics = final_metrics(params)
    objective = "win_rate"
    steps = EVAL_STEPS[:2] if fate == "pruned" else EVAL_STEPS[:1] if fate == "fail" else EVAL_STEPS
    for step in range(5, steps[-1] + 1, 5):
        log.metrics({"loss": round(0.7 * math.exp(-step / 20) + 0.1, 6)}, step=step)
        if on_step is not None:
            on_step(step, EVAL_STEPS[-1])
    for j, step in enumerate(steps):
        partial = round(0.5 + (metrics[objective] - 0.5) * (j + 1) / len(EVAL_STEPS), 6)
        log.metrics({objective: partial}, step=step, prefix="eval/")
        if on_evaluate is not None:
            on_evaluate(step, {objective: partial})
    result = RunResult(config.name, config.algorithm, "completed", None, {}, steps[-1], 1.5 + number / 10, None, None)
    if fate == "fail":
        result.status, result.reason = "failed", FAIL_REASON
    elif fate == "pruned":
        result.status, result.reason = "pruned", f"pruned at step {steps[-1]}"
    else:
        result.metrics, result.output_dir = metrics, config.output_dir
        if study == DPO_STUDY:
            result.units = units_of(metrics, number)
    return result


@contextlib.contextmanager
def use_root(root: Path) -> Iterator[None]:
    """``ALIGNLAB_STUDIES`` set to ``root`` (and no MLFLOW_TRACKING_URI) for the duration: the session's
    build runs outside any test, where neither conftest's studies_root nor monkeypatch exist."""
    saved = {k: os.environ.get(k) for k in ("ALIGNLAB_STUDIES", "MLFLOW_TRACKING_URI")}
    os.environ["ALIGNLAB_STUDIES"] = str(root)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _build_study(fx: FixtureStudies, name: str) -> None:
    spec = parse_sweep(sweep_raw(name, fx.root), where=name, check_trl=False)
    run_sweep(spec, n_trials=1, train=analytic_train)  # trial 0: the enqueued default
    study = catalog.open_study(name).study
    for params, _ in PLANS[name][1:]:
        study.enqueue_trial(params)
    run_sweep(spec, train=analytic_train)  # resumed to the budget
    record = catalog.open_study(name)
    assert record.experiment_id is not None
    fx.experiment_ids[name] = record.experiment_id
    fx.run_ids[name] = _trial_run_ids(fx.tracking_uri, record.experiment_id)
    if name == MIX_STUDY:  # as an older runner left its trials: found through the MLflow tags
        storage = record.storage_url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(storage)) as db, db:
            db.execute("UPDATE trial_user_attributes SET value_json = 'null' WHERE key = ?", (TrialAttr.MLFLOW_RUN_ID,))


def _trial_run_ids(tracking_uri: str, experiment_id: str) -> dict[int, str]:
    """Trial number -> MLflow run id, by the tags the runner wrote."""
    from mlflow.tracking import MlflowClient

    runs = MlflowClient(tracking_uri).search_runs([experiment_id], max_results=1000)
    return {
        int(r.data.tags[tracking.TRIAL_NUMBER_TAG]): r.info.run_id
        for r in runs
        if tracking.TRIAL_NUMBER_TAG in r.data.tags
    }


def build_studies(root: Path) -> FixtureStudies:
    """Build both studies under ``root`` (a few seconds, most of it creating the MLflow store)."""
    import mlflow

    root.mkdir(parents=True, exist_ok=True)
    fx = FixtureStudies(root=root, tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    previous = mlflow.get_tracking_uri()
    try:
        with use_root(root), contextlib.chdir(root):  # MLflow puts artifacts in ./mlruns (issue 9)
            _build_study(fx, DPO_STUDY)
            _build_study(fx, MIX_STUDY)
    finally:
        mlflow.set_tracking_uri(previous)
    return fx


_BUILT: dict[str, FixtureStudies] = {}


@pytest.fixture(scope="session")
def built_studies(tmp_path_factory: pytest.TempPathFactory) -> FixtureStudies:
    """The studies, built once per test session (shared by every module that imports this fixture)."""
    if "fx" not in _BUILT:
        _BUILT["fx"] = build_studies(fast_dir(tmp_path_factory) / "studies")
    return _BUILT["fx"]


def fast_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder on tmpfs when there is one: SQLite commits fsync, about 12 ms each on a disk."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="alignlab-test-", dir=shm))
        atexit.register(shutil.rmtree, path, True)
        return path
    return tmp_path_factory.mktemp("alignlab-studies")


@pytest.fixture
def studies(built_studies: FixtureStudies, monkeypatch: pytest.MonkeyPatch) -> Iterator[FixtureStudies]:
    """The built studies with ``ALIGNLAB_STUDIES`` pointing at them (and no stray MLFLOW_TRACKING_URI).

    A second root beside conftest's studies_root: the studies are built once per session (seconds) and
    shared by the tests that read them, which never write there."""
    monkeypatch.setenv("ALIGNLAB_STUDIES", str(built_studies.root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield built_studies


def expected_order(plan: list[tuple[dict[str, Any], str]]) -> list[int]:
    """Trial numbers of the complete trials, best win rate first."""
    complete = [(i, win_rate(p)) for i, (p, fate) in enumerate(plan) if fate == "complete"]
    return [i for i, _ in sorted(complete, key=lambda x: -x[1])]


def build_optuna_only(root: Path, name: str, *, n_complete: int) -> Path:
    """A study as an older alignlab left it, with no MLflow store at all (its tracking URI names a file
    that does not exist): hand-built, but from alignlab.sweep.records' key constants, so it proves that
    readers still read the stored schema.

    ``n_complete`` complete DPO trials (from DPO_PLAN) plus one pruned trial; the storage is the default
    ``<root>/<name>/optuna.db``. Returns the path where the MLflow store would be (it must stay absent).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    (root / name).mkdir(parents=True)
    store = root / "mlflow.db"
    study = optuna.create_study(
        study_name=name, storage=f"sqlite:///{root / name / 'optuna.db'}", direction="maximize"
    )
    for attr, value in {
        StudyAttr.OBJECTIVES: ["win_rate"],
        StudyAttr.DIRECTIONS: ["maximize"],
        StudyAttr.CONSTRAINTS: [],
        StudyAttr.TRACKING_URI: f"sqlite:///{store}",
        StudyAttr.ALGORITHMS: ["dpo"],
    }.items():
        study.set_user_attr(attr, value)
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        "beta": optuna.distributions.FloatDistribution(0.01, 1.0, log=True),
        "learning_rate": optuna.distributions.FloatDistribution(1e-6, 1e-3, log=True),
    }
    plans = [p for p, fate in DPO_PLAN if fate == "complete"][:n_complete]
    for params in plans:
        metrics = {"win_rate": win_rate(params), "kl": kl(params)}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=metrics["win_rate"],
                user_attrs={
                    TrialAttr.ALGORITHM: "dpo",
                    TrialAttr.METRICS: metrics,
                    TrialAttr.STEPS: 40,
                    TrialAttr.RUNTIME_S: 1.0,
                },
                intermediate_values={10: 0.55, 20: 0.6},
            )
        )
    study.add_trial(
        optuna.trial.create_trial(
            params={"beta": 1.0, "learning_rate": 1e-3},
            distributions=dists,
            state=optuna.trial.TrialState.PRUNED,
            intermediate_values={10: 0.5},
        )
    )
    return store
