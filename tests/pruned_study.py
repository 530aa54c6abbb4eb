"""A small constrained study with a pruned trial, run by the real sweep runner (alignlab.sweep.study) over an
analytic trainer: what optuna-dashboard is checked against (tests/test_ui.py, tests/test_browser.py).

TPE with ``kl <= 1.5`` writes every complete and pruned trial's constraint values where optuna-dashboard
reads them. The trainer evaluates at steps 10, 20, 30, 40 (win rate and KL, as run_training's intermediate
evaluations do) and stops when the pruner says so, with that history in its result. The enqueued trials:
0 keeps the bound (kl 0.4), 1 is pruned at step 10, 2 breaks the bound (kl 2).
"""

from __future__ import annotations

import os
from pathlib import Path

from objectives import win_rate

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
    """A trainer (alignlab.run.trainer.Trainer) over the analytic objective (tests/objectives.py: best at
    learning_rate 1e-4; KL grows with it); the sweep's trial owns its MLflow run."""
    lr = float(config.params["learning_rate"])
    final = {"win_rate": win_rate(config.params), "kl": round(lr * 2e4, 6)}
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
    """Run the study under ``root``, the test's studies root (conftest's ``studies_root``: ALIGNLAB_STUDIES
    points at it), and return its storage URL."""
    assert os.environ.get("ALIGNLAB_STUDIES") == str(root), "ALIGNLAB_STUDIES must point at root (studies_root)"
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
