"""The quick start: the whole loop on the built-in task, on a laptop CPU, in minutes.

1. build the built-in task (tokenizer, tiny Llama, SFT policy) and its feedback data, cached;
2. recommend an algorithm for that data (alignlab.recommend);
3. run the quickstart sweep (sweeps/quickstart.yaml: DPO beta and learning rate, the literature
   default enqueued first) as an Optuna study with every trial in MLflow, on local worker processes
   where they pay (:func:`sweep_workers`);
4. compare the best configuration with the literature default on the gold reward, and say whether the
   best beats it beyond noise (the paired bootstrap difference over the held-out prompts,
   alignlab.sweep.noise).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError

if TYPE_CHECKING:
    from alignlab.sweep.best import BestTrial
    from alignlab.sweep.noise import Versus
    from alignlab.sweep.records import StudyRecord

#: The shipped quickstart sweep (in the source tree; the README installs alignlab editable).
QUICKSTART_SWEEP = Path(__file__).resolve().parents[1] / "sweeps" / "quickstart.yaml"


@dataclass
class Comparison:
    """The best trial against the enqueued literature default, on the gold reward."""

    best_number: int
    baseline_number: int | None
    best: dict[str, float]
    baseline: dict[str, float]
    best_params: dict[str, Any]
    baseline_params: dict[str, Any]
    versus: Versus | None = None
    """The best against the default on the study's first objective, with their paired difference."""

    @property
    def improved(self) -> bool | None:
        if not self.baseline:
            return None
        return self.best.get("win_rate", 0.0) > self.baseline.get("win_rate", 0.0)


def sweep_path() -> Path:
    if not QUICKSTART_SWEEP.is_file():
        raise UserInputError(
            f"{QUICKSTART_SWEEP}: the quickstart sweep file is missing (install alignlab from its source tree)"
        )
    return QUICKSTART_SWEEP


#: Workers pay once a machine has this many cores (or 2+ GPUs) and this many trials are left: each
#: worker process pays its own imports (docs/benchmarks.md, "Sweeps on several workers").
MIN_CORES_FOR_WORKERS = 2
MIN_TRIALS_FOR_WORKERS = 4
WHY_ONE_PROCESS = f"1 worker: workers pay from {MIN_CORES_FOR_WORKERS} cores and {MIN_TRIALS_FOR_WORKERS} trials left"


def sweep_workers(
    remaining: int, *, workers: str = "auto", cpus: int | None = None, gpus: list[str] | None = None
) -> list[Any]:
    """The local workers for the quick start's sweep (alignlab.sweep.workers plans), or [] to run it in
    this process. ``auto``: one per GPU, else one per core, when there are enough of them and of trials
    left; a number: that many (1 = this process)."""
    from alignlab.sweep.workers import cpu_count, parse_workers, plan_workers, visible_gpus

    wanted = parse_workers(workers)
    cpus = cpu_count() if cpus is None else cpus
    gpus = visible_gpus() if gpus is None else gpus
    if wanted == "auto" and (
        remaining < MIN_TRIALS_FOR_WORKERS or (len(gpus) < 2 and cpus < MIN_CORES_FOR_WORKERS)
    ):
        return []
    plans = plan_workers(wanted, remaining=remaining, cpus=cpus, gpus=gpus)
    return plans if len(plans) > 1 else []


def trials_left(name: str, budget: int) -> int:
    """Trials the study still needs to reach ``budget`` (all of them for a new study)."""
    from alignlab.sweep.catalog import open_study
    from alignlab.sweep.records import finished_count

    try:
        return max(0, budget - finished_count(open_study(name).study))
    except UserInputError:
        return budget


def build_task(on_build: Callable[[str], None] | None = None) -> Any:
    """Build (or find cached) the built-in task and its feedback data; returns its TaskAssets."""
    from alignlab.paths import cache_dir
    from alignlab.run.training import quiet_libraries
    from alignlab.task import ensure_task_assets

    quiet_libraries()
    return ensure_task_assets(cache_dir(), on_build=on_build)


def recommend_for_task(assets: Any) -> Any:
    """The recommendation for the task's pairwise feedback, a tiny model, and no GPU."""
    from alignlab.data import load_feedback, profile_feedback
    from alignlab.recommend import parse_model, recommend, situation_from_profile

    data = load_feedback(assets.feedback["pairwise"])
    profile = profile_feedback(data)
    situation = situation_from_profile(
        profile, model=parse_model("builtin:tiny-sft"), model_ref="builtin:tiny-sft"
    )
    return recommend(situation)


def reset_study(name: str, tracking_uri: str | None = None) -> None:
    """Forget a study (its Optuna storage, trial outputs and MLflow runs) so the quick start runs from
    scratch and the MLflow store again holds one parent run with its trials."""
    from alignlab.paths import study_dir
    from alignlab.run import tracking

    folder = study_dir(name)
    if folder.exists():
        shutil.rmtree(folder)
    uri = tracking.resolve_tracking_uri(tracking_uri)
    if not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists():
        tracking.delete_study_runs(name, uri)  # never creates an empty SQLite store just to clear it


def compare_with_default(record: StudyRecord, best: BestTrial) -> Comparison:
    """The best trial against the study's enqueued default (the first complete enqueued trial)."""
    from alignlab.sweep.best import enqueued_baseline
    from alignlab.sweep.noise import versus
    from alignlab.sweep.records import trial_records

    trials = trial_records(record)
    baseline = enqueued_baseline(trials)
    chosen = next((t for t in trials if t.number == best.number), None)
    against = None
    if baseline is not None and chosen is not None and record.objectives:
        first = record.objectives[0]
        names = ("the best", "the default")  # the lines above name their trials
        against = versus(chosen, baseline, first.metric, maximize=first.maximize, names=names)
    return Comparison(
        best_number=best.number,
        baseline_number=baseline.number if baseline is not None else None,
        best=dict(best.metrics),
        baseline=dict(baseline.metrics) if baseline is not None else {},
        best_params=dict(best.params),
        baseline_params=dict(baseline.all_params) if baseline is not None else {},
        versus=against,
    )


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.0f}s"
