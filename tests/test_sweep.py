"""The study machinery over real Optuna studies and an analytic trainer (no TRL training), as Optuna's own
sampler tests do: trial configs, constraints, the grid, best selection, the budget, enqueued defaults,
resume, pruning, failures, and reading a study back by name. Nothing here imports TRL; the one
study-machinery test that needs TRL's config fields (several algorithms) is in test_sweep_algorithms.py.

Each test gets a fresh studies root on tmpfs; the MLflow store (the parent run of every study) is one
per session, since creating it costs about 2 s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from objectives import win_rate
from study_fixture import fast_dir
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import UserInputError
from alignlab.run.config import RunConfig, parse_run_config
from alignlab.run.trainer import EvaluateHook, RunLog, RunResult, StepHook
from alignlab.sweep import catalog, records
from alignlab.sweep.best import pareto_front, select_best
from alignlab.sweep.checks import parse_sweep
from alignlab.sweep.export import export_best
from alignlab.sweep.records import StudyRecord, TrialAttr, TrialRecord, constraint_values, finished_count
from alignlab.sweep.samplers import grid
from alignlab.sweep.spec import Constraint, Objective, SweepSpec
from alignlab.sweep.study import run_sweep, trial_config

runner = CliRunner()


class AnalyticTrain:
    """A trainer (alignlab.run.trainer.Trainer) over an analytic objective: it evaluates every ``eval.every_n_steps``
    (else once at the end), reports through ``on_evaluate`` and stops when that says so (pruned).
    ``fail`` returns a failure reason for the params it should fail on; ``drop`` leaves a metric out."""

    def __init__(
        self, *, fail: Callable[[dict[str, Any]], str | None] = lambda p: None, drop: str = ""
    ) -> None:
        self.fail, self.drop = fail, drop
        self.configs: list[RunConfig] = []

    def __call__(
        self,
        config: RunConfig,
        *,
        on_evaluate: EvaluateHook | None = None,
        on_step: StepHook | None = None,
        log: RunLog | None = None,
    ) -> RunResult:
        self.configs.append(config)
        max_steps = int(config.params.get("max_steps", 40))
        every = config.eval.every_n_steps or max_steps
        final = {
            "win_rate": win_rate(config.params),
            "kl": round(float(config.params["learning_rate"]) * 1e4, 6),
        }
        result = RunResult(config.name, config.algorithm, "completed", None, {}, max_steps, 0.01, None, None)
        for step in range(every, max_steps + 1, every):
            if on_step is not None:
                on_step(step, max_steps)
            partial = {"win_rate": final["win_rate"] * step / max_steps}
            if on_evaluate is not None and on_evaluate(step, partial):
                result.status, result.reason, result.steps = "pruned", f"pruned at step {step}", step
                return result
        reason = self.fail(config.params)
        if reason is not None:
            result.status, result.reason = "failed", reason
            return result
        result.metrics = {k: v for k, v in final.items() if k != self.drop}
        result.output_dir = config.output_dir
        return result


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{fast_dir(tmp_path_factory) / 'mlflow.db'}"


@pytest.fixture
def studies_root_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """conftest's studies root, here on tmpfs (a sweep commits to SQLite often, and a commit fsyncs on a disk), created and made
    the current folder (MLflow writes artifacts under ./mlruns)."""
    path = fast_dir(tmp_path_factory) / "studies"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def make_spec(tracking_uri: str) -> Callable[..., SweepSpec]:
    def make(name: str, **overrides: Any) -> SweepSpec:
        raw: dict[str, Any] = {
            "name": name,
            "algorithm": "dpo",
            "model": "builtin:tiny-sft",
            "data": {"task": "builtin"},
            "fixed": {"max_steps": 40},
            "search": {
                "beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
                "learning_rate": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
            },
            "objectives": [{"metric": "win_rate", "direction": "maximize"}],
            "sampler": {"type": "random"},
            "pruner": {"type": "none"},
            "budget": {"n_trials": 3},
            "tracking_uri": tracking_uri,
        }
        return parse_sweep({**raw, **overrides}, where=name, check_trl=False)

    return make


# ---- one trial's run config ---------------------------------------------------------------------------


def test_trial_config_sets_fixed_then_sampled_params_lora_and_paths(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    spec = make_spec(
        "cfg",
        algorithm=["dpo", "kto"],
        fixed={"max_steps": 40, "max_length": 64, "kto": {"max_length": 32, "desirable_weight": 1.5}},
        lora={"r": 8, "lora_alpha": 16},
        search={
            "r": {"type": "categorical", "choices": [4, 16]},
            "loss_type": {"type": "categorical", "choices": ["ipo"]},
        },
        pruner={"type": "none"},
    )
    dpo = trial_config(spec, "dpo", {"r": 16, "loss_type": "ipo"}, 3, tracking_uri="sqlite:///m.db")
    assert dpo.params == {"max_steps": 40, "max_length": 64, "loss_type": "ipo"}  # TRL's DPOConfig lists it
    assert dpo.lora is not None and (dpo.lora.r, dpo.lora.lora_alpha) == (16, 16)
    assert (dpo.name, dpo.experiment, dpo.tracking_uri) == ("dpo-trial-3", "cfg", "sqlite:///m.db")
    assert dpo.output_dir == str(studies_root / "cfg" / "trials" / "3")
    assert dpo.eval.every_n_steps is None  # no pruner: evaluate at the end only
    kto = trial_config(spec, "kto", {}, 4, tracking_uri="u")
    assert kto.params == {"max_steps": 40, "max_length": 32, "desirable_weight": 1.5}
    assert kto.lora is not None and kto.lora.r == 8


@pytest.mark.parametrize(
    ("fixed_steps", "cap", "every", "pruner", "expected_steps", "expected_every"),
    [
        (40, None, None, "median", 40, 10),  # a pruner evaluates four times
        (40, 20, None, "median", 20, 5),  # the cap lowers max_steps
        (10, 20, None, "median", 10, 2),  # and leaves a lower one
        (None, 20, None, "none", 20, None),  # no max_steps: the cap sets it
        (40, None, 7, "median", 40, 7),  # an explicit every_n_steps stays
    ],
)
def test_trial_config_caps_steps_and_spaces_evaluations(
    make_spec: Callable[..., SweepSpec],
    studies_root: Path,
    fixed_steps: int | None,
    cap: int | None,
    every: int | None,
    pruner: str,
    expected_steps: int,
    expected_every: int | None,
) -> None:
    spec = make_spec(
        "caps",
        fixed={} if fixed_steps is None else {"max_steps": fixed_steps},
        budget={"n_trials": 1, **({} if cap is None else {"max_trial_steps": cap})},
        eval={} if every is None else {"every_n_steps": every},
        pruner={"type": pruner},
    )
    config = trial_config(spec, "dpo", {}, 0, tracking_uri="u")
    assert config.params["max_steps"] == expected_steps
    assert config.eval.every_n_steps == expected_every


@pytest.mark.parametrize(
    ("bounds", "metrics", "expected"),
    [
        ({"max": 6.0}, {"kl": 4.0}, [-2.0]),
        ({"max": 6.0}, {"kl": 8.0}, [2.0]),
        ({"min": 0.5}, {"kl": 0.2}, [0.3]),
        ({"min": 1.0, "max": 6.0}, {"kl": 4.0}, [-2.0, -3.0]),  # max first, then min
        ({"max": 6.0}, {}, [1.0]),  # a missing metric is violated
    ],
)
def test_constraint_values_are_non_positive_when_met(
    bounds: dict[str, float], metrics: dict[str, float], expected: list[float]
) -> None:
    values = constraint_values([Constraint(metric="kl", **bounds)], metrics)
    assert values == pytest.approx(expected)


# ---- best selection over trial records ---------------------------------------------------------------


def _trial(number: int, values: list[float] | None, state: str = "COMPLETE", **metrics: float) -> TrialRecord:
    return TrialRecord(
        study="s", number=number, state=state, algorithm="dpo", params={"beta": 0.1 * (number + 1)},
        values=values, metrics=metrics, intermediate={}, all_params={"beta": 0.1 * (number + 1)},
    )  # fmt: skip


def _record(
    objectives: list[tuple[str, str]], constraints: list[dict[str, Any]] | None = None
) -> StudyRecord:
    return StudyRecord(
        name="s",
        storage_url="",
        tracking_uri="",
        study=None,
        objectives=[Objective.model_validate({"metric": m, "direction": d}) for m, d in objectives],
        constraints=[Constraint.model_validate(c) for c in constraints or []],
    )


WIN = ("win_rate", "maximize")
KL = ("kl", "minimize")
TRIALS = [
    _trial(0, [0.9], kl=10.0),
    _trial(1, [0.8], kl=2.0),
    _trial(2, [0.7], kl=3.0),
    _trial(3, [0.95], state="PRUNED", kl=1.0),  # a pruned trial's value is not final
    _trial(4, None, state="FAIL"),
]
PARETO = [
    _trial(0, [0.9, 10.0], kl=10.0),
    _trial(1, [0.8, 2.0], kl=2.0),
    _trial(2, [0.7, 3.0], kl=3.0),  # dominated by 1
    _trial(3, [0.85, 12.0], kl=12.0),  # dominated by 0
]


@pytest.mark.parametrize(
    ("objectives", "constraints", "trials", "number", "rule"),
    [
        ([WIN], None, TRIALS, 0, "highest win_rate"),
        ([("kl", "minimize")], None, [_trial(0, [3.0]), _trial(1, [2.0])], 1, "lowest kl"),
        ([WIN], [{"metric": "kl", "max": 6.0}], TRIALS, 1, "highest win_rate among trials with kl <= 6.0"),
        (
            [WIN],
            [{"metric": "kl", "max": 1.0}],
            TRIALS,
            0,
            "highest win_rate (no trial met kl <= 1.0; all were considered)",
        ),
        (
            [WIN],
            [{"metric": "preference_accuracy", "min": 0.5}],  # no trial reports it: none is feasible
            TRIALS,
            0,
            "highest win_rate (no trial met preference_accuracy >= 0.5; all were considered)",
        ),
        (
            [WIN, KL],
            None,
            PARETO,
            0,
            "highest win_rate on the Pareto front of win_rate (maximize) / kl (minimize)",
        ),
        (
            [WIN, KL],
            [{"metric": "kl", "min": 2.5, "max": 11.0}],  # feasible: 0 and 2; 2 is on their front
            PARETO,
            0,
            "highest win_rate on the Pareto front of win_rate (maximize) / kl (minimize) among trials with "
            "kl <= 11.0 and kl >= 2.5",
        ),
        (
            [WIN, KL],
            [{"metric": "kl", "min": 2.5, "max": 5.0}],  # only 2 is feasible, though 1 dominates it
            PARETO,
            2,
            "highest win_rate on the Pareto front of win_rate (maximize) / kl (minimize) among trials with "
            "kl <= 5.0 and kl >= 2.5",
        ),
    ],
)
def test_select_best(
    objectives: list[tuple[str, str]],
    constraints: list[dict[str, Any]] | None,
    trials: list[TrialRecord],
    number: int,
    rule: str,
) -> None:
    best = select_best(_record(objectives, constraints), trials)
    assert best is not None and (best.number, best.rule) == (number, rule)
    assert best.params == trials[number].all_params


def test_select_best_without_a_complete_trial_is_none() -> None:
    assert select_best(_record([WIN]), TRIALS[3:]) is None


def test_pareto_front_keeps_the_undominated_trials() -> None:
    objectives = [
        Objective(metric="win_rate", direction="maximize"),
        Objective(metric="kl", direction="minimize"),
    ]
    assert [t.number for t in pareto_front(PARETO, objectives)] == [0, 1]
    twins = [_trial(0, [0.8, 2.0]), _trial(1, [0.8, 2.0])]
    assert [t.number for t in pareto_front(twins, objectives)] == [0, 1]  # equal points do not dominate


# ---- the budget -----------------------------------------------------------------------------------------


def test_finished_count_counts_complete_pruned_and_failed_with_a_reason() -> None:
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    study.add_trial(create_trial(value=1.0))
    study.add_trial(create_trial(state=TrialState.PRUNED))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={TrialAttr.FAIL_REASON: "loss is NaN"}))
    study.add_trial(create_trial(state=TrialState.FAIL))  # its process died (stale heartbeat): retried
    study.add_trial(create_trial(state=TrialState.WAITING))
    study.ask()  # RUNNING
    assert finished_count(study) == 3


def test_failures_are_recorded_with_their_reason_and_count_against_the_budget(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    spec = make_spec(
        "failing",
        search={"learning_rate": {"type": "categorical", "choices": [1e-4, 1e-2, 3e-3]}},
        sampler={"type": "grid"},
    )
    train = AnalyticTrain(fail=lambda p: "loss is NaN at step 40" if p["learning_rate"] == 1e-2 else None)
    outcome = run_sweep(spec, train=train)
    study = catalog.open_study("failing").study
    by_lr = {t.params["learning_rate"]: t for t in study.get_trials()}
    assert (
        by_lr[1e-2].state.name == "FAIL"
        and by_lr[1e-2].user_attrs[TrialAttr.FAIL_REASON] == "loss is NaN at step 40"
    )
    assert by_lr[1e-4].state.name == by_lr[3e-3].state.name == "COMPLETE"
    assert outcome.n_finished == 3 and len(train.configs) == 3
    assert outcome.best is not None and outcome.best.params == {"learning_rate": 1e-4}


def test_a_run_without_the_objective_metric_fails_with_that_reason(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    outcome = run_sweep(make_spec("no-metric", budget={"n_trials": 1}), train=AnalyticTrain(drop="win_rate"))
    (trial,) = catalog.open_study("no-metric").study.get_trials()
    assert (
        trial.state.name == "FAIL"
        and trial.user_attrs[TrialAttr.FAIL_REASON] == "the run reported no win_rate"
    )
    assert outcome.n_finished == 1 and outcome.best is None


# ---- grid, enqueue, resume, pruning -------------------------------------------------------------------


def test_the_grid_runs_every_combination_once(make_spec: Callable[..., SweepSpec], studies_root: Path) -> None:
    spec = make_spec(
        "grid",
        lora={"r": 8},
        search={
            "beta": {"type": "categorical", "choices": [0.1, 0.3]},
            "r": {"type": "int", "low": 8, "high": 16, "step": 8},
            "learning_rate": {"type": "float", "low": 1e-4, "high": 2e-4, "step": 1e-4},
        },
        sampler={"type": "grid"},
        budget={"n_trials": 8},
    )
    assert grid(spec) == {"beta": [0.1, 0.3], "r": [8, 16], "learning_rate": [1e-4, 2e-4]}
    train = AnalyticTrain()
    outcome = run_sweep(spec, train=train)
    ran = sorted(
        (c.params["beta"], c.lora.r if c.lora else None, c.params["learning_rate"]) for c in train.configs
    )
    assert ran == sorted((b, r, lr) for b in (0.1, 0.3) for r in (8, 16) for lr in (1e-4, 2e-4))
    assert outcome.n_finished == 8
    assert outcome.best is not None and outcome.best.params["beta"] == 0.1


def test_defaults_are_enqueued_once_and_run_first(make_spec: Callable[..., SweepSpec], studies_root: Path) -> None:
    default = {"beta": 0.1, "learning_rate": 5e-6}
    spec = make_spec("enqueue", enqueue=[default, default], budget={"n_trials": 2})  # the same set once
    run_sweep(spec, train=AnalyticTrain())
    more = make_spec(
        "enqueue", enqueue=[default, {"beta": 0.5, "learning_rate": 1e-4}], budget={"n_trials": 4}
    )
    run_sweep(more, train=AnalyticTrain())  # a resumed study enqueues nothing new
    trials = records.trial_records(catalog.open_study("enqueue"))
    assert [t.enqueued for t in trials] == [True, False, False, False]
    assert trials[0].params == default
    assert all(t.params != {"beta": 0.5, "learning_rate": 1e-4} for t in trials)


def test_resume_continues_to_the_budget_under_the_same_parent_run(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    spec = make_spec("resume", enqueue=[{"beta": 0.1, "learning_rate": 5e-6}], budget={"n_trials": 4})
    first = run_sweep(spec, n_trials=2, train=AnalyticTrain())
    assert first.n_finished == 2
    train = AnalyticTrain()
    second = run_sweep(spec, train=train)
    assert second.n_finished == 4 and len(train.configs) == 2  # two more, not four
    assert second.mlflow_parent_run_id == first.mlflow_parent_run_id
    again = run_sweep(spec, train=train)  # at the budget already: nothing runs
    assert again.n_finished == 4 and len(train.configs) == 2
    changed = make_spec("resume", search={"beta": {"type": "float", "low": 0.01, "high": 0.5}})
    with pytest.raises(UserInputError, match="search differs from the study already in storage"):
        run_sweep(changed, train=train)


def test_on_evaluate_feeds_the_pruner(make_spec: Callable[..., SweepSpec], studies_root: Path) -> None:
    good, bad = {"beta": 0.1, "learning_rate": 1e-4}, {"beta": 1.0, "learning_rate": 1e-6}
    spec = make_spec(
        "prune", enqueue=[good, bad], pruner={"type": "median", "n_startup_trials": 1}, budget={"n_trials": 2}
    )
    train = AnalyticTrain()
    outcome = run_sweep(spec, train=train)
    assert [c.eval.every_n_steps for c in train.configs] == [10, 10]  # four evaluations of 40 steps
    first, second = records.trial_records(catalog.open_study("prune"))
    assert first.state == "COMPLETE" and sorted(first.intermediate) == [10, 20, 30, 40]
    assert second.state == "PRUNED" and sorted(second.intermediate) == [10] and second.steps == 10
    assert outcome.n_finished == 2


# ---- reading a study back ----------------------------------------------------------------------------


def test_what_the_runner_stores_reads_back(
    make_spec: Callable[..., SweepSpec], studies_root: Path, tmp_path: Path
) -> None:
    elsewhere = f"sqlite:///{studies_root.parent / 'elsewhere.db'}"
    spec = make_spec("stored", constraints=[{"metric": "kl", "max": 5.0}], budget={"n_trials": 3})
    outcome = run_sweep(spec, storage=elsewhere, train=AnalyticTrain())  # --storage: sweep.yaml records it
    assert yaml.safe_load((studies_root / "stored" / "sweep.yaml").read_text())["storage"] == elsewhere
    record = catalog.open_study("stored")
    assert record.storage_url == elsewhere and record.n_trials == 3
    assert [(o.metric, o.direction) for o in record.objectives] == [("win_rate", "maximize")]
    assert record.constraints == [Constraint(metric="kl", max=5.0)] and record.algorithms == ["dpo"]
    assert record.parent_run_id == outcome.mlflow_parent_run_id and record.experiment_id is not None
    trials = records.trial_records(record)
    assert all(t.run_config["name"] == f"dpo-trial-{t.number}" for t in trials)
    assert all(t.steps == 40 and t.runtime_s == 0.01 and t.adapter_path for t in trials)
    best = select_best(record)
    assert best is not None and outcome.best is not None and best.number == outcome.best.number
    path = tmp_path / "best.yaml"
    export_best(best, path, name="stored-best", max_steps=80)
    exported = parse_run_config(yaml.safe_load(path.read_text()), check_trl=False)
    assert exported.params["max_steps"] == 80 and exported.params["beta"] == best.params["beta"]
    assert exported.output_dir is None and exported.experiment is None


def test_the_stored_keys_stay_those_older_studies_have(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    """Studies on disk hold these literal keys: renaming one in alignlab.sweep.records needs a reader for the old."""
    spec = make_spec(
        "keys", constraints=[{"metric": "kl", "max": 5.0}], enqueue=[{"beta": 0.1, "learning_rate": 1e-4}]
    )
    run_sweep(spec, n_trials=1, train=AnalyticTrain())
    study = catalog.open_study("keys").study
    assert set(study.user_attrs) == {
        "spec",
        "objectives",
        "directions",
        "constraints",
        "algorithms",
        "defaults_enqueued",
        "mlflow_parent_run_id",
        "mlflow_experiment_id",
        "tracking_uri",
        "workers_joined",
    }
    (trial,) = study.get_trials()
    assert set(trial.user_attrs) == {
        "enqueued",
        "algorithm",
        "run_config",
        "mlflow_run_id",
        "metrics",
        "steps",
        "runtime_s",
        "adapter_path",
        "constraint_values",
        "worker",
    }
    assert trial.user_attrs["constraint_values"] == [pytest.approx(-4.0)]  # kl 1.0 against max 5.0


def test_every_command_names_an_unknown_study_the_same_way(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    from alignlab.results.ui import free_port

    run_sweep(make_spec("known", budget={"n_trials": 1}), train=AnalyticTrain())
    expected = f"error: unknown study 'nope' (studies in {studies_root}: known)"
    for args in (
        ["best", "nope"],
        ["sweep", "status", "nope"],
        ["compare", "nope"],
        ["report", "nope"],
        ["ui", "--port", str(free_port()), "--optuna", "nope", "--optuna-port", str(free_port())],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and result.stderr.strip() == expected, (args, result.output)


def test_cli_best_status_and_list(make_spec: Callable[..., SweepSpec], studies_root: Path, tmp_path: Path) -> None:
    run_sweep(make_spec("shown", enqueue=[{"beta": 0.1, "learning_rate": 1e-4}]), train=AnalyticTrain())
    result = runner.invoke(app, ["best", "shown", "--export", str(tmp_path / "b.yaml")])
    assert result.exit_code == 0, result.output
    assert "best trial 0 (highest win_rate) - an enqueued literature default" in result.stdout
    assert (tmp_path / "b.yaml").read_text().startswith("# Best trial 0: highest win_rate\n")
    status = json.loads(runner.invoke(app, ["sweep", "status", "shown", "--json"]).stdout)
    assert (status["finished"], status["n_trials"], status["best_trial"]) == (3, 3, 0)
    assert status["states"] == {"COMPLETE": 3} and status["best_values"] == [pytest.approx(0.9)]
    rows = json.loads(runner.invoke(app, ["studies", "list", "--json"]).stdout)
    assert [(r["name"], r["algorithms"], r["finished"]) for r in rows] == [("shown", ["dpo"], 3)]


def test_a_sweeps_reward_function_reaches_its_trials(make_spec: Callable[..., SweepSpec]) -> None:
    spec = make_spec("online", algorithm="grpo", reward_function="builtin:gold", budget={"n_trials": 1})
    config = trial_config(spec, "grpo", {}, 0, tracking_uri="u")
    assert (config.reward_function, config.reward_model) == ("builtin:gold", None)
