"""Portable studies: a studies folder moved (or copied) elsewhere still reads with compare, report, best,
sweep status and studies list, and a sweep resumes there, its new MLflow artifacts in the new place.

Real studies written by the sweep runner (tests/study_fixture.py: Optuna SQLite storages, an MLflow SQLite
store with nested runs), moved with shutil.move; alignlab.paths stores the locations inside the folder
relative to it (``{studies}/...``). Older studies stored absolute paths: they read where they are, and
after a move too.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from objectives import win_rate
from study_fixture import (
    DPO_PLAN,
    DPO_STUDY,
    MIX_STUDY,
    FixtureStudies,
    built_studies,
    expected_order,
    fast_dir,
)
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.paths import STUDIES_TOKEN, portable, resolve_stored
from alignlab.results.report import build_report
from alignlab.run import tracking
from alignlab.run.config import RunConfig
from alignlab.run.trainer import RunResult
from alignlab.sweep import catalog, records
from alignlab.sweep.checks import parse_sweep
from alignlab.sweep.portable import follow_moved_artifacts
from alignlab.sweep.study import run_sweep

__all__ = ["built_studies"]  # a fixture, imported for pytest

runner = CliRunner()


@pytest.fixture
def studies_root_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conftest's studies root, here on tmpfs: the copied stores commit often, and SQLite's commits fsync."""
    return fast_dir(tmp_path_factory) / "studies"


def move(old: Path, new: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Move the studies folder and point ALIGNLAB_STUDIES at it, as a new process would see it."""
    new.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(old, new)
    # A second root, and the point of this module: the moved folder, as the next command finds it.
    monkeypatch.setenv("ALIGNLAB_STUDIES", str(new))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri sets it, for subprocesses
    monkeypatch.chdir(new.parent)
    assert not old.exists()


def test_locations_are_stored_relative_to_the_studies_folder(studies_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, parent = studies_root, studies_root.parent
    assert portable(f"sqlite:///{root}/mlflow.db") == f"sqlite:///{STUDIES_TOKEN}/mlflow.db"
    assert portable(str(root / "s" / "trials" / "3")) == f"{STUDIES_TOKEN}/s/trials/3"
    assert portable((root / "s" / "mlartifacts").as_uri()) == f"file://{STUDIES_TOKEN}/s/mlartifacts"
    for outside in (f"sqlite:///{parent}/other.db", "postgresql://u@db:5432/studies", "http://mlflow:5000", "dpo"):
        assert portable(outside) == outside
    monkeypatch.setenv("ALIGNLAB_STUDIES", str(parent / "moved"))  # a second root: the folder moved
    assert resolve_stored(f"sqlite:///{STUDIES_TOKEN}/s/optuna.db") == f"sqlite:///{parent}/moved/s/optuna.db"
    # an older study's absolute location, gone from where it was: found at its place under the new root
    (parent / "moved" / "s" / "trials" / "3").mkdir(parents=True)
    assert resolve_stored(str(root / "s" / "trials" / "3")) == str(parent / "moved" / "s" / "trials" / "3")
    assert resolve_stored(str(root / "x" / "trials" / "3")) == str(root / "x" / "trials" / "3")  # not there either


def copy_of(fx: FixtureStudies, target: Path) -> Path:
    """A copy of the session's fixture studies (a copied folder must read too), at ``target``."""
    shutil.copytree(fx.root, target)
    return target


def test_a_moved_studies_folder_reads_with_every_command(
    built_studies: FixtureStudies, studies_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx = built_studies
    old, new = copy_of(fx, studies_root), studies_root.parent / "elsewhere" / "moved-studies"
    spec = yaml.safe_load((old / DPO_STUDY / "sweep.yaml").read_text())
    assert spec["storage"] == f"sqlite:///{STUDIES_TOKEN}/{DPO_STUDY}/optuna.db"
    assert spec["tracking_uri"] == f"sqlite:///{STUDIES_TOKEN}/mlflow.db"
    stored = catalog.open_study(DPO_STUDY).study
    assert stored.user_attrs["tracking_uri"] == f"sqlite:///{STUDIES_TOKEN}/mlflow.db"
    best_before = json.loads(runner.invoke(app, ["best", DPO_STUDY, "--json"]).output)
    trial = next(t for t in stored.get_trials() if t.number == best_before["number"])
    assert trial.user_attrs["adapter_path"] == f"{STUDIES_TOKEN}/{DPO_STUDY}/trials/{trial.number}"
    assert trial.user_attrs["run_config"]["output_dir"] == trial.user_attrs["adapter_path"]
    assert str(old) not in json.dumps(dict(stored.user_attrs), default=str)

    move(old, new, monkeypatch)
    listed = json.loads(runner.invoke(app, ["studies", "list", "--json"]).output)
    assert {r["name"] for r in listed} == {DPO_STUDY, MIX_STUDY}
    status = runner.invoke(app, ["sweep", "status", DPO_STUDY, "--json"])
    assert status.exit_code == 0 and json.loads(status.output)["finished"] == len(DPO_PLAN)
    best = json.loads(runner.invoke(app, ["best", DPO_STUDY, "--json"]).output)
    assert best["number"] == best_before["number"] == expected_order(DPO_PLAN)[0]
    assert best["output_dir"] == str(new / DPO_STUDY / "trials" / str(best["number"]))
    assert best["run_config"]["tracking_uri"] == f"sqlite:///{new}/mlflow.db"
    compared = runner.invoke(app, ["compare", DPO_STUDY, MIX_STUDY, "--json"])
    assert compared.exit_code == 0, compared.output
    rows = json.loads(compared.output)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    mix = {r["trial"]: r["mlflow_run_id"] for r in rows if r["study"] == MIX_STUDY}
    assert mix == fx.run_ids[MIX_STUDY]  # found through the tags in the moved MLflow store
    report = build_report(DPO_STUDY, pngs=False)
    page = report.html_path.read_text(encoding="utf-8")
    assert report.html_path == new / DPO_STUDY / "report.html"
    assert f"sqlite:///{new}/{DPO_STUDY}/optuna.db" in page and f"sqlite:///{new}/mlflow.db" in page
    assert str(old) not in page
    assert not any(n.startswith("curves") for n in report.notes)  # the curves came from the moved store
    # MLflow's own absolute artifact locations follow (alignlab ui does this before serving the store)
    assert sorted(follow_moved_artifacts(None)) == [MIX_STUDY, DPO_STUDY] and follow_moved_artifacts(None) == []
    with contextlib.closing(sqlite3.connect(new / "mlflow.db")) as db:
        for name in (DPO_STUDY, MIX_STUDY):
            (uri,) = db.execute(
                "SELECT artifact_uri FROM runs WHERE run_uuid = ?", (catalog.open_study(name).parent_run_id,)
            ).fetchone()
            assert uri.startswith((new / name / "mlartifacts").as_uri())
            assert (Path(uri.removeprefix("file://")) / "sweep.yaml").is_file()  # logged by the parent run
    assert not old.exists()


def test_an_older_study_with_absolute_paths_reads_in_place_and_after_a_move(
    built_studies: FixtureStudies, studies_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Studies written before stored absolute locations: rewritten so here, they read before and after."""
    old, new = copy_of(built_studies, studies_root), studies_root.parent / "moved"
    for name in (DPO_STUDY, MIX_STUDY):
        sweep = old / name / "sweep.yaml"
        raw = yaml.safe_load(sweep.read_text())
        raw["storage"] = resolve_stored(raw["storage"])
        raw["tracking_uri"] = resolve_stored(raw["tracking_uri"])
        sweep.write_text(yaml.safe_dump(raw))
        record = catalog.open_study(name)
        record.study.set_user_attr("tracking_uri", f"sqlite:///{old / 'mlflow.db'}")
        store = tracking.sqlite_path(record.storage_url)
        assert store is not None
        with contextlib.closing(sqlite3.connect(store)) as db, db:  # Optuna refuses to edit finished trials
            db.execute(
                "UPDATE trial_user_attributes SET value_json = replace(value_json, ?, ?) WHERE key = 'adapter_path'",
                (STUDIES_TOKEN, str(old)),
            )
        for t in records.trial_records(record):  # the trials' output folders, as training leaves them
            Path(t.adapter_path or old / "none").mkdir(parents=True, exist_ok=True)
    trials = records.trial_records(catalog.open_study(DPO_STUDY))
    assert {t.adapter_path for t in trials if t.adapter_path} == {
        str(old / DPO_STUDY / "trials" / str(t.number)) for t in trials if t.state == "COMPLETE"
    }
    before = json.loads(runner.invoke(app, ["compare", DPO_STUDY, MIX_STUDY, "--json"]).output)
    move(old, new, monkeypatch)
    after = runner.invoke(app, ["compare", DPO_STUDY, MIX_STUDY, "--json"])
    assert after.exit_code == 0, after.output
    assert json.loads(after.output) == before
    record = catalog.open_study(MIX_STUDY)  # its storage was <old>/elsewhere/algo-mix.db
    assert record.storage_url == f"sqlite:///{new / 'elsewhere' / 'algo-mix.db'}"
    assert record.tracking_uri == f"sqlite:///{new / 'mlflow.db'}"
    best = json.loads(runner.invoke(app, ["best", DPO_STUDY, "--json"]).output)
    assert best["output_dir"] == str(new / DPO_STUDY / "trials" / str(best["number"]))


def logging_train(config: RunConfig, **_: Any) -> RunResult:
    """A trainer with an output folder and the analytic objective (tests/objectives.py); the trial's
    runner logs config.yaml and the metrics in the trial's nested MLflow run."""
    beta, lr = float(config.params["beta"]), float(config.params["learning_rate"])
    metrics = {"win_rate": win_rate(config.params), "kl": round(lr * 1e3 / beta, 6)}
    assert config.output_dir is not None
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    return RunResult(config.name, config.algorithm, "completed", None, metrics, 10, 0.01, None, config.output_dir)


def test_a_sweep_resumes_in_the_moved_folder_and_its_artifacts_follow(
    studies_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = studies_root, studies_root.parent / "moved"
    monkeypatch.chdir(studies_root.parent)
    raw = {
        "name": "resumed",
        "algorithm": "dpo",
        "model": "builtin:tiny-sft",
        "data": {"task": "builtin"},
        "search": {
            "beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
            "learning_rate": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True},
        },
        "objectives": [{"metric": "win_rate", "direction": "maximize"}],
        "sampler": {"type": "random"},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 4},
        "enqueue": [],
    }
    spec = parse_sweep(raw, where="resumed", check_trl=False)
    first = run_sweep(spec, n_trials=2, train=logging_train)
    move(old, new, monkeypatch)
    second = run_sweep(spec, train=logging_train)
    assert second.n_finished == 4 and second.mlflow_parent_run_id == first.mlflow_parent_run_id
    assert not old.exists()  # nothing was written to where the folder was
    with sqlite3.connect(new / "mlflow.db") as db:
        (location,) = db.execute("SELECT artifact_location FROM experiments WHERE name = 'resumed'").fetchone()
        uris = [u for (u,) in db.execute("SELECT artifact_uri FROM runs")]
    assert location == (new / "resumed" / "mlartifacts").as_uri()
    assert len(uris) == 5 and all(u.startswith(location) for u in uris)  # the parent run and 4 trials
    logged = sorted((new / "resumed" / "mlartifacts").rglob("config.yaml"))
    assert len(logged) == 4  # the two trials run before the move and the two after
    record = catalog.open_study("resumed")
    assert all(Path(t.adapter_path or "").is_dir() for t in records.trial_records(record))
