"""`alignlab ui` and alignlab.results.ui: busy ports are refused before anything starts; servers start and stop."""

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

import pytest
from study_fixture import DPO_STUDY, MIX_STUDY, FixtureStudies, built_studies, studies
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import UserInputError
from alignlab.results import ui

__all__ = ["built_studies", "studies"]  # fixtures, imported for pytest

runner = CliRunner()


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


def test_optuna_dashboard_starts_and_stops(studies: FixtureStudies, tmp_path: object) -> None:
    from alignlab.sweep.records import storage_url

    handle = ui.start_optuna_dashboard(storage_url(MIX_STUDY), port=ui.free_port())
    try:
        waited = ui.wait_ready(handle, timeout=60)
        assert waited < 60
        with urllib.request.urlopen(f"{handle.url}/api/studies", timeout=5) as resp:
            names = [s["study_name"] for s in json.load(resp)["study_summaries"]]
        assert names == [MIX_STUDY]
    finally:
        ui.stop(handle)
    assert not handle.running
    assert not ui.port_in_use(int(handle.url.rsplit(":", 1)[1]))


def test_wait_ready_reports_a_server_that_dies(tmp_path: object) -> None:
    handle = ui.start_optuna_dashboard("sqlite:////nonexistent/dir/x.db", port=ui.free_port())
    try:
        with pytest.raises(RuntimeError, match="optuna-dashboard exited with code"):
            ui.wait_ready(handle, timeout=60)
    finally:
        ui.stop(handle)


def test_cli_serves_both_and_stops_on_ctrl_c(studies: FixtureStudies) -> None:
    port, optuna_port = ui.free_port(), ui.free_port()
    env = {**os.environ, "ALIGNLAB_STUDIES": str(studies.root), "PYTHONUNBUFFERED": "1"}
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
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # printed once both answer
        assert lines == [
            f"MLflow UI:        http://127.0.0.1:{port}\n",
            f"optuna-dashboard: http://127.0.0.1:{optuna_port}\n",
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
