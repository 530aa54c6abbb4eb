"""Serving the MLflow UI and optuna-dashboard on localhost: start, wait until ready, stop.

Each server runs in its own process group (so stopping it stops its workers too), with its output in
a log file whose tail is quoted when it fails to start. Ports are checked before anything starts: a
busy port raises UserInputError ("port 5000 is in use; pass --port").

The MLflow server runs light: ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`` (no job runner: about
0.5 GB instead of 2.25 GB) and one worker unless asked otherwise.

What to open (:func:`mlflow_pages`, :func:`dashboard_study_url`): MLflow's experiments list and each study's
saved view of its trials in the model-training view (alignlab.run.mlflow_view), and the study's page in
optuna-dashboard.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alignlab.errors import UserInputError
from alignlab.paths import default_tracking_uri
from alignlab.run.mlflow_view import experiment_url
from alignlab.run.stores import absolute_sqlite, sqlite_path

HOST = "127.0.0.1"


@dataclass
class ServerHandle:
    """A started server: its process (the leader of its own process group), address and log."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    ready_url: str
    """The address polled until it answers 200."""
    log_path: Path

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, n_lines: int = 15) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n_lines:])


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether something listens on ``host:port`` (a bind test; TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def free_port(host: str = HOST) -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_ports(ports: Sequence[tuple[int, str]], host: str = HOST) -> None:
    """Raise UserInputError naming each busy port: ``[(port, option name), ...]``."""
    problems = [f"port {port} is in use; pass {option}" for port, option in ports if port_in_use(port, host)]
    if len({p for p, _ in ports}) < len(ports):
        problems.append(f"the ports must differ, but got {', '.join(str(p) for p, _ in ports)}")
    if problems:
        raise UserInputError(problems)


def _log_file(name: str, log_dir: str | Path | None) -> Path:
    directory = Path(log_dir) if log_dir is not None else Path(tempfile.gettempdir())
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"alignlab-{name}-{os.getpid()}-{int(time.time())}.log"


def _spawn(
    name: str, cmd: list[str], *, url: str, ready_url: str, env: dict[str, str], log_dir: str | Path | None
) -> ServerHandle:
    log_path = _log_file(name, log_dir)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return ServerHandle(name=name, process=process, url=url, ready_url=ready_url, log_path=log_path)


def _script(name: str) -> str:
    """A console script of the running environment (beside sys.executable), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else name


def start_mlflow(
    *,
    tracking_uri: str | None = None,
    port: int = 5000,
    host: str = HOST,
    workers: int = 1,
    log_dir: str | Path | None = None,
) -> ServerHandle:
    """Start ``mlflow server`` over a backend store (default: the shared store under studies/).

    Checks the port first. Returns at once; call :func:`wait_ready`. A missing SQLite store is
    created by the server (empty) as MLflow always does.
    """
    check_ports([(port, "--port")], host)
    store = absolute_sqlite(tracking_uri or default_tracking_uri())
    path = sqlite_path(store)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    artifacts = (path.parent if path is not None else Path.cwd()) / "mlartifacts"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        store,
        "--artifacts-destination",
        str(artifacts),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONUNBUFFERED": "1"}
    url = f"http://{host}:{port}"
    return _spawn("mlflow", cmd, url=url, ready_url=f"{url}/health", env=env, log_dir=log_dir)


def start_optuna_dashboard(
    storage: str, *, port: int = 8080, host: str = HOST, log_dir: str | Path | None = None
) -> ServerHandle:
    """Start ``optuna-dashboard`` over an Optuna storage URL. Checks the port first."""
    check_ports([(port, "--optuna-port")], host)
    url = f"http://{host}:{port}"
    cmd = [_script("optuna-dashboard"), absolute_sqlite(storage), "--host", host, "--port", str(port)]
    return _spawn(
        "optuna-dashboard",
        cmd,
        url=url,
        ready_url=f"{url}/api/studies",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        log_dir=log_dir,
    )


def wait_ready(handle: ServerHandle, *, timeout: float = 90.0, interval: float = 0.25) -> float:
    """Poll the server until it answers HTTP 200; returns the seconds waited.

    Raises RuntimeError (with the tail of its log) when the process exits first or time runs out.
    """
    start = time.monotonic()
    while True:
        code = handle.process.poll()
        if code is not None:
            raise RuntimeError(
                f"{handle.name} exited with code {code} before it was ready; log {handle.log_path}:\n"
                + handle.log_tail()
            )
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, OSError),
            urllib.request.urlopen(handle.ready_url, timeout=2) as resp,
        ):
            if resp.status == 200:
                return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise RuntimeError(
                f"{handle.name} did not answer at {handle.ready_url} within {timeout:.0f} s; "
                f"log {handle.log_path}:\n" + handle.log_tail()
            )
        time.sleep(interval)


def _signal_group(handle: ServerHandle, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(handle.process.pid, sig)


def stop(handle: ServerHandle, *, timeout: float = 10.0) -> int | None:
    """Stop a server and its process group: SIGTERM, then SIGKILL after ``timeout``. Returns its exit code."""
    stop_all([handle], timeout=timeout)
    return handle.process.returncode


def stop_all(handles: Sequence[ServerHandle], *, timeout: float = 10.0) -> None:
    """Stop servers and their process groups: SIGTERM to all, wait up to ``timeout``, then SIGKILL."""
    for handle in handles:
        if handle.process.poll() is None:
            _signal_group(handle, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for handle in handles:
        try:
            handle.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(handle, signal.SIGKILL)
            handle.process.wait(timeout=5)
        # Workers can outlive their leader: clear what is left of the group.
        _signal_group(handle, signal.SIGKILL)


def mlflow_pages(url: str, *, tracking_uri: str | None = None) -> list[tuple[str, str]]:
    """(label, address) of what to open in the MLflow UI at ``url``: the experiments list, then each study's
    saved view of its trials, newest study first, all in the model-training view. Reads the store
    (default: the shared one under studies/)."""
    from alignlab.run import tracking

    store = absolute_sqlite(tracking_uri or default_tracking_uri())
    pages = [("experiments", f"{url.rstrip('/')}/#/experiments?workflowType=machine_learning")]
    return pages + [(name, experiment_url(url, eid)) for name, eid in tracking.study_views(store)]


def dashboard_study_url(handle: ServerHandle, study_name: str) -> str:
    """The page of one study in a running optuna-dashboard (its id read from the dashboard's API)."""
    with urllib.request.urlopen(f"{handle.url}/api/studies", timeout=10) as resp:
        summaries = json.load(resp)["study_summaries"]
    ids = [s["study_id"] for s in summaries if s["study_name"] == study_name]
    return f"{handle.url}/dashboard/studies/{ids[0]}" if ids else handle.url
