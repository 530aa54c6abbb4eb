"""The runner: one trainer call inside the MLflow run it owns (what ``alignlab train`` and every sweep
trial do).

:func:`run_tracked` starts the run (nested under the active one, a study's parent run, if there is one)
with the ``alignlab.*`` tags of the config and the caller's, logs the params by their TRL names and
config.yaml, hands the trainer a :class:`~alignlab.run.trainer.RunLog` for its intermediate metrics and
its own tags, then logs the result (``eval/<metric>`` at the last step, ``time/<part>``, the
``eval_samples.json`` table, the ``outputs`` artifacts) and ends the run with its status: FINISHED,
KILLED (pruned) or FAILED, with ``alignlab.status``, ``alignlab.reason``, ``runtime_s`` and ``steps``.

The run is created at the trainer's first log call, or when it returns: bad input the trainer raises
before that (UserInputError) writes nothing. An exception that escapes the trainer afterwards ends the
run FAILED (KILLED for Ctrl-C) and propagates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alignlab.run import tracking
from alignlab.run.config import RunConfig
from alignlab.run.mlflow_view import mlflow_param_name
from alignlab.run.trainer import EvaluateHook, RunResult, StepHook, Trainer


def run_tracked(
    config: RunConfig,
    train: Trainer,
    *,
    on_evaluate: EvaluateHook | None = None,
    on_step: StepHook | None = None,
    tags: Mapping[str, str] | None = None,
) -> RunResult:
    """Run ``train(config)`` in an MLflow run of its own; see the module docstring. ``tags`` are added
    to the run's as given (a study's ``alignlab.study``, ``alignlab.trial_number``, ...)."""
    with contextlib.ExitStack() as stack:
        run = _TrackedRun(config, {**run_tags(config), **(tags or {})}, stack)
        result = train(config, on_evaluate=on_evaluate, on_step=on_step, log=run)
        run.finish(result)
    return result


def run_tags(config: RunConfig) -> dict[str, str]:
    """The ``alignlab.*`` tags a run's config gives it (the trainer adds the data fingerprint, the reward
    source and its algorithm's own; tracking adds the version and git commit)."""
    prefix = tracking.TAG_PREFIX
    return {
        f"{prefix}algorithm": config.algorithm,
        f"{prefix}model": config.model,
        f"{prefix}data": config.data.path or f"task:{config.data.task}",
        **({f"{prefix}judge": config.judge.describe()} if config.judge is not None else {}),
    }


def logged_params(config: RunConfig) -> dict[str, Any]:
    """Params as MLflow shows them: TRL names (for LoRA too: ``lora_r``, ``lora_alpha``, as trl.ModelConfig
    names them) and the run's settings."""
    params: dict[str, Any] = {
        "algorithm": config.algorithm,
        "model": config.model,
        "seed": config.seed,
        **config.params,
    }
    if config.lora is not None:
        params.update({mlflow_param_name(k): v for k, v in config.lora.model_dump().items()})
    else:
        params["lora"] = "none (full fine-tuning)"
    return params


class _TrackedRun:
    """The trainer's :class:`~alignlab.run.trainer.RunLog`: the MLflow run, created on first use."""

    def __init__(self, config: RunConfig, tags: dict[str, str], stack: contextlib.ExitStack) -> None:
        self.config, self.run_tags, self.stack = config, tags, stack
        self.run_id: str | None = None

    def start(self, tags: Mapping[str, str] | None = None) -> str:
        if self.run_id is None:
            config = self.config
            self.run_id = self.stack.enter_context(
                tracking.start_run(
                    run_name=config.name,
                    tracking_uri=config.tracking_uri,
                    experiment=config.experiment,
                    tags={**self.run_tags, **(tags or {})},
                )
            )
            tracking.log_params(logged_params(config))
            tracking.log_text(config.to_yaml(), "config.yaml")
        elif tags:
            tracking.set_tags(tags)
        return self.run_id

    def tags(self, tags: Mapping[str, str]) -> None:
        self.start({f"{tracking.TAG_PREFIX}{k}": str(v) for k, v in tags.items()})

    def metrics(self, metrics: Mapping[str, float], *, step: int, prefix: str = "") -> None:
        self.start()
        tracking.log_metrics(metrics, step=step, prefix=prefix)

    def keep(self, metrics: Mapping[str, Any], *, step: int) -> None:
        self.start()
        tracking.buffer_metrics(metrics, step=step)

    def finish(self, result: RunResult) -> None:
        """Log the result and end the run with its status (one write with the kept training logs)."""
        result.mlflow_run_id = self.start()
        if result.metrics:
            tracking.log_metrics(result.metrics, step=result.steps, prefix="eval/")
        if result.timings:
            tracking.log_metrics(result.timings, prefix="time/")
        if result.samples:
            tracking.log_table(result.samples, "eval_samples.json")
        if result.output_dir and Path(result.output_dir).is_dir():
            tracking.log_artifacts(result.output_dir, "outputs")
        tracking.end_run(
            tracking.RUN_STATUS[result.status],
            metrics={"runtime_s": result.runtime_s, "steps": result.steps},
            tags={f"{tracking.TAG_PREFIX}status": result.status, f"{tracking.TAG_PREFIX}reason": result.reason or ""},
        )


__all__ = ["logged_params", "run_tags", "run_tracked"]
