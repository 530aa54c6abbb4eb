"""Sweeps as Optuna studies over real tiny TRL runs: nesting in MLflow, failures, best export, a killed
sweep resumed. The study machinery itself is tested fast, over an analytic trainer, in test_sweep.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignlab.run.config import load_run_config
from alignlab.sweep.best import select_best
from alignlab.sweep.catalog import open_study
from alignlab.sweep.checks import parse_sweep
from alignlab.sweep.export import export_best
from alignlab.sweep.records import finished_count
from alignlab.sweep.study import run_sweep


def tiny_sweep(name: str = "tiny", **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": name,
        "algorithm": "dpo",
        "model": "builtin:tiny-sft",
        "data": {"task": "builtin", "max_examples": 128},
        "fixed": {"max_steps": 4, "per_device_train_batch_size": 8, "max_length": 64},
        "eval": {"n_prompts": 8, "samples_per_prompt": 2, "max_new_tokens": 24, "n_pairs": 32},
        "search": {
            "beta": {"type": "float", "low": 0.05, "high": 0.5, "log": True},
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
        },
        "objectives": [{"metric": "win_rate", "direction": "maximize"}],
        "constraints": [{"metric": "kl", "max": 50.0}],
        "sampler": {"type": "random"},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 3},
        "enqueue": [{"beta": 0.1, "learning_rate": 1e-5}],
    }
    raw.update(overrides)
    return raw


def runs_of(experiment: str) -> list[Any]:
    import mlflow

    return list(mlflow.search_runs(experiment_names=[experiment], output_format="list"))


def test_sweep_runs_trials_as_nested_mlflow_runs_and_exports_the_best(studies_root: Path, tmp_path: Path) -> None:
    spec = parse_sweep(tiny_sweep())
    events: list[str] = []
    outcome = run_sweep(spec, on_event=lambda e: events.append(e.kind))
    assert outcome.n_finished == 3
    assert events.count("trial_finished") == 3 and "step" in events

    trials = open_study("tiny").study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert trials[0].user_attrs["enqueued"] is True and trials[0].params == {"beta": 0.1, "learning_rate": 1e-5}
    assert {"mlflow_run_id", "metrics", "steps", "runtime_s", "run_config", "adapter_path"} <= set(trials[0].user_attrs)
    # the objective's and the constraint's per-prompt units, on the same prompts for every trial
    units = [t.user_attrs["eval_units"] for t in trials]
    assert all(set(u) == {"win_rate", "kl"} and len(u["win_rate"]["values"]) == 8 for u in units)
    assert len({u["win_rate"]["key"] for u in units}) == 1
    assert sum(units[0]["win_rate"]["values"]) / 8 == pytest.approx(trials[0].value, abs=1e-5)

    runs = runs_of("tiny")
    parents = [r for r in runs if r.data.tags.get("alignlab.role") == "study"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == outcome.mlflow_parent_run_id]
    assert len(parents) == 1 and parents[0].info.run_id == outcome.mlflow_parent_run_id
    assert sorted(r.data.tags["alignlab.trial_number"] for r in children) == ["0", "1", "2"]
    assert {r.data.tags["alignlab.trial_state"] for r in children} == {"COMPLETE"}
    assert {r.info.run_name for r in children} == {"dpo-trial-0", "dpo-trial-1", "dpo-trial-2"}
    assert all("eval/win_rate" in r.data.metrics and "eval/kl" in r.data.metrics for r in children)
    best = outcome.best
    assert best is not None and best.rule.startswith("highest win_rate among trials with kl <= 50.0")
    assert best.standard_errors[0] is not None and best.standard_errors[0] >= 0 and best.noise
    parent = parents[0]
    assert parent.data.tags["best.trial_number"] == str(best.number)
    assert "best/win_rate" in parent.data.metrics

    exported = tmp_path / "best.yaml"
    export_best(best, exported, name="tiny-best", max_steps=8)
    config = load_run_config(exported)
    assert config.params["max_steps"] == 8 and config.params["beta"] == best.params["beta"]
    assert Path(best.output_dir or "").is_dir()


def test_failed_trial_is_recorded_with_its_reason_and_the_study_goes_on(studies_root: Path) -> None:
    raw = tiny_sweep(
        "failing",
        search={"learning_rate": {"type": "categorical", "choices": [1e12, 1e-4]}},
        fixed={"max_steps": 6, "per_device_train_batch_size": 8, "max_length": 64, "logging_steps": 1},
        sampler={"type": "grid"},
        budget={"n_trials": 2},
        enqueue=[],
        constraints=[],
    )
    outcome = run_sweep(parse_sweep(raw))
    record = open_study("failing")
    study = record.study
    states = {t.params["learning_rate"]: t for t in study.get_trials()}
    failed = states[1e12]
    assert failed.state.name == "FAIL"
    assert "loss is nan" in failed.user_attrs["fail_reason"] or "KL diverged" in failed.user_attrs["fail_reason"]
    assert states[1e-4].state.name == "COMPLETE"
    assert outcome.n_finished == 2 and finished_count(study) == 2
    assert select_best(record).number == states[1e-4].number  # type: ignore[union-attr]
    child = next(r for r in runs_of("failing") if r.info.run_id == failed.user_attrs["mlflow_run_id"])
    assert child.data.tags["alignlab.trial_state"] == "FAIL"
    assert child.info.status == "FAILED"


def test_resuming_with_another_search_space_is_refused(studies_root: Path) -> None:
    import pytest

    from alignlab.errors import UserInputError

    run_sweep(parse_sweep(tiny_sweep("resume", budget={"n_trials": 1})))
    changed = tiny_sweep("resume", search={"beta": {"type": "float", "low": 0.01, "high": 0.5}}, enqueue=[])
    with pytest.raises(UserInputError, match="search differs from the study already in storage"):
        run_sweep(parse_sweep(changed))


def test_killing_a_sweep_mid_trial_and_rerunning_finishes_exactly_n_trials(studies_root: Path, tmp_path: Path) -> None:
    spec_file = tmp_path / "killme.yaml"
    raw = tiny_sweep("killme", fixed={"max_steps": 40, "per_device_train_batch_size": 8, "max_length": 64}, budget={"n_trials": 3})
    spec_file.write_text(yaml.safe_dump(raw))
    cli = [sys.executable, "-m", "alignlab.cli", "sweep", "run", str(spec_file)]
    env = {**os.environ}
    process = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            time.sleep(2)
            if _trial_running_after(studies_root / "killme" / "optuna.db", complete=1):
                break
        else:
            raise AssertionError("the sweep never reached its second trial")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    subprocess.run(cli, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    study = open_study("killme").study
    states = [t.state.name for t in study.get_trials()]
    assert finished_count(study) == 3
    assert states.count("COMPLETE") == 3
    killed = [t for t in study.get_trials() if t.state.name in ("RUNNING", "FAIL")]
    assert len(killed) == 1 and "fail_reason" not in killed[0].user_attrs  # killed, not counted


def _trial_running_after(db: Path, *, complete: int) -> bool:
    import sqlite3

    if not db.exists():
        return False
    try:
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT state FROM trials").fetchall()
    except sqlite3.Error:
        return False
    states = [r[0] for r in rows]
    return states.count("COMPLETE") >= complete and "RUNNING" in states
