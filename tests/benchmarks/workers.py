"""Sweeps on several workers: the quick start's sweep with 1 worker against N, and the study's own
per-trial overhead on SQLite against PostgreSQL.

    python tests/benchmarks/workers.py [--n-trials 12] [--workers 2] [--skip-quickstart] [--overhead-trials 40]

1. ``alignlab sweep run sweeps/quickstart.yaml`` (real DPO trials on the built-in task) in a fresh
   studies root, once as one process with torch's default threads (all cores), once with ``--workers
   N`` (each worker ``cores / N`` threads): each with the threads it would use alone. Both run the same
   trials: the first run's sampled parameters are enqueued, in order, for the second. Wall seconds of
   the whole command (process start and imports included) and their ratio; the quick start runs its
   sweep the faster way (alignlab.quickstart.sweep_workers). The built-in task is unpacked once
   beforehand into a shared cache, so neither run pays for it. Run it on an idle machine: it prints the
   load average before and after.
2. The study machinery alone: ``run_sweep`` with a trainer that returns at once, so the time per trial
   is what claiming (the study lock, stale-heartbeat check, sampling, the repeat check), telling and
   the MLflow runs cost, on SQLite and on a private PostgreSQL cluster on 127.0.0.1 (Debian's
   postgresql, started as in tests/conftest.py). One worker, then 4 workers at once.

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TESTS = BENCH.parent
ROOT = TESTS.parent
sys.path[:0] = [str(BENCH), str(TESTS)]

from _report import print_table  # noqa: E402 (after the sys.path line)


def _trials(root: Path) -> list[object]:
    """The quickstart study's trials under ``root``, in trial order (optuna FrozenTrial)."""
    import optuna

    storage = f"sqlite:///{root / 'quickstart' / 'optuna.db'}"
    study = optuna.load_study(study_name="quickstart", storage=storage)
    return sorted(study.trials, key=lambda t: t.number)


def quickstart_walls(n_trials: int, workers: int, cache: Path) -> list[tuple[str, float, int, int]]:
    """(run, wall s, trials completed, trials pruned) for one process, then ``workers`` workers."""
    import yaml

    sweep = yaml.safe_load((ROOT / "sweeps" / "quickstart.yaml").read_text())
    rows: list[tuple[str, float, int, int]] = []
    for label, extra in (("1 process, default threads", []), (f"--workers {workers}", ["--workers", str(workers)])):
        root = Path(tempfile.mkdtemp(prefix="alignlab-bench-workers-"))
        spec = root / "quickstart.yaml"
        spec.write_text(yaml.safe_dump(sweep))
        env = {**os.environ, "ALIGNLAB_STUDIES": str(root), "ALIGNLAB_CACHE": str(cache)}
        env.pop("OMP_NUM_THREADS", None)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "alignlab.cli", "sweep", "run", str(spec), "--n-trials", str(n_trials), "--json", *extra],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        trials = _trials(root)
        states = [t.state.name for t in trials]  # type: ignore[attr-defined]
        rows.append((label, wall, states.count("COMPLETE"), states.count("PRUNED")))
        sweep = {**sweep, "enqueue": [dict(t.params) for t in trials]}  # type: ignore[attr-defined]
    return rows


def overhead(url: str, n_trials: int, workers: int, root: Path, label: str) -> tuple[str, int, int, float]:
    """Seconds per finished trial of a study whose trainer costs nothing."""
    import yaml

    name = f"overhead-{label}-{workers}"
    spec = root / f"{name}.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "algorithm": "dpo",
                "model": "builtin:tiny-sft",
                "data": {"task": "builtin"},
                "fixed": {"max_steps": 1},
                "search": {
                    "beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
                    "learning_rate": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
                },
                "objectives": [{"metric": "win_rate", "direction": "maximize"}],
                "sampler": {"type": "tpe"},
                "pruner": {"type": "none"},
                "budget": {"n_trials": 1},
            }
        )
    )
    env = {
        **os.environ,
        "ALIGNLAB_STUDIES": str(root / "studies"),
        "ALIGNLAB_TEST_STEP_S": "0",
        "PYTHONPATH": str(TESTS),
        "OMP_NUM_THREADS": "1",
    }
    warm = subprocess.run(  # creates the study and the MLflow experiment: not part of the per-trial cost
        [sys.executable, str(TESTS / "worker_trainer.py"), str(spec), url], env=env, capture_output=True, check=False
    )
    if warm.returncode != 0:
        raise SystemExit(warm.stderr.decode()[-3000:])
    raw = yaml.safe_load(spec.read_text())
    raw["budget"]["n_trials"] = 1 + n_trials  # the warm-up trial, then n_trials timed ones
    spec.write_text(yaml.safe_dump(raw))
    timed = [
        [sys.executable, "-c", _TIMED, str(TESTS), str(spec), url] for _ in range(workers)
    ]  # each worker times its own loop, after its imports
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in timed]
    outs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise SystemExit(err[-3000:])
    walls = [float(out.split()[-1]) for out, _ in outs]
    return label, workers, n_trials, max(walls) / n_trials


_TIMED = """
import sys, time
sys.path.insert(0, sys.argv[1])
from worker_trainer import train
from alignlab.run.config import read_yaml
from alignlab.sweep.checks import parse_sweep
from alignlab.sweep.study import run_sweep
spec = parse_sweep(read_yaml(sys.argv[2]), check_trl=False)
started = time.monotonic()
run_sweep(spec, storage=sys.argv[3], train=train)
print(time.monotonic() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-quickstart", action="store_true")
    parser.add_argument("--overhead-trials", type=int, default=40)
    args = parser.parse_args()

    cache = Path(tempfile.mkdtemp(prefix="alignlab-bench-cache-"))
    if not args.skip_quickstart:
        os.environ["ALIGNLAB_CACHE"] = str(cache)
        from alignlab.task import ensure_task_assets

        ensure_task_assets(cache)
        print(f"load average before: {os.getloadavg()}")
        rows = quickstart_walls(args.n_trials, args.workers, cache)
        print(f"load average after: {os.getloadavg()}")
        base = rows[0][1]
        print_table(
            f"quick start sweep, the same {args.n_trials} trials: 1 process against {args.workers} workers",
            ("run", "wall s", "completed", "pruned", "wall / 1 process"),
            [(label, round(wall, 1), c, p, round(wall / base, 3)) for label, wall, c, p in rows],
        )

    from pg_cluster import start_postgres, stop_postgres

    cluster, why = start_postgres()
    if cluster is None:
        raise SystemExit(f"PostgreSQL did not start: {why}")
    try:
        root = Path(tempfile.mkdtemp(prefix="alignlab-bench-overhead-"))
        rows2 = []
        for workers in (1, 4):
            sqlite = f"sqlite:///{root / f'optuna-{workers}.db'}"
            rows2.append(overhead(sqlite, args.overhead_trials, workers, root, "SQLite"))
            pg = cluster.create_database(f"overhead{workers}")
            rows2.append(overhead(pg, args.overhead_trials, workers, root, "PostgreSQL"))
        print_table(
            "study overhead per trial (a trainer that costs nothing; MLflow on SQLite)",
            ("storage", "workers", "trials", "wall s per trial"),
            [(s, w, n, round(t, 3)) for s, w, n, t in rows2],
        )
    finally:
        stop_postgres(cluster)


if __name__ == "__main__":
    main()
