"""`alignlab compare` and alignlab.results.compare over real Optuna + MLflow stores (tests/study_fixture.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from study_fixture import (
    DPO_PLAN,
    DPO_STUDY,
    MIX_PLAN,
    MIX_STUDY,
    FixtureStudies,
    build_optuna_only,
    built_studies,
    expected_order,
    kl,
    studies,
    win_rate,
)
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import UserInputError
from alignlab.results.compare import compare_table, to_records

__all__ = ["built_studies", "studies"]  # fixtures, imported for pytest

runner = CliRunner()


def test_columns_and_order_of_one_study(studies: FixtureStudies) -> None:
    df = compare_table([DPO_STUDY])
    assert list(df.columns) == [
        "study",
        "trial",
        "algorithm",
        "beta",
        "learning_rate",
        "win_rate",
        "win_rate_se",
        "kl",
        "kl_se",
        "steps",
        "runtime_s",
        "state",
        "enqueued",
        "feasible",
        "mlflow_run_id",
    ]
    complete = df[df["state"] == "COMPLETE"]
    assert complete["trial"].tolist() == expected_order(DPO_PLAN)
    # complete first, then the pruned and the failed trial, which have no final objective
    assert df["state"].tolist()[len(complete) :] == ["PRUNED", "FAIL"]
    assert df.loc[df["state"] != "COMPLETE", "win_rate"].isna().all()
    best = df.iloc[0]
    assert best["win_rate"] == pytest.approx(win_rate(DPO_PLAN[3][0]))
    assert best["kl"] == pytest.approx(kl(DPO_PLAN[3][0]))
    assert best["mlflow_run_id"] == studies.run_ids[DPO_STUDY][3]
    assert df.attrs["sort_by"] == "win_rate" and df.attrs["direction"] == "maximize"
    by_trial = df.set_index("trial")
    assert bool(by_trial.loc[0, "enqueued"]) and not bool(by_trial.loc[3, "enqueued"])
    assert by_trial.loc[2, "feasible"] is False  # kl 10 > the constraint's max 6
    assert by_trial.loc[3, "feasible"] is True
    assert by_trial.loc[4, "steps"] == 20
    assert set(df["algorithm"]) == {"dpo"}


def test_standard_errors_and_the_trials_within_noise(studies: FixtureStudies) -> None:
    """The analytic units (study_fixture.units_of): per-unit spread UNIT_SD over N_UNITS prompts, so the
    bootstrap SE of a mean is near UNIT_SD / sqrt(N_UNITS); trial 1 is 0.023 behind the best (trial 3),
    inside the paired interval, and the next feasible trial (6) is beyond it."""
    from study_fixture import N_UNITS, UNIT_SD

    df = compare_table([DPO_STUDY]).set_index("trial")
    complete = df[df["state"] == "COMPLETE"]
    sd = pd.Series([pd.Series(u).std(ddof=0) for u in complete.index.map(lambda n: _units(studies, n))])
    assert complete["win_rate_se"].to_numpy() == pytest.approx((sd / N_UNITS**0.5).to_numpy(), rel=0.1)
    assert complete["win_rate_se"].between(0.5 * UNIT_SD / 10, 1.5 * UNIT_SD / 10).all()
    assert df.loc[df["state"] != "COMPLETE", "win_rate_se"].isna().all()
    noise = df.attrs["noise"]
    assert noise.startswith("trials 3 and 1 are within noise of each other on win_rate"), noise
    assert "trial 1 -0.023" in noise and "trial 6" not in noise
    assert df.attrs["no_units"] == []


def _units(studies: FixtureStudies, number: int) -> list[float]:
    from alignlab.sweep.catalog import open_study
    from alignlab.sweep.records import trial_records

    trial = next(t for t in trial_records(open_study(DPO_STUDY)) if t.number == number)
    return trial.units["win_rate"].values


def test_a_study_without_units_reads_without_intervals_and_says_so_once(studies: FixtureStudies) -> None:
    df = compare_table([MIX_STUDY], use_mlflow=False)
    assert df["win_rate_se"].isna().all() and df.attrs["noise"] is None
    assert df.attrs["no_units"] == [MIX_STUDY]
    result = runner.invoke(app, ["compare", MIX_STUDY, "--no-mlflow"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("no standard errors") == 1 and "±" not in result.stdout


def test_several_studies_in_one_table(studies: FixtureStudies) -> None:
    df = compare_table([DPO_STUDY, MIX_STUDY, DPO_STUDY])  # a repeated name counts once
    assert len(df) == len(DPO_PLAN) + len(MIX_PLAN)
    for col in ("beta", "learning_rate", "desirable_weight", "kl_target", "win_rate", "kl"):
        assert col in df.columns
    assert "algorithm" not in df.columns[3:]  # the algorithm param is the algorithm column, not a param
    assert set(df["algorithm"]) == {"dpo", "kto", "ppo"}
    complete = df[df["state"] == "COMPLETE"]
    assert complete["win_rate"].is_monotonic_decreasing
    # algo-mix's trials record no run id: it comes from the MLflow tags
    mix = df[df["study"] == MIX_STUDY].set_index("trial")
    assert mix["mlflow_run_id"].to_dict() == studies.run_ids[MIX_STUDY]
    ppo = mix[mix["algorithm"] == "ppo"]
    assert ppo["beta"].isna().all() and ppo["kl_target"].notna().all()
    assert df.attrs["objectives"] == {DPO_STUDY: ["win_rate"], MIX_STUDY: ["win_rate", "kl"]}


def test_top_and_optuna_only(studies: FixtureStudies) -> None:
    df = compare_table([DPO_STUDY, MIX_STUDY], top=3, use_mlflow=False)
    assert len(df) == 3
    assert df["win_rate"].tolist() == sorted(df["win_rate"].tolist(), reverse=True)
    full = compare_table([MIX_STUDY], use_mlflow=False)
    assert full["mlflow_run_id"].isna().all()  # nothing recorded in Optuna, MLflow not asked


def test_study_without_mlflow_store(studies_root: Path) -> None:
    store = build_optuna_only(studies_root, "bare", n_complete=3)
    df = compare_table(["bare"])
    assert df["trial"].tolist() == [
        1,
        2,
        0,
        3,
    ]  # DPO_PLAN's first three complete trials by win rate, then the pruned
    assert df["state"].tolist() == ["COMPLETE"] * 3 + ["PRUNED"]
    assert df["mlflow_run_id"].isna().all()
    assert not store.exists(), "reading must not create an MLflow store"


def test_unknown_study_lists_the_known_ones(studies: FixtureStudies) -> None:
    with pytest.raises(UserInputError) as info:
        compare_table(["nope", DPO_STUDY])
    assert len(info.value.problems) == 1
    line = info.value.problems[0]
    assert "unknown study 'nope'" in line and DPO_STUDY in line and MIX_STUDY in line


def test_cli_table(studies: FixtureStudies) -> None:
    result = runner.invoke(app, ["compare", DPO_STUDY, MIX_STUDY, "--top", "4"])
    assert result.exit_code == 0, result.output
    assert "sorted by win_rate (maximize)" in result.stdout
    assert result.stdout.count("COMPLETE") == 4
    assert "dpo-beta" in result.stdout and "algo-mix" in result.stdout
    one = runner.invoke(app, ["compare", DPO_STUDY])
    assert "win_rate ± se" in one.stdout and "0.9 ± 0.01" in one.stdout
    assert "trials 3 and 1 are within noise of each other" in one.stdout


def test_cli_csv_written_atomically(studies: FixtureStudies, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "table.csv"
    result = runner.invoke(app, ["compare", DPO_STUDY, "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    df = pd.read_csv(out)
    assert df["trial"].tolist()[:5] == expected_order(DPO_PLAN)
    assert df.loc[0, "mlflow_run_id"] == studies.run_ids[DPO_STUDY][3]
    assert [p.name for p in out.parent.iterdir()] == ["table.csv"]  # no temporary file left


def test_cli_json(studies: FixtureStudies, tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", DPO_STUDY, MIX_STUDY, "--json", "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)  # only JSON on stdout; the "wrote" line goes to stderr
    assert len(rows) == len(DPO_PLAN) + len(MIX_PLAN)
    assert rows[0]["win_rate"] == pytest.approx(0.9)
    assert {r["state"] for r in rows} == {"COMPLETE", "PRUNED", "FAIL"}
    failed = next(r for r in rows if r["state"] == "FAIL")
    assert failed["win_rate"] is None and failed["kl"] is None
    assert rows == to_records(compare_table([DPO_STUDY, MIX_STUDY]))


def test_cli_unknown_study_exit_2(studies: FixtureStudies) -> None:
    result = runner.invoke(app, ["compare", "nope"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: unknown study 'nope' (studies in {studies.root}: {MIX_STUDY}, {DPO_STUDY})"
    ]


def test_cli_registers_the_commands_that_read_studies() -> None:
    import typer

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert {"compare", "report", "ui", "best", "sweep", "studies"} <= set(commands)
    assert {"run", "status"} <= set(commands["sweep"].commands) and "list" in commands["studies"].commands
    result = runner.invoke(app, ["compare", "--help"])
    assert result.exit_code == 0 and "--no-mlflow" in result.stdout


def test_cli_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, alignlab.cli.compare; "
        "heavy = [m for m in ('mlflow', 'optuna', 'pandas', 'plotly', 'matplotlib') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
