"""Sweeps on many workers: real worker processes on real storages (SQLite, and a private PostgreSQL
cluster on 127.0.0.1: the ``postgres`` fixture), real MLflow stores, and an analytic trainer
(tests/worker_trainer.py) so a study of several processes runs in seconds.

What the issue asks, case by case: workers started at the same instant all run; finished trials ==
n_trials exactly; no two finished trials share params; a worker SIGKILLed mid-trial has its trial
retried with the same params and nothing counted twice; every MLflow run ends in a final state and the
parent's best tags match the study; Ctrl-C stops local workers cleanly; a password in the storage or
tracking URL appears nowhere (stdout, stderr, the studies folder, the MLflow store, the Optuna
attributes); compare, report, best and status read a PostgreSQL study.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from pg_cluster import PostgresCluster
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import UserInputError
from alignlab.sweep import catalog, records, secrets
from alignlab.sweep.checks import parse_sweep
from alignlab.sweep.claims import worker_seed
from alignlab.sweep.storage import connection_error, driver_problems, open_storage
from alignlab.sweep.workers import describe, parse_workers, plan_workers, worker_command

TESTS = Path(__file__).resolve().parent
WORKER = [sys.executable, str(TESTS / "worker_trainer.py")]


def sweep_raw(name: str, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": name,
        "algorithm": "dpo",
        "model": "builtin:tiny-sft",
        "data": {"task": "builtin"},
        "fixed": {"max_steps": 10},
        "search": {
            "beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
            "learning_rate": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
        },
        "objectives": [{"metric": "win_rate", "direction": "maximize"}],
        "sampler": {"type": "tpe", "n_startup_trials": 3},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 8},
        "heartbeat": {"interval_s": 1, "grace_s": 2},
        "enqueue": [{"beta": 0.1, "learning_rate": 1e-4}],
    }
    raw.update(overrides)
    return raw


def write_sweep(folder: Path, name: str, **overrides: Any) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep_raw(name, **overrides)))
    return path


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker process: the test's (conftest's studies_root set it up), tests/ on the
    Python path for worker_trainer, short steps, one thread."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "ALIGNLAB_TEST_STEP_S": "0.1",
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def load(name: str, url: str) -> Any:
    import optuna

    return optuna.load_study(study_name=name, storage=open_storage(url))


def mlflow_runs(tracking_uri: str, experiment: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    return list(client.search_runs([exp.experiment_id], max_results=1000))


def assert_consistent(name: str, url: str, tracking_uri: str, n_trials: int) -> Any:
    """Exactly n_trials finished, distinct params, nothing left running, MLflow final, best tags right."""
    from alignlab.sweep.best import select_best

    study = load(name, url)
    trials = study.get_trials()
    finished = [t for t in trials if records.counts(t)]
    assert len(finished) == n_trials, [(t.number, t.state.name) for t in trials]
    keys = [tuple(sorted(t.params.items())) for t in finished]
    assert len(set(keys)) == len(keys), keys  # no repeats (the enqueued default is one of them, once)
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    runs = mlflow_runs(tracking_uri, name)
    assert {r.info.status for r in runs} <= {"FINISHED", "FAILED", "KILLED"}, [
        (r.info.run_name, r.info.status) for r in runs
    ]
    parents = [r for r in runs if r.data.tags.get("alignlab.role") == "study"]
    assert len(parents) == 1
    best = select_best(records.read_study(study, name=name, storage_url=url))
    assert best is not None and parents[0].data.tags["best.trial_number"] == str(best.number)
    by_number = {r.data.tags["alignlab.trial_number"]: r for r in runs if "alignlab.trial_number" in r.data.tags}
    for t in finished:
        assert by_number[str(t.number)].data.tags["alignlab.trial_state"] == t.state.name
    return study


def running_trials(url: str, name: str) -> dict[int, Any]:
    """The RUNNING trials of the study by the pid of their worker ({} before the study exists)."""
    try:
        study = load(name, url)
    except (KeyError, UserInputError):
        return {}
    out = {}
    for t in study.get_trials(deepcopy=False):
        worker = str(t.user_attrs.get("worker", ""))
        if t.state.name == "RUNNING" and ":" in worker:
            out[int(worker.split(":")[1].split("#")[0])] = t
    return out


def training(tracking_uri: str, experiment: str, number: int) -> bool:
    """Whether trial ``number`` has a RUNNING MLflow run that started less than 2 s ago (of a 3 s trial) and
    holds its config.yaml: the runner logs it just after creating the run, so a kill between the two would
    leave a run without it (a race of the test, not a fault of the runner)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return False
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`alignlab.trial_number` = '{number}'")
    now_ms = time.time() * 1000
    return any(
        r.info.status == "RUNNING"
        and now_ms - r.info.start_time < 2000
        and "config.yaml" in {a.path for a in client.list_artifacts(r.info.run_id)}
        for r in runs
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared' / 'optuna.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"optuna_{os.getpid()}_{time.monotonic_ns()}")


def test_four_workers_at_once_one_killed_finish_exactly_n_distinct_trials(
    storage: str, studies_root: Path, tmp_path: Path
) -> None:
    root = studies_root
    spec = write_sweep(tmp_path, "many")
    env = worker_env(ALIGNLAB_TEST_STEP_S="0.3")  # 3 s trials: a kill lands mid-trial
    workers = [
        subprocess.Popen([*WORKER, str(spec), storage], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]  # started at the same instant: they race to create the study, the MLflow store and its experiment
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    killed, victim = None, None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        time.sleep(0.2)
        running = running_trials(storage, "many")
        for w in workers:
            trial = running.get(w.pid)
            if trial is not None and training(tracking_uri, "many", trial.number):
                killed, victim = trial, w
                victim.kill()  # SIGKILL mid-trial: no cleanup at all
                break
    assert victim is not None and killed is not None, "no worker was seen training a trial"
    victim.wait()
    workers.remove(victim)
    outputs = [w.communicate(timeout=120) for w in workers]
    for w, (out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err.decode()[-2000:]
        assert b"finished 8" in out

    study = assert_consistent("many", storage, tracking_uri, 8)
    dead = next(t for t in study.get_trials() if t.number == killed.number)
    assert dead.state.name == "FAIL" and "fail_reason" not in dead.user_attrs  # not counted
    retry = next(t for t in study.get_trials() if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state.name == "COMPLETE" and retry.params == dead.params
    run = next(
        r for r in mlflow_runs(tracking_uri, "many")
        if r.data.tags.get("alignlab.trial_number") == str(killed.number)
    )  # fmt: skip
    assert run.info.status == "KILLED" and run.data.tags["alignlab.trial_state"] == "FAIL"
    assert "heartbeats" in run.data.tags["alignlab.reason"]
    assert study.user_attrs["workers_joined"] == 4
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    assert artifacts.is_relative_to(root / "many" / "mlartifacts") and (artifacts / "config.yaml").is_file()


def test_local_workers_on_postgresql_never_show_the_password(
    postgres: PostgresCluster, studies_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sweep run --workers 2`` with the password in the sweep file's storage and tracking URLs (MLflow
    on PostgreSQL too); then every reading command, with the password from $PGPASSWORD."""
    storage = postgres.create_database(f"optuna_secret_{os.getpid()}")
    tracking = postgres.create_database(f"mlflow_secret_{os.getpid()}")
    root = studies_root
    spec = write_sweep(tmp_path, "secret", storage=storage, tracking_uri=tracking, budget={"n_trials": 4})
    cli = [sys.executable, "-m", "alignlab.cli"]
    env = worker_env()
    run = subprocess.run(
        [*cli, "sweep", "run", str(spec), "--workers", "2", "--trainer", "worker_trainer:train", "--json"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout)
    assert outcome["n_finished"] == 4 and outcome["storage"] == postgres.url(storage.rsplit("/", 1)[1], password=False)
    assert "2 workers, 1 thread each" in run.stderr
    assert_consistent("secret", storage, tracking, 4)

    monkeypatch.setenv("PGPASSWORD", postgres.password)  # what readers connect with: the study folder has no password
    shown = [run.stdout, run.stderr]
    for args in (["sweep", "status", "secret"], ["best", "secret", "--json"], ["compare", "secret"], ["report", "secret"]):
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, (args, done.output)
        shown += [done.stdout, done.stderr]
    assert "secret: 4 of 4 finished" in shown[2]
    written = [p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file()]
    assert (root / "secret" / "report.html").is_file() and any("mlartifacts" in str(p) for p in root.rglob("*"))
    stores = [postgres.dump_text(storage.rsplit("/", 1)[1]), postgres.dump_text(tracking.rsplit("/", 1)[1])]
    for text in shown + written + stores:
        assert postgres.password not in text
    assert "alignlab@127.0.0.1" in stores[0]  # the URL is recorded, without the password

    monkeypatch.setenv("PGPASSWORD", "wrong")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    failed = CliRunner().invoke(app, ["best", "secret"])
    (line,) = failed.stderr.strip().splitlines()
    assert failed.exit_code == 2 and f"cannot connect to 127.0.0.1:{postgres.port}" in line
    assert "PGPASSWORD" in line and postgres.password not in line


@pytest.mark.slow  # three CLI processes that each import TRL to validate the sweep: about 30 s
def test_ctrl_c_stops_local_workers_cleanly_and_the_study_resumes_exactly(studies_root: Path, tmp_path: Path) -> None:
    root = studies_root
    spec = write_sweep(tmp_path, "stopped", fixed={"max_steps": 40}, budget={"n_trials": 4})
    env = worker_env()
    cli = [sys.executable, "-m", "alignlab.cli", "sweep", "run", str(spec), "--trainer", "worker_trainer:train"]
    launcher = subprocess.Popen(
        [*cli, "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    url = f"sqlite:///{root / 'stopped' / 'optuna.db'}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            running = [t for t in load("stopped", url).get_trials() if t.state.name == "RUNNING"]
        except KeyError:  # the study is not created yet
            continue
        if len(running) == 2:
            break
    else:
        raise AssertionError("the two workers never ran a trial each")
    os.killpg(launcher.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    launcher.communicate(timeout=60)
    assert launcher.returncode != 0
    study = load("stopped", url)
    states = [t.state.name for t in study.get_trials()]
    assert "RUNNING" not in states and states.count("WAITING") == 2  # both trials queued for a retry
    runs = mlflow_runs(f"sqlite:///{root / 'mlflow.db'}", "stopped")
    assert "RUNNING" not in {r.info.status for r in runs}

    resumed = subprocess.run([*WORKER, str(spec)], env=env, capture_output=True, text=True, timeout=180, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    study = assert_consistent("stopped", url, f"sqlite:///{root / 'mlflow.db'}", 4)
    retried = [t for t in study.get_trials() if "failed_trial" in t.system_attrs]
    assert len(retried) == 2 and all(t.state.name == "COMPLETE" for t in retried)


# ---- the pieces, in process ---------------------------------------------------------------------------


def test_one_worker_with_a_seed_is_reproducible_and_later_workers_draw_elsewhere(
    studies_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker_trainer import train

    from alignlab.sweep.study import run_sweep

    monkeypatch.setenv("ALIGNLAB_TEST_STEP_S", "0")
    spec = parse_sweep(
        sweep_raw("seeded", sampler={"type": "random"}, budget={"n_trials": 3}, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}"),
        check_trl=False,
    )
    drawn = []
    for run in ("a", "b"):  # two roots, two fresh studies of one name: the same seed draws the same params
        monkeypatch.setenv("ALIGNLAB_STUDIES", str(studies_root / run))
        run_sweep(spec, train=train)
        drawn.append([t.params for t in catalog.open_study("seeded").study.get_trials()])
    assert drawn[0] == drawn[1]
    run_sweep(spec, n_trials=5, train=train)  # a second worker joins: its own seed, new params
    params = [t.params for t in catalog.open_study("seeded").study.get_trials()]
    assert len(params) == 5 and len({tuple(sorted(p.items())) for p in params}) == 5
    assert worker_seed(0, 0) == 0 and len({worker_seed(0, k) for k in range(50)}) == 50


def test_a_small_space_never_repeats_and_a_too_small_one_is_refused(
    studies_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker_trainer import train

    from alignlab.sweep.study import run_sweep

    monkeypatch.setenv("ALIGNLAB_TEST_STEP_S", "0")
    space = {
        "beta": {"type": "categorical", "choices": [0.05, 0.1, 0.3]},
        "learning_rate": {"type": "categorical", "choices": [1e-5, 1e-4]},
    }
    raw = sweep_raw("small", search=space, budget={"n_trials": 6}, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    outcome = run_sweep(parse_sweep(raw, check_trl=False), train=train)
    trials = records.trial_records(catalog.open_study("small"))
    assert outcome.n_finished == 6 and len({tuple(sorted(t.params.items())) for t in trials}) == 6
    with pytest.raises(UserInputError, match="the search space has 6 distinct configurations, but got n_trials=7"):
        parse_sweep({**raw, "budget": {"n_trials": 7}}, where="small.yaml", check_trl=False)


@pytest.mark.parametrize(
    ("url", "masked", "stripped"),
    [
        ("postgresql://al:s3cr%40t@db:5432/x", "postgresql://al:***@db:5432/x", "postgresql://al@db:5432/x"),
        ("postgresql://al@db/x", "postgresql://al@db/x", "postgresql://al@db/x"),
        ("https://mlflow:5000/?token=abc123", "https://mlflow:5000/?token=***", "https://mlflow:5000/"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_secrets_are_masked_for_display_and_stripped_for_storage(url: str, masked: str, stripped: str) -> None:
    assert secrets.mask(url) == masked and secrets.strip(url) == stripped
    for secret in secrets.secrets_of(url):
        assert secret not in secrets.mask_text(f"error: could not reach {url} ({secret})")


def test_storage_problems_name_the_driver_and_the_host_and_port_never_the_password() -> None:
    import socket

    assert driver_problems("postgres://u:pw@h/db", where="storage") == [
        "storage: postgres://u:***@h/db: write postgresql://, not postgres:// (SQLAlchemy's name for it)"
    ]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(UserInputError) as caught:
        open_storage(f"postgresql://al:hunter2@127.0.0.1:{port}/studies")
    (line,) = caught.value.problems
    assert line.startswith(f"storage postgresql://al:***@127.0.0.1:{port}/studies: cannot connect to 127.0.0.1:{port}: ")
    assert "hunter2" not in line
    assert "hunter2" not in str(connection_error("postgresql://al:hunter2@h/x", RuntimeError("x hunter2")))


@pytest.mark.parametrize(
    ("workers", "cpus", "gpus", "remaining", "expected"),
    [
        ("auto", 2, [], 12, "2 workers, 1 thread each"),
        ("auto", 16, [], 3, "3 workers, 5 threads each"),  # no more workers than trials left
        ("auto", 16, ["0", "1", "2", "3"], 12, "4 workers on GPU 0, 1, 2, 3, 4 CPU thread(s) each"),
        ("2", 8, [], 12, "2 workers, 4 threads each"),
        ("1", 2, [], 12, "1 worker, 2 threads each"),
    ],
)
def test_plan_workers_splits_gpus_and_cores(
    workers: str, cpus: int, gpus: list[str], remaining: int, expected: str
) -> None:
    plans = plan_workers(parse_workers(workers), remaining=remaining, cpus=cpus, gpus=gpus)
    assert describe(plans) == expected
    assert all(p.env["OMP_NUM_THREADS"] == str(p.threads) for p in plans)
    assert [p.env.get("CUDA_VISIBLE_DEVICES") for p in plans] == [p.gpu for p in plans]
    with pytest.raises(UserInputError, match="--workers: expected a positive number or auto, but got '0'"):
        parse_workers("0")


def test_worker_commands_carry_urls_in_the_environment_not_on_the_command_line() -> None:
    command, env = worker_command("s.yaml", storage="postgresql://u:pw@h/db", tracking_uri="http://u:pw@m:5000")
    assert not any("pw" in part for part in command)
    assert env == {"ALIGNLAB_STORAGE": "postgresql://u:pw@h/db", "ALIGNLAB_TRACKING_URI": "http://u:pw@m:5000"}
