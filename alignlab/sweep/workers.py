"""Local workers: ``alignlab sweep run SPEC --workers N|auto`` runs N worker processes on this machine.

Each worker is a plain ``alignlab sweep run SPEC --events`` process (the same as one started by hand
on another machine) joined to the study through its storage (alignlab.sweep.claims). This module plans
them and runs them:

- :func:`plan_workers`: ``auto`` is one worker per visible GPU, each pinned with
  ``CUDA_VISIBLE_DEVICES``; on a machine without a GPU, one per CPU core (no more than trials are
  left). The cores are split between the workers and torch's threads set to match
  (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``): several workers with torch's default threads oversubscribe
  the cores (a 2.5 CPU-minute trial took 16 minutes).
- :func:`run_workers`: starts them at one instant, reads each one's events (JSON lines on its stdout)
  into one callback for a single live view, keeps each one's stderr in studies/NAME/workers/K.log, and
  waits. Ctrl-C (or SIGTERM) reaches every worker: each ends its trial cleanly (FAIL, retried with the
  same params on the next run), so the study stays consistent; a worker that does not stop in
  :data:`STOP_GRACE_S` is killed, and its trial is retried once its heartbeat is stale.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from alignlab.errors import UserInputError

#: Seconds a stopped worker gets to end its trial before it is killed.
STOP_GRACE_S = 30.0

Workers = int | Literal["auto"]


@dataclass
class WorkerPlan:
    """One local worker: its number, the GPU it is pinned to (None: CPU), its threads and environment."""

    index: int
    gpu: str | None
    threads: int
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class WorkerEnd:
    """How a worker process ended."""

    index: int
    returncode: int
    log: Path
    last_error: str
    """The last ``error:`` line of its stderr, or its last line."""


def parse_workers(text: str) -> Workers:
    """``--workers``: a positive number or ``auto``."""
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UserInputError(f"--workers: expected a positive number or auto, but got {text!r}")
    return value


def cpu_count() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The CUDA devices this process sees: ``CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi -L``."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [d.strip() for d in given.split(",") if d.strip() and d.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def plan_workers(
    workers: Workers, *, remaining: int, cpus: int | None = None, gpus: Sequence[str] | None = None
) -> list[WorkerPlan]:
    """The local workers for ``--workers``: see the module docstring. ``remaining``: trials left to run."""
    cpus = cpu_count() if cpus is None else cpus
    gpus = visible_gpus() if gpus is None else list(gpus)
    if workers == "auto":
        n = len(gpus) if gpus else cpus
        n = max(1, min(n, remaining))
    else:
        n = workers
    threads = max(1, cpus // n)
    plans = []
    for i in range(n):
        gpu = gpus[i % len(gpus)] if gpus else None
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        plans.append(WorkerPlan(index=i, gpu=gpu, threads=threads, env=env))
    return plans


def describe(plans: Sequence[WorkerPlan]) -> str:
    """The plan in words: ``2 workers, 1 thread each`` or ``4 workers, one per GPU (0, 1, 2, 3)``."""
    n = len(plans)
    head = f"{n} worker{'s' if n != 1 else ''}"
    gpus = [p.gpu for p in plans if p.gpu is not None]
    if gpus:
        return f"{head} on GPU {', '.join(dict.fromkeys(gpus))}, {plans[0].threads} CPU thread(s) each"
    return f"{head}, {plans[0].threads} thread{'s' if plans[0].threads != 1 else ''} each"


def worker_command(
    spec_path: str | Path,
    *,
    storage: str | None = None,
    n_trials: int | None = None,
    tracking_uri: str | None = None,
    trainer: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command line and extra environment of one worker: ``alignlab sweep run SPEC --events`` with
    the shared options. The storage and tracking URLs travel in the environment (``ALIGNLAB_STORAGE``,
    ``ALIGNLAB_TRACKING_URI``), not on the command line, where ``ps`` would show their passwords."""
    cmd = [sys.executable, "-m", "alignlab.cli", "sweep", "run", str(spec_path), "--events"]
    if n_trials is not None:
        cmd += ["--n-trials", str(n_trials)]
    if trainer is not None:
        cmd += ["--trainer", trainer]
    env = {}
    if storage is not None:
        env["ALIGNLAB_STORAGE"] = storage
    if tracking_uri is not None:
        env["ALIGNLAB_TRACKING_URI"] = tracking_uri
    return cmd, env


def run_workers(
    command: Sequence[str],
    plans: Sequence[WorkerPlan],
    *,
    log_dir: Path,
    env: dict[str, str] | None = None,
    on_event: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[WorkerEnd]:
    """Start one process per plan running ``command`` with ``env`` and the plan's environment; wait for all.

    Each stdout line that is a JSON object is an event (``on_event(worker index, event)``); stderr
    goes to ``log_dir/<index>.log``. On KeyboardInterrupt every worker is stopped (SIGINT, then
    SIGKILL after :data:`STOP_GRACE_S`) before it is raised again.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: list[tuple[WorkerPlan, subprocess.Popen[str], Path]] = []
    readers = []
    lock = threading.Lock()
    for plan in plans:
        log = log_dir / f"{plan.index}.log"
        with log.open("w", encoding="utf-8") as err:
            process = subprocess.Popen(
                list(command),
                env={**os.environ, **(env or {}), **plan.env},
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        processes.append((plan, process, log))
        reader = threading.Thread(
            target=_read_events, args=(process, plan.index, on_event, lock), daemon=True
        )
        reader.start()
        readers.append(reader)
    try:
        for _, process, _ in processes:
            process.wait()
    except KeyboardInterrupt:
        _stop(processes)
        raise
    for reader in readers:
        reader.join(timeout=5)
    return [WorkerEnd(p.index, proc.returncode, log, _last_error(log)) for p, proc, log in processes]


def _read_events(
    process: subprocess.Popen[str],
    index: int,
    on_event: Callable[[int, dict[str, Any]], None] | None,
    lock: threading.Lock,
) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        line = line.strip()
        if not line.startswith("{") or on_event is None:
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        with lock:
            on_event(index, event)


def _stop(processes: Sequence[tuple[WorkerPlan, subprocess.Popen[str], Path]]) -> None:
    """Let every worker end its trial: a terminal's Ctrl-C reached them already; others get SIGINT."""
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(p.poll() is None for _, p, _ in processes):
        time.sleep(0.1)
    for _, process, _ in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for _, process, _ in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _last_error(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        return ""
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or [""])[-1]
