"""Small finished studies, built for real by the study runner's conventions (alignlab.results.studyio docstring).

Real Optuna SQLite storages and a real MLflow SQLite store under a temporary ``ALIGNLAB_STUDIES`` root;
the "training" is an analytic function of the params, so tests can assert the ordering:

- ``dpo-beta``: DPO, objective win_rate (maximize), constraint kl <= 6; params beta, learning_rate.
  Trial 0 is an enqueued literature default, one trial is pruned and one fails. Storage: the default
  ``studies/dpo-beta/optuna.db``.
- ``algo-mix``: DPO, KTO and PPO compared in one study; objectives [win_rate (max), kl (min)]; params
  algorithm, beta (dpo, kto), desirable_weight (kto), kl_target (ppo), learning_rate. Its
  ``sweep.yaml`` moves the storage to ``<root>/elsewhere/algo-mix.db``, and its trials do not record
  ``mlflow_run_id`` (found through the MLflow tags instead).

Both share ``<root>/mlflow.db``: an experiment per study, a parent run and one nested run per trial
with params, ``loss`` and ``eval/<metric>`` histories, and the alignlab tags.

Use :func:`built_studies` (a pytest fixture: import it into a test module) and :func:`use_root`.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

DPO_STUDY = "dpo-beta"
MIX_STUDY = "algo-mix"
EVAL_STEPS = (10, 20, 30, 40)


def win_rate(params: dict[str, Any]) -> float:
    """The analytic objective: best at beta = 0.1 and learning_rate = 1e-4; KTO best at desirable_weight 1.2."""
    beta = float(params.get("beta", 0.1))
    lr = float(params["learning_rate"])
    value = 0.9 - 0.1 * (math.log10(beta) + 1) ** 2 - 0.05 * (math.log10(lr) + 4) ** 2
    if "desirable_weight" in params:
        value -= 0.2 * (float(params["desirable_weight"]) - 1.2) ** 2
    if "kl_target" in params:
        value -= 0.02 * abs(float(params["kl_target"]) - 4.0)
    return round(value, 6)


def kl(params: dict[str, Any]) -> float:
    """KL grows with the learning rate and shrinks with beta (or follows kl_target for PPO)."""
    lr = float(params["learning_rate"])
    if "kl_target" in params:
        return round(float(params["kl_target"]) * (1 + lr * 1e3), 6)
    return round(lr * 1e3 / float(params.get("beta", 0.1)), 6)


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
    ({"algorithm": "dpo", "beta": 0.1, "learning_rate": 1e-4}, "complete"),
    ({"algorithm": "kto", "beta": 0.1, "desirable_weight": 1.0, "learning_rate": 5e-5}, "complete"),
    ({"algorithm": "ppo", "kl_target": 2.0, "learning_rate": 1e-5}, "complete"),
    ({"algorithm": "dpo", "beta": 0.05, "learning_rate": 3e-4}, "complete"),
    ({"algorithm": "kto", "beta": 0.3, "desirable_weight": 1.3, "learning_rate": 1e-4}, "complete"),
    ({"algorithm": "ppo", "kl_target": 6.0, "learning_rate": 3e-5}, "complete"),
]


@dataclass
class FixtureStudies:
    root: Path
    tracking_uri: str
    experiment_ids: dict[str, str] = field(default_factory=dict)
    run_ids: dict[str, dict[int, str]] = field(default_factory=dict)
    """study -> trial number -> MLflow run id."""


def _suggest(trial: Any, algorithms: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    algorithm = algorithms[0]
    if len(algorithms) > 1:
        algorithm = params["algorithm"] = trial.suggest_categorical("algorithm", algorithms)
    if algorithm in ("dpo", "kto"):
        params["beta"] = trial.suggest_float("beta", 0.01, 1.0, log=True)
    if algorithm == "kto":
        params["desirable_weight"] = trial.suggest_float("desirable_weight", 0.5, 2.0)
    if algorithm == "ppo":
        params["kl_target"] = trial.suggest_float("kl_target", 1.0, 10.0)
    params["learning_rate"] = trial.suggest_float("learning_rate", 1e-6, 1e-3, log=True)
    return params


def _build_study(
    fx: FixtureStudies,
    name: str,
    plan: list[tuple[dict[str, Any], str]],
    *,
    algorithms: list[str],
    objectives: list[str],
    directions: list[Literal["minimize", "maximize"]],
    constraints: list[dict[str, Any]],
    storage: str,
) -> None:
    import mlflow
    import optuna

    study = optuna.create_study(
        study_name=name, storage=storage, directions=directions, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    exp_id = mlflow.create_experiment(name)
    fx.experiment_ids[name] = exp_id
    fx.run_ids[name] = {}
    mlflow.set_experiment(experiment_id=exp_id)
    fates = {i: fate for i, (_, fate) in enumerate(plan)}
    for i, (params, _) in enumerate(plan):
        study.enqueue_trial(params, user_attrs={"enqueued": i == 0})
    parent = mlflow.start_run(run_name=name, tags={"alignlab.study": name, "alignlab.role": "study"})
    study.set_user_attr("objectives", objectives)
    study.set_user_attr("directions", directions)
    study.set_user_attr("constraints", constraints)
    study.set_user_attr("mlflow_experiment_id", exp_id)
    study.set_user_attr("mlflow_parent_run_id", parent.info.run_id)
    study.set_user_attr("tracking_uri", fx.tracking_uri)
    study.set_user_attr("algorithms", algorithms)

    def objective(trial: optuna.Trial) -> Any:
        params = _suggest(trial, algorithms)
        algorithm = params.get("algorithm", algorithms[0])
        fate = fates[trial.number]
        metrics = {
            "win_rate": win_rate(params),
            "kl": kl(params),
            "preference_accuracy": round(0.5 + win_rate(params) / 4, 6),
            "malformed_rate": 0.01,
        }
        trial.set_user_attr("algorithm", algorithm)
        tags = {
            "alignlab.study": name,
            "alignlab.trial_number": str(trial.number),
            "alignlab.algorithm": algorithm,
        }
        run = mlflow.start_run(run_name=f"{algorithm}-trial-{trial.number}", nested=True, tags=tags)
        if name == DPO_STUDY:  # algo-mix leaves the run id to MLflow's tags, as an older runner might
            trial.set_user_attr("mlflow_run_id", run.info.run_id)
        fx.run_ids[name][trial.number] = run.info.run_id
        mlflow.log_params({k: v for k, v in params.items() if k != "algorithm"})
        steps = EVAL_STEPS[:2] if fate == "pruned" else EVAL_STEPS
        for step in range(5, steps[-1] + 1, 5):
            mlflow.log_metric("loss", round(0.7 * math.exp(-step / 20) + 0.1, 6), step=step)
        for j, step in enumerate(steps):
            partial = round(0.5 + (metrics["win_rate"] - 0.5) * (j + 1) / len(EVAL_STEPS), 6)
            mlflow.log_metric(f"eval/{objectives[0]}", partial, step=step)
            if len(objectives) == 1:  # Optuna 5: Trial.report raises for multi-objective studies
                trial.report(partial, step)
        trial.set_user_attr("steps", steps[-1])
        trial.set_user_attr("runtime_s", 1.5 + trial.number / 10)
        if fate == "fail":
            trial.set_user_attr("fail_reason", "RuntimeError: loss is NaN at step 10")
            mlflow.set_tag("alignlab.trial_state", "FAIL")
            mlflow.end_run(status="FAILED")
            raise RuntimeError("loss is NaN at step 10")
        if fate == "pruned":
            mlflow.set_tag("alignlab.trial_state", "PRUNED")
            mlflow.end_run(status="FINISHED")
            raise optuna.TrialPruned()
        mlflow.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=steps[-1])
        trial.set_user_attr("metrics", metrics)
        trial.set_user_attr("adapter_path", f"studies/{name}/trials/{trial.number}/adapter")
        mlflow.set_tag("alignlab.trial_state", "COMPLETE")
        mlflow.end_run(status="FINISHED")
        values = [metrics[m] for m in objectives]
        return values if len(values) > 1 else values[0]

    study.optimize(objective, n_trials=len(plan), catch=(RuntimeError,))
    best = study.best_trials[0] if len(directions) > 1 else study.best_trial
    mlflow.log_params({k: v for k, v in best.params.items()})
    mlflow.log_metrics({f"eval/{k}": v for k, v in best.user_attrs["metrics"].items()})
    mlflow.end_run(status="FINISHED")


def build_studies(root: Path) -> FixtureStudies:
    """Build both studies under ``root`` (about 6 s, most of it creating the MLflow store)."""
    import logging

    import mlflow
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    root.mkdir(parents=True, exist_ok=True)
    fx = FixtureStudies(root=root, tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(fx.tracking_uri)
    try:
        (root / DPO_STUDY).mkdir()
        (root / DPO_STUDY / "sweep.yaml").write_text(
            f"name: {DPO_STUDY}\nalgorithm: dpo\nmodel: builtin:tiny-sft\ndata: {{task: builtin}}\n"
            "objectives: [{metric: win_rate, direction: maximize}]\nconstraints: [{metric: kl, max: 6.0}]\n"
        )
        _build_study(
            fx,
            DPO_STUDY,
            DPO_PLAN,
            algorithms=["dpo"],
            objectives=["win_rate"],
            directions=["maximize"],
            constraints=[{"metric": "kl", "max": 6.0, "min": None}],
            storage=f"sqlite:///{root / DPO_STUDY / 'optuna.db'}",
        )
        (root / MIX_STUDY).mkdir()
        (root / "elsewhere").mkdir()
        mix_storage = f"sqlite:///{root / 'elsewhere' / 'algo-mix.db'}"
        (root / MIX_STUDY / "sweep.yaml").write_text(
            f"name: {MIX_STUDY}\nalgorithm: [dpo, kto, ppo]\nmodel: builtin:tiny-sft\ndata: {{task: builtin}}\n"
            "objectives: [{metric: win_rate, direction: maximize}, {metric: kl, direction: minimize}]\n"
            f"storage: {mix_storage}\n"
        )
        _build_study(
            fx,
            MIX_STUDY,
            MIX_PLAN,
            algorithms=["dpo", "kto", "ppo"],
            objectives=["win_rate", "kl"],
            directions=["maximize", "minimize"],
            constraints=[],
            storage=mix_storage,
        )
    finally:
        mlflow.set_tracking_uri(previous)
    return fx


_BUILT: dict[str, FixtureStudies] = {}


@pytest.fixture(scope="session")
def built_studies(tmp_path_factory: pytest.TempPathFactory) -> FixtureStudies:
    """The studies, built once per test session (shared by every module that imports this fixture)."""
    if "fx" not in _BUILT:
        _BUILT["fx"] = build_studies(_fast_dir(tmp_path_factory) / "studies")
    return _BUILT["fx"]


def _fast_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder on tmpfs when there is one: SQLite commits fsync, about 12 ms each on a disk."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="alignlab-test-", dir=shm))
        atexit.register(shutil.rmtree, path, True)
        return path
    return tmp_path_factory.mktemp("alignlab-studies")


@pytest.fixture
def studies(built_studies: FixtureStudies, monkeypatch: pytest.MonkeyPatch) -> Iterator[FixtureStudies]:
    """The built studies with ``ALIGNLAB_STUDIES`` pointing at them (and no stray MLFLOW_TRACKING_URI)."""
    monkeypatch.setenv("ALIGNLAB_STUDIES", str(built_studies.root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield built_studies


def expected_order(plan: list[tuple[dict[str, Any], str]]) -> list[int]:
    """Trial numbers of the complete trials, best win rate first."""
    complete = [(i, win_rate(p)) for i, (p, fate) in enumerate(plan) if fate == "complete"]
    return [i for i, _ in sorted(complete, key=lambda x: -x[1])]


def build_optuna_only(root: Path, name: str, *, n_complete: int) -> Path:
    """A study with no MLflow store at all (its tracking URI names a file that does not exist).

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
        "objectives": ["win_rate"],
        "directions": ["maximize"],
        "constraints": [],
        "tracking_uri": f"sqlite:///{store}",
        "algorithms": ["dpo"],
    }.items():
        study.set_user_attr(attr, value)
    dists = {
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
                user_attrs={"algorithm": "dpo", "metrics": metrics, "steps": 40, "runtime_s": 1.0},
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
