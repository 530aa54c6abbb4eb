"""`alignlab best NAME --confirm K` (alignlab.sweep.confirm): the selection logic over fabricated trials in a
real Optuna study with an analytic re-evaluation (fast), and the whole thing over a tiny real sweep (slow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import UserInputError
from alignlab.run.eval_units import EvalReport
from alignlab.sweep import catalog, records
from alignlab.sweep.best import select_best
from alignlab.sweep.confirm import ConfirmSettings, confirm_seeds, confirm_top
from alignlab.sweep.records import StudyAttr, TrialAttr, TrialRecord

optuna.logging.set_verbosity(optuna.logging.ERROR)
runner = CliRunner()
N = 200  # prompts of the confirming evaluation

#: trial -> (sweep win rate, confirmed win rate, confirmed kl). The sweep ranks 0 > 1 > 2 > 3 > 4; the
#: confirmation ranks 2 first, then 0, and finds 1's KL over the bound.
TRIALS: dict[int, tuple[float, float, float]] = {
    0: (0.62, 0.56, 1.0),
    1: (0.61, 0.70, 9.0),
    2: (0.60, 0.58, 2.0),
    3: (0.59, 0.59, 1.0),  # outside the top 3: never re-evaluated
    4: (0.40, 0.40, 1.0),
}


def _bernoulli(p: float, n: int = N) -> list[float]:
    ones = round(p * n)
    return [1.0] * ones + [0.0] * (n - ones)


class Analytic:
    """The re-evaluation's stand-in: each trial's confirmed metrics from TRIALS, with per-prompt units."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, ConfirmSettings]] = []

    def __call__(self, trial: TrialRecord, settings: ConfirmSettings) -> EvalReport:
        self.calls.append((trial.number, settings))
        _, win, kl = TRIALS[trial.number]
        values = _bernoulli(win)
        shift = 37 * trial.number  # each trial wins on other prompts
        units = {"win_rate": {"key": "prompts:all", "values": values[shift:] + values[:shift]}}
        return EvalReport({"win_rate": win, "kl": kl}, units=units)


def _add(study: optuna.Study, number: int, adapters: Path) -> None:
    sweep_win, _, _ = TRIALS[number]
    folder = adapters / str(number)
    (folder / "adapter").mkdir(parents=True)
    study.add_trial(
        optuna.trial.create_trial(
            params={"beta": 0.1 + number / 100},
            distributions={"beta": optuna.distributions.FloatDistribution(0.01, 1.0)},
            value=sweep_win,
            user_attrs={
                TrialAttr.METRICS: {"win_rate": sweep_win, "kl": 1.0},
                TrialAttr.RUN_CONFIG: {"name": f"dpo-trial-{number}", "algorithm": "dpo"},
                TrialAttr.ADAPTER_PATH: str(folder),
                TrialAttr.EVAL_UNITS: {"win_rate": {"key": "prompts:100", "values": _bernoulli(sweep_win, 100)}},
            },
        )
    )


def _study(storage: str | None, adapters: Path, name: str = "c") -> records.StudyRecord:
    """The study of TRIALS (in memory when ``storage`` is None), adapters under ``adapters``."""
    study = optuna.create_study(direction="maximize", study_name=name, storage=storage)
    study.set_user_attr(StudyAttr.OBJECTIVES, ["win_rate"])
    study.set_user_attr(StudyAttr.DIRECTIONS, ["maximize"])
    study.set_user_attr(StudyAttr.CONSTRAINTS, [{"metric": "kl", "max": 5.0}])
    study.set_user_attr(StudyAttr.TRACKING_URI, f"sqlite:///{adapters / 'absent-mlflow.db'}")
    for number in TRIALS:
        _add(study, number, adapters)
    return records.read_study(study, name=name, storage_url=storage or "memory")


def test_the_top_k_are_re_evaluated_and_the_confirmed_value_picks(tmp_path: Path) -> None:
    record = _study(None, tmp_path)
    assert select_best(record).number == 0  # type: ignore[union-attr]  # by the sweep's values
    analytic = Analytic()
    settings = ConfirmSettings(seeds=confirm_seeds(3))
    outcome = confirm_top(record, 3, settings=settings, reevaluate=analytic)
    assert [n for n, _ in analytic.calls] == [0, 1, 2]  # the top 3 by the sweep, in its order
    assert all(s.seeds == (10_000, 10_001, 10_002) for _, s in analytic.calls)
    # 1 scores highest confirmed but breaks kl <= 5 under confirmation: 2 is chosen, then 0
    assert [t.number for t in outcome.trials] == [2, 0, 1]
    assert outcome.chosen == 2 and outcome.sweep_best == 0
    assert [t.feasible for t in outcome.trials] == [True, True, False]
    chosen = outcome.trials[0]
    assert chosen.value == 0.58 and chosen.sweep_value == 0.60 and chosen.n_units == N
    assert chosen.se == pytest.approx((0.58 * 0.42 / N) ** 0.5, rel=0.06)
    assert chosen.interval is not None and chosen.interval[0] < 0.58 < chosen.interval[1]
    assert outcome.rule == "highest win_rate re-evaluated on 200 prompts x 3 seeds among the top 3"
    assert outcome.noise is not None and outcome.noise.startswith("trials 2 and 0 are within noise")
    assert outcome.mlflow_logged == []  # no MLflow store: nothing logged, none created
    assert not (tmp_path / "absent-mlflow.db").exists()

    # recorded in the study: best now reads the confirmed choice, with its confirmed value
    best = select_best(record)
    assert best is not None and best.number == 2
    assert best.rule == (
        "highest win_rate among trials with kl <= 5.0; then highest win_rate re-evaluated on 200 prompts x 3 "
        "seeds among the top 3"
    )
    assert best.confirmed is not None and best.confirmed["value"] == 0.58 and best.confirmed["seeds"] == [10_000, 10_001, 10_002]
    assert best.within_noise == [0] and (best.noise or "").startswith("confirmed: trials 2 and 0 are within noise")
    stored = record.study.user_attrs[StudyAttr.CONFIRMATION]
    assert stored["chosen"] == 2 and stored["trials"] == [2, 0, 1] and stored["n_complete"] == 5

    # a trial completed after the confirmation makes it stale: the sweep's values choose again
    TRIALS[5] = (0.63, 0.5, 1.0)
    try:
        _add(record.study, 5, tmp_path)
        again = select_best(record)
        assert again is not None and again.number == 5 and again.confirmed is None
    finally:
        del TRIALS[5]


def test_a_missing_adapter_names_the_trial_and_its_folder(tmp_path: Path) -> None:
    record = _study(None, tmp_path)
    (tmp_path / "1" / "adapter").rmdir()
    (tmp_path / "1").rmdir()
    with pytest.raises(UserInputError) as info:
        confirm_top(record, 3, reevaluate=Analytic())
    assert info.value.problems == [
        f"trial 1: its adapter folder {tmp_path / '1'} is missing (moved or deleted); "
        "--confirm re-evaluates the saved adapters"
    ]
    assert StudyAttr.CONFIRMATION not in record.study.user_attrs  # nothing recorded


def test_cli_confirm_with_a_missing_adapter_exits_2(studies_root: Path, tmp_path: Path) -> None:
    (studies_root / "c").mkdir(parents=True)
    _study(f"sqlite:///{studies_root / 'c' / 'optuna.db'}", tmp_path / "out")
    gone = tmp_path / "out" / "0"
    for sub in ("adapter", ""):
        (gone / sub).rmdir()
    result = runner.invoke(app, ["best", "c", "--confirm", "2"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: trial 0: its adapter folder {gone} is missing (moved or deleted); --confirm re-evaluates the saved adapters"
    ]


def test_cli_best_json_carries_the_standard_error(studies_root: Path, tmp_path: Path) -> None:
    (studies_root / "c").mkdir(parents=True)
    _study(f"sqlite:///{studies_root / 'c' / 'optuna.db'}", tmp_path / "out")
    result = runner.invoke(app, ["best", "c", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["number"] == 0 and out["values"] == [0.62] and out["objectives"] == ["win_rate"]
    (se,) = out["standard_errors"]
    assert se == pytest.approx((0.62 * 0.38 / 100) ** 0.5, rel=0.06)  # 62 of 100 prompts won
    ((low, high),) = out["intervals"]
    assert low < 0.62 < high and out["confirmation"] is None
    assert out["within_noise"] == [1, 2, 3]  # 0.61, 0.60 and 0.59 are within noise of 0.62; 0.40 is not
    text = runner.invoke(app, ["best", "c"])
    assert f"win_rate = 0.6200 ± {se:.4f}" in text.stdout
    assert "trials 0, 1, 2 and 3 are within noise of each other on win_rate" in " ".join(text.stdout.split())
    assert "alignlab best c --confirm 4" in text.stdout


# ---- the whole thing over a tiny real sweep -------------------------------------------------------


@pytest.mark.slow
def test_confirm_re_evaluates_real_adapters_and_records_it_in_mlflow(studies_root: Path) -> None:
    from test_studies import tiny_sweep

    from alignlab.sweep.checks import parse_sweep
    from alignlab.sweep.study import run_sweep

    run_sweep(parse_sweep(tiny_sweep("confirmable")))
    record = catalog.open_study("confirmable")
    trials = records.trial_records(record)
    assert all(set(t.units) == {"win_rate", "kl"} for t in trials)
    assert len({t.units["win_rate"].key for t in trials}) == 1  # the same prompts: comparable paired
    result = runner.invoke(
        app, ["best", "confirmable", "--confirm", "2", "--confirm-prompts", "16", "--confirm-seeds", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    confirmation = out["confirmation"]
    assert len(confirmation["trials"]) == 2 and out["number"] == confirmation["chosen"]
    assert all(t["n_units"] == 16 and t["se"] is not None for t in confirmation["trials"])
    assert confirmation["rule"] == "highest win_rate re-evaluated on 16 prompts x 2 seeds among the top 2"
    assert sorted(confirmation["mlflow_logged"]) == sorted(t["number"] for t in confirmation["trials"])
    from mlflow.tracking import MlflowClient

    run = MlflowClient(record.tracking_uri).get_run(
        next(t.mlflow_run_id for t in trials if t.number == out["number"])
    )
    assert "confirmed/win_rate" in run.data.metrics and "confirmed/win_rate_se" in run.data.metrics
    assert run.data.tags["alignlab.confirmed.chosen"] == "True"
    assert run.info.status == "FINISHED"  # logged onto the ended run, which stays as it was
