"""What MLflow logging costs a quick-start trial: the same trial with tracking, with every trainer log
written at once (how alignlab logged before), and with no tracking at all, side by side in one process.

    python tests/benchmarks/bench_tracking.py [--steps 200] [--repeats 2] [--threads 1] [--store DIR]

The trial is the quick start's (sweeps/quickstart.yaml, its literature default: DPO with LoRA on the
built-in task, 200 steps, its cheap intermediate evaluations, the final one on 100 prompts x 4 samples), run with alignlab.run.training.run_training into a SQLite MLflow store on disk (``--store``,
default a temporary folder beside the current one; tmpfs would hide the commit cost). One warm-up trial
first (imports, model loading, the reference model's evaluation memo), then the modes in turn, repeated.

- ``kept logs`` is alignlab: the trainer's logs are kept and written with the next evaluation or the end
  (alignlab.run.metric_buffer), params and tags in one batch each.
- ``a write per log`` sets alignlab.run.metric_buffer.FLUSH_S to 0: every trainer log is its own write.
- ``no tracking`` swaps alignlab.run.tracking's writing functions for no-ops: the baseline.

"in tracking s" is the wall time spent inside alignlab.run.tracking's writing calls during the trial (the
direct measure: trial-to-trial noise is larger than the difference of two trial times); "writes" counts
MLflow ``log_batch`` calls (metrics, params, tags).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

#: alignlab.run.tracking's functions a run calls to write to MLflow.
WRITERS = ("end_run", "log_params", "log_metrics", "buffer_metrics", "set_tags", "log_text", "log_artifacts", "log_table")


class Meter:
    """Wall time inside tracking's writing calls, and MLflow log_batch calls, while ``installed``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.writes = 0
        self.by_call: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds += seconds
        self.by_call[name] = self.by_call.get(name, 0.0) + seconds

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - start)

        return wrapper

    @contextlib.contextmanager
    def installed(self, *, tracked: bool) -> Iterator[None]:
        from mlflow.tracking import MlflowClient

        from alignlab.run import tracking

        saved = {name: getattr(tracking, name) for name in (*WRITERS, "start_run")}
        saved_batch = MlflowClient.log_batch
        meter = self

        def counted(client: Any, *args: Any, **kwargs: Any) -> Any:
            meter.writes += 1
            return saved_batch(client, *args, **kwargs)

        @contextlib.contextmanager
        def timed_start(**kwargs: Any) -> Iterator[str]:
            start = time.perf_counter()
            with saved["start_run"](**kwargs) as run_id:
                self.add("start_run", time.perf_counter() - start)
                yield run_id
                start = time.perf_counter()
            self.add("start_run", time.perf_counter() - start)

        @contextlib.contextmanager
        def no_run(**kwargs: Any) -> Iterator[str]:
            yield "no-tracking"

        try:
            for name in WRITERS:
                setattr(tracking, name, self.timed(name, saved[name]) if tracked else (lambda *a, **k: None))
            tracking.start_run = timed_start if tracked else no_run  # type: ignore[assignment]
            MlflowClient.log_batch = counted  # type: ignore[method-assign]
            yield
        finally:
            for name, fn in saved.items():
                setattr(tracking, name, fn)
            MlflowClient.log_batch = saved_batch  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps of the trial (the quick start: 200)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a quick-start worker: 1 per core)")
    parser.add_argument("--store", type=Path, default=None, help="folder for the studies root and MLflow store")
    args = parser.parse_args()

    import os

    root = Path(tempfile.mkdtemp(prefix="alignlab-bench-tracking-", dir=args.store or Path.cwd()))
    os.environ["ALIGNLAB_STUDIES"] = str(root)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    import torch

    torch.set_num_threads(args.threads)
    from alignlab.quickstart import QUICKSTART_SWEEP
    from alignlab.run import metric_buffer
    from alignlab.run.training import run_training
    from alignlab.sweep.checks import load_sweep
    from alignlab.sweep.study import trial_config

    spec = load_sweep(QUICKSTART_SWEEP)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    default = dict(spec.enqueue[0])

    def trial(name: str) -> Any:
        config = trial_config(spec, "dpo", default, 0, tracking_uri=uri)
        params = {**config.params, "max_steps": args.steps}
        return run_training(
            config.model_copy(update={"name": name, "experiment": "bench-tracking", "params": params}),
            on_evaluate=lambda step, metrics: False,  # as a sweep trial: the intermediate evaluations run
        )

    trial("warm-up")
    modes = {"kept logs (alignlab)": (True, metric_buffer.FLUSH_S), "a write per log (before)": (True, 0.0)}
    modes["no tracking"] = (False, metric_buffer.FLUSH_S)
    results: dict[str, list[tuple[float, float, int]]] = {m: [] for m in modes}
    calls: dict[str, dict[str, list[float]]] = {m: {} for m in modes}
    loads = [os.getloadavg()[0]]
    for repeat in range(args.repeats):
        order = list(modes)[repeat % len(modes) :] + list(modes)[: repeat % len(modes)]  # no mode always last
        for mode in order:
            tracked, flush_s = modes[mode]
            meter = Meter()
            metric_buffer.FLUSH_S = flush_s
            with meter.installed(tracked=tracked):
                start = time.perf_counter()
                result = trial(f"bench-{repeat}-{mode.split()[0]}")
                wall = time.perf_counter() - start
            assert result.status == "completed", result.reason
            results[mode].append((wall, meter.seconds, meter.writes))
            for name, seconds in meter.by_call.items():
                calls[mode].setdefault(name, []).append(seconds)
    loads.append(os.getloadavg()[0])
    base = statistics.median(w for w, _, _ in results["no tracking"])
    rows = []
    for mode, runs in results.items():
        wall = statistics.median(w for w, _, _ in runs)
        inside = statistics.median(s for _, s, _ in runs)
        writes = statistics.median(n for _, _, n in runs)
        share = f"{100 * inside / wall:.2f}%" if mode != "no tracking" else "-"
        rows.append([mode, len(runs), round(wall, 2), round(wall / base, 4), round(inside, 3), share, int(writes)])
    print_table(
        f"MLflow logging cost of a quick-start trial ({args.steps} steps, SQLite store on disk, median of "
        f"{args.repeats}; load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end)",
        ["mode", "trials", "trial s", "vs no tracking", "in tracking s", "tracking share", "writes"],
        rows,
    )
    names = sorted({n for m in calls.values() for n in m}, key=lambda n: -statistics.median(calls[next(iter(modes))].get(n, [0.0])))
    tracked_modes = [m for m, (tracked, _) in modes.items() if tracked]
    print_table(
        "Where the time in tracking goes (median seconds per trial)",
        ["call", *tracked_modes],
        [[n, *(round(statistics.median(calls[m].get(n, [0.0])), 3) for m in tracked_modes)] for n in names],
    )


if __name__ == "__main__":
    main()
