"""Where the quick start's time goes: ``alignlab quickstart`` profiled, in one process and on workers.

    python tests/benchmarks/quickstart_profile.py [--workers 1 2 auto] [--build]

Each run is the README's ``alignlab quickstart`` in a fresh studies root and a fresh, empty cache (so
the built-in task is unpacked from the package, or built with ``--build``), with ``--workers N`` (``auto``:
the flag left out, the quick start's own choice; the only choice before the flag existed). Every
Python process of the run (the command and its worker processes) is profiled with cProfile (a
``sitecustomize`` on PYTHONPATH starts it and writes the profile at exit), and the profiles are summed.
The table gives the wall time of the command and, per part, the seconds summed over its processes:
with 2 workers the parts add up to about twice the wall time, since the workers run side by side. The
parts overlap where one runs inside another: an import made during a trial counts in both.

Parts: imports (every module's import, torch's included), the task (unpack or build), recommend,
``trainer.train()`` (the training steps, with the evaluations during training), the evaluations (all of
them: during training and the final one; count), the bootstrap (standard errors and the paired
difference), MLflow (every call alignlab makes into mlflow), Optuna (every call into optuna), adapter
saves. cProfile slows Python-heavy code, so the wall time is also taken without it (first row).

To measure another commit (the "before" figures), run this script with that commit's checkout first on
PYTHONPATH: ``git worktree add /tmp/before COMMIT; PYTHONPATH=/tmp/before python
tests/benchmarks/quickstart_profile.py``. Run it on an idle machine: it prints the load average.
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

SITECUSTOMIZE = """
import atexit, cProfile, os
_profile = cProfile.Profile()
_profile.enable()

def _dump():
    _profile.disable()
    _profile.dump_stats(os.path.join(os.environ["ALIGNLAB_PROFILE_DIR"], f"{os.getpid()}.prof"))

atexit.register(_dump)
"""

Key = tuple[str, int, str]


def _cum(stats: dict[Key, tuple], file_part: str, name: str) -> tuple[float, int]:
    """(cumulative seconds, calls) of the functions called ``name`` in files whose path has ``file_part``."""
    seconds, calls = 0.0, 0
    for (filename, _, func), (_, nc, _, ct, _) in stats.items():
        if func == name and file_part in filename:
            seconds, calls = seconds + ct, calls + nc
    return seconds, calls


def _calls(stats: dict[Key, tuple], callee_part: str, caller_part: str) -> float:
    """Seconds in calls from files whose path has ``caller_part`` into files with ``callee_part``."""
    total = 0.0
    for (filename, _, _), (_, _, _, _, callers) in stats.items():
        if callee_part not in filename:
            continue
        for (caller_file, _, _), (_, _, _, ct) in callers.items():
            if caller_part in caller_file and callee_part not in caller_file:
                total += ct
    return total


def _into(stats: dict[Key, tuple], package: str) -> float:
    """Seconds in calls alignlab makes into ``package``, less what ``package`` calls back into alignlab
    (Optuna's ``optimize`` runs the trial: that part is the trial's, not Optuna's)."""
    return _calls(stats, f"/{package}/", "/alignlab/") - _calls(stats, "/alignlab/", f"/{package}/")


def parts(profile_dir: Path) -> dict[str, str]:
    """Per part, seconds summed over the processes' profiles."""
    merged: pstats.Stats | None = None
    files = sorted(profile_dir.glob("*.prof"))
    for path in files:
        if merged is None:
            merged = pstats.Stats(str(path))
        else:
            merged.add(str(path))
    assert merged is not None, f"no profile written under {profile_dir}"
    stats = merged.stats  # type: ignore[attr-defined]
    imports, _ = _cum(stats, "importlib._bootstrap", "_find_and_load")
    task, _ = _cum(stats, "alignlab/task/build.py", "ensure_task_assets")
    recommend, _ = _cum(stats, "alignlab/quickstart.py", "recommend_for_task")
    train, n_train = _cum(stats, "transformers/trainer.py", "train")
    evals, n_evals = _cum(stats, "alignlab/run/evaluation.py", "evaluate_trained_policy")
    boot = _calls(stats, "uncertainty.py", "/alignlab/")  # every call into alignlab's uncertainty module
    saves, _ = _cum(stats, "alignlab/run/training.py", "_save_outputs")
    runs, n_runs = _cum(stats, "alignlab/run/runner.py", "run_tracked")  # the runner owns a trial's run
    if not n_runs:  # before alignlab.run.runner: run_training did
        runs, n_runs = _cum(stats, "alignlab/run/training.py", "run_training")
    return {
        "processes profiled": str(len(files)),
        "imports": f"{imports:.1f}",
        "task (unpack or build)": f"{task:.1f}",
        "recommend": f"{recommend:.1f}",
        "trials: run_training, whole": f"{runs:.1f} ({n_runs} trials)",
        "trainer.train() (evaluations during training included)": f"{train:.1f} ({n_train})",
        "evaluations, all": f"{evals:.1f} ({n_evals})",
        "bootstrap": f"{boot:.2f}",
        "MLflow calls": f"{_into(stats, 'mlflow'):.1f}",
        "Optuna calls": f"{_into(stats, 'optuna'):.1f}",
        "adapter saves": f"{saves:.1f}",
    }


def quickstart(workers: str, *, build: bool, profile: bool) -> tuple[float, Path | None]:
    """Wall seconds of one fresh quick start, and the folder of its profiles."""
    root = Path(tempfile.mkdtemp(prefix="alignlab-bench-qsprofile-"))
    env = {**os.environ, "ALIGNLAB_STUDIES": str(root / "studies"), "ALIGNLAB_CACHE": str(root / "cache")}
    env.pop("OMP_NUM_THREADS", None)
    profile_dir = None
    if profile:
        site = root / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        profile_dir = root / "profiles"
        profile_dir.mkdir()
        env["ALIGNLAB_PROFILE_DIR"] = str(profile_dir)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    if build:  # an empty prebuilt folder: nothing shipped matches, so the task is built
        env["ALIGNLAB_NO_PREBUILT_TASK"] = "1"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "alignlab.cli", "quickstart", *([] if workers == "auto" else ["--workers", workers])],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-3000:])
    return wall, profile_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", nargs="+", default=["1", "2"], help="numbers, or auto (the flag left out)")
    parser.add_argument("--build", action="store_true", help="build the task instead of unpacking it")
    args = parser.parse_args()
    import alignlab

    print(f"alignlab from {Path(alignlab.__file__).parent}; load average before: {os.getloadavg()}")
    columns: dict[str, dict[str, str]] = {}
    for workers in args.workers:
        wall, _ = quickstart(workers, build=args.build, profile=False)
        wall_profiled, profile_dir = quickstart(workers, build=args.build, profile=True)
        assert profile_dir is not None
        columns["workers: auto" if workers == "auto" else f"--workers {workers}"] = {
            "wall s, not profiled": f"{wall:.1f}",
            "wall s, profiled": f"{wall_profiled:.1f}",
            **parts(profile_dir),
        }
    print(f"load average after: {os.getloadavg()}")
    names = list(next(iter(columns.values())))
    print_table(
        f"alignlab quickstart, fresh cache ({'task built' if args.build else 'task unpacked'}): seconds per part, "
        "summed over processes",
        ("part", *columns),
        [(name, *(col[name] for col in columns.values())) for name in names],
    )


if __name__ == "__main__":
    main()
