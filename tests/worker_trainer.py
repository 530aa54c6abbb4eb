"""An analytic trainer for worker processes: ``alignlab sweep run SPEC --trainer worker_trainer:train``
(with ``tests/`` on PYTHONPATH). It is a trainer (alignlab.run.trainer.Trainer): the sweep's trial owns
the MLflow run (a nested run per trial, params, tags, the final status); it writes a loss curve to the
log the runner hands it and returns ``eval/<metric>`` values as a function of the params. Its "training"
is ``steps`` sleeps of ``ALIGNLAB_TEST_STEP_S`` seconds (default 0.05), so a study of real processes on
real storages runs in seconds and a worker can be killed mid-trial.
"""

from __future__ import annotations

import os
import time

from objectives import win_rate

from alignlab.run.config import RunConfig
from alignlab.run.trainer import NO_LOG, EvaluateHook, RunLog, RunResult, StepHook


def train(
    config: RunConfig,
    *,
    on_evaluate: EvaluateHook | None = None,
    on_step: StepHook | None = None,
    log: RunLog | None = None,
) -> RunResult:
    log = log or NO_LOG
    pause = float(os.environ.get("ALIGNLAB_TEST_STEP_S", "0.05"))
    max_steps = int(config.params.get("max_steps", 10))
    every = config.eval.every_n_steps or max_steps
    final = {"win_rate": win_rate(config.params), "kl": float(config.params.get("learning_rate", 1e-4)) * 1e4}
    started = time.monotonic()
    result = RunResult(config.name, config.algorithm, "completed", None, {}, max_steps, 0.0, None, None)
    for step in range(1, max_steps + 1):
        time.sleep(pause)
        log.metrics({"loss": 1.0 / step}, step=step)
        if on_step is not None:
            on_step(step, max_steps)
        if step % every == 0 and on_evaluate is not None:
            partial = {"win_rate": final["win_rate"] * step / max_steps}
            if on_evaluate(step, partial):
                result.status, result.reason, result.steps = "pruned", f"pruned at step {step}", step
                break
    if result.status == "completed":
        result.metrics = final
    result.runtime_s = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> None:
    """``python worker_trainer.py SPEC [STORAGE]``: one worker process running the sweep with :func:`train`
    (what ``alignlab sweep run SPEC --trainer worker_trainer:train`` does, without the CLI's TRL field
    check, which imports TRL: 4 s per process that a test of the study machinery does not need)."""
    import sys

    from alignlab.run.config import read_yaml
    from alignlab.sweep.checks import parse_sweep
    from alignlab.sweep.study import run_sweep

    args = sys.argv[1:] if argv is None else argv
    spec = parse_sweep(read_yaml(args[0]), where=args[0], check_trl=False)
    outcome = run_sweep(spec, storage=args[1] if len(args) > 1 else None, train=train)
    print(f"finished {outcome.n_finished} storage {outcome.storage}", flush=True)


if __name__ == "__main__":
    main()
