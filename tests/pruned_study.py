"""A small constrained study with a pruned trial, run by the real sweep runner (alignlab.sweep.study) over an
analytic trainer: what optuna-dashboard is checked against (tests/test_ui.py, tests/test_browser.py).

TPE with ``kl <= 1.5`` writes every complete and pruned trial's constraint values where optuna-dashboard
reads them. The trainer evaluates at steps 10, 20, 30, 40 (win rate and KL, as run_training's intermediate
evaluations do) and stops when the pruner says so, with that history in its result. The enqueued trials:
0 keeps the bound (kl 0.4), 1 is pruned at step 10, 2 breaks the bound (kl 2).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from alignlab.run.config import RunConfig
from alignlab.run.trainer import EvaluateHook, RunLog, RunResult, StepHook
from alignlab.sweep import catalog
from alignlab.sweep.checks import parse_sweep
from alignlab.sweep.study import run_sweep

NAME = "pruned"


def train(
    config: RunConfig,
    *,
    on_evaluate: EvaluateHook | None = None,
    on_step: StepHook | None = None,
    log: RunLog | None = None,
) -> RunResult:
    """A trainer (alignlab.run.trainer.Trainer) over an analytic objective (best at learning_rate 1e-4; KL
    grows with it); the sweep's trial owns its MLflow run."""
    lr = float(config.params["learning_rate"])
    final = {"win_rate": round(0.9 - 0.05 * (math.log10(lr) + 4) ** 2, 6), "kl": round(lr * 2e4, 6)}
    result = RunResult(config.name, config.algorithm, "completed", None, {}, 40, 0.01, None, None)
    for step in (10, 20, 30, 40):
        measured = {k: v * step / 40 for k, v in final.items()}
        result.history.append({"step": step, **measured})
        if on_evaluate is not None and on_evaluate(step, measured):
            result.status, result.reason, result.steps = "pruned", f"pruned at step {step}", step
            return result
    result.metrics = final
    return result


def build(root: Path) -> str:
    """Run the study under ``root`` (as ``ALIGNLAB_STUDIES``, set for the duration) and return its storage URL."""
    saved = os.environ.get("ALIGNLAB_STUDIES")
    os.environ["ALIGNLAB_STUDIES"] = str(root)
    try:
        spec = parse_sweep(
            {
                "name": NAME,
                "algorithm": "dpo",
                "model": "builtin:tiny-sft",
                "data": {"task": "builtin"},
                "fixed": {"max_steps": 40},
                "search": {"learning_rate": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True}},
                "objectives": [{"metric": "win_rate", "direction": "maximize"}],
                "constraints": [{"metric": "kl", "max": 1.5}],
                "sampler": {"type": "tpe", "n_startup_trials": 1},
                "pruner": {"type": "median", "n_startup_trials": 1},
                "budget": {"n_trials": 3},
                "enqueue": [{"learning_rate": 2e-5}, {"learning_rate": 1e-6}, {"learning_rate": 1e-4}],
                "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            },
            where=NAME,
            check_trl=False,
        )
        run_sweep(spec, train=train)
        return catalog.storage_url(NAME)
    finally:
        if saved is None:
            os.environ.pop("ALIGNLAB_STUDIES", None)
        else:
            os.environ["ALIGNLAB_STUDIES"] = saved
