"""`alignlab ui` and alignlab.results.ui: busy ports are refused before anything starts; servers start and
stop; the links open each study's trials; optuna-dashboard (its real server's API) names the objectives and
shows a pruned trial as pruned."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pruned_study
import pytest
from study_fixture import DPO_STUDY, MIX_STUDY, FixtureStudies, built_studies, fast_dir, studies
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import UserInputError
from alignlab.results import ui

__all__ = ["built_studies", "studies"]  # fixtures, imported for pytest

runner = CliRunner()


@pytest.fixture
def studies_root_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conftest's studies root, here on tmpfs: pruned_study's sweep commits to SQLite often (a fsync each on a disk)."""
    return fast_dir(tmp_path_factory) / "studies"


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ui.HOST, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_port_probe(busy_port: int) -> None:
    assert ui.port_in_use(busy_port)
    assert not ui.port_in_use(ui.free_port())


def test_library_refuses_a_busy_port(busy_port: int) -> None:
    with pytest.raises(UserInputError, match=f"^port {busy_port} is in use; pass --port$"):
        ui.start_mlflow(port=busy_port)
    with pytest.raises(UserInputError, match=f"^port {busy_port} is in use; pass --optuna-port$"):
        ui.start_optuna_dashboard("sqlite:////nonexistent.db", port=busy_port)


def _server_logs() -> set[Path]:
    """The log files of servers this process started (alignlab.results.ui writes one before each start)."""
    return set(Path(tempfile.gettempdir()).glob(f"alignlab-*-{os.getpid()}-*.log"))


def test_cli_refuses_a_busy_port_before_starting(studies: FixtureStudies, busy_port: int) -> None:
    before = _server_logs()
    result = runner.invoke(app, ["ui", "--port", str(busy_port)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: port {busy_port} is in use; pass --port"
    mlflow_port = ui.free_port()
    result = runner.invoke(
        app, ["ui", "--port", str(mlflow_port), "--optuna", DPO_STUDY, "--optuna-port", str(busy_port)]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: port {busy_port} is in use; pass --optuna-port"
    # refused up front: no server was started (none logged, the free port still free)
    assert _server_logs() == before
    assert not ui.port_in_use(mlflow_port)


def test_cli_unknown_optuna_study_exit_2(studies: FixtureStudies) -> None:
    result = runner.invoke(app, ["ui", "--port", str(ui.free_port()), "--optuna", "nope"])
    assert result.exit_code == 2
    assert "error: unknown study 'nope'" in result.stderr


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def test_optuna_dashboard_starts_and_stops(studies: FixtureStudies, tmp_path: object) -> None:
    from alignlab.sweep.catalog import storage_url

    handle = ui.start_optuna_dashboard(storage_url(MIX_STUDY), port=ui.free_port())
    try:
        waited = ui.wait_ready(handle, timeout=60)
        assert waited < 60
        summaries = _get(f"{handle.url}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in summaries] == [MIX_STUDY]
        detail = _get(f"{handle.url}/api/studies/{summaries[0]['study_id']}")
        assert detail["objective_names"] == ["win_rate", "kl"]  # not "Objective 0", "Objective 1"
        assert ui.dashboard_study_url(handle, MIX_STUDY) == f"{handle.url}/dashboard/studies/{summaries[0]['study_id']}"
    finally:
        ui.stop(handle)
    assert not handle.running
    assert not ui.port_in_use(int(handle.url.rsplit(":", 1)[1]))


def test_optuna_dashboard_shows_a_pruned_trial_as_pruned_not_infeasible(studies_root: Path) -> None:
    """A pruned trial has no final KL: its last evaluation decides its constraint values (tests/pruned_study.py)."""
    storage = pruned_study.build(studies_root)
    handle = ui.start_optuna_dashboard(storage, port=ui.free_port())
    try:
        ui.wait_ready(handle, timeout=60)
        (summary,) = _get(f"{handle.url}/api/studies")["study_summaries"]
        detail = _get(f"{handle.url}/api/studies/{summary['study_id']}")
    finally:
        ui.stop(handle)
    assert detail["objective_names"] == ["win_rate"]
    trials = {t["number"]: (t["state"], t["constraints"]) for t in detail["trials"]}
    assert trials[0][0] == "Complete" and all(c <= 0 for c in trials[0][1])
    assert trials[1][0] == "Pruned" and trials[1][1] and all(c <= 0 for c in trials[1][1])  # feasible
    assert trials[2][0] == "Complete" and trials[2][1][0] > 0  # the dashboard's "(infeasible)" is for this one


def test_cli_serves_both_and_stops_on_ctrl_c(studies: FixtureStudies) -> None:
    port, optuna_port = ui.free_port(), ui.free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # ALIGNLAB_STUDIES: the studies fixture's root
    cmd = [sys.executable, "-m", "alignlab.cli", "ui", "--port", str(port), "--optuna", DPO_STUDY]
    proc = subprocess.Popen(
        [*cmd, "--optuna-port", str(optuna_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]  # printed once both answer
        view = "runs?workflowType=machine_learning&viewStateShareKey=alignlab-trials"
        exp = studies.experiment_ids
        assert lines == [
            f"MLflow UI:        http://127.0.0.1:{port}/#/experiments?workflowType=machine_learning\n",
            f"  {MIX_STUDY}: http://127.0.0.1:{port}/#/experiments/{exp[MIX_STUDY]}/{view}\n",  # newest first
            f"  {DPO_STUDY}: http://127.0.0.1:{port}/#/experiments/{exp[DPO_STUDY]}/{view}\n",
            f"optuna-dashboard: http://127.0.0.1:{optuna_port}/dashboard/studies/1\n",
        ]
        for url in (f"http://127.0.0.1:{port}/health", f"http://127.0.0.1:{optuna_port}/api/studies"):
            with urllib.request.urlopen(url, timeout=5) as resp:
                assert resp.status == 200
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopping" in err
    assert not ui.port_in_use(port) and not ui.port_in_use(optuna_port)
