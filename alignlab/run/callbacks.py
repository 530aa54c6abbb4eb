"""The TrainerCallbacks every run has: the watchdog, the training logs and the intermediate evaluations.

- :func:`watchdog` tracks the step and the last training logs, and ends the run as failed on a NaN or
  infinite loss or a KL above ``max_kl`` (:class:`RunFailed`).
- :func:`train_logs` hands the trainer's logs to the runner's log (kept for the run's next MLflow write);
- :func:`intermediate_eval` evaluates cheaply every ``eval.every_n_steps`` steps, writes the metrics to
  the runner's log (with the kept logs, in one batch) and asks the sweep whether to prune; a pruned run
  stops the way its algorithm stops (``stop_pruned``: HF trainers honour ``should_training_stop``, PPO
  needs :class:`RunPruned`).

None of them calls MLflow: the runner that owns the run (alignlab.run.runner) does the writing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignlab.run.trainer import EvaluateHook, RunLog, StepHook

if TYPE_CHECKING:
    from alignlab.run.algorithms import Algorithm
    from alignlab.run.config import EvalSettings, RunConfig


class RunFailed(Exception):
    """Raised inside training to end a run as failed with a reason (NaN loss, diverged KL)."""


class RunPruned(Exception):
    """Raised inside training to stop a pruned run whose trainer ignores ``should_training_stop``."""


@dataclass
class RunState:
    """What the callbacks learn while a run trains."""

    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    """Intermediate evaluations: one dict per evaluation with its ``step``."""
    train_metrics: dict[str, float] = field(default_factory=dict)
    """The last training logs (loss, rewards/accuracies, objective/kl, ...)."""
    pruned: bool = False
    prune_reason: str = "pruned"


def check_kl(kl: float | None, max_kl: float, *, when: str) -> None:
    """Raise RunFailed when a measured KL per response is not finite or above ``max_kl``."""
    if kl is not None and (not math.isfinite(kl) or kl > max_kl):
        raise RunFailed(f"KL diverged: {kl:.3g} nats per response {when} (max_kl={max_kl})")


def watchdog(config: RunConfig, run: RunState, on_step: StepHook | None) -> Any:
    """Tracks the step and the last logs; ends the run on a NaN/inf loss or a KL above max_kl."""
    from transformers import TrainerCallback

    class Watchdog(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            run.step = int(state.global_step)
            if on_step is not None:
                on_step(run.step, int(state.max_steps or args.max_steps or 0))

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if not logs:
                return
            run.step = int(state.global_step)
            numeric = {
                k: float(v) for k, v in logs.items() if isinstance(v, int | float) and not isinstance(v, bool)
            }
            run.train_metrics.update(numeric)
            for key, value in numeric.items():
                if (key == "loss" or key.startswith("loss/")) and not math.isfinite(value):
                    raise RunFailed(f"loss is {value} at step {run.step} ({key}); lower the learning rate")
            check_kl(numeric.get("objective/kl"), config.max_kl, when=f"at step {run.step}")

    return Watchdog()


def train_logs(log: RunLog) -> Any:
    """Hands the trainer's logs to the runner's log (``report_to`` stays "none"), which keeps them in memory
    and writes them in one batch with the next evaluation (alignlab.run.metric_buffer)."""
    from transformers import TrainerCallback

    class TrainLogs(TrainerCallback):
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if logs:
                # The trainer's own names: per step loss, rewards/margins, objective/kl, ...; at the end
                # train_loss, train_runtime, ... (kept apart from the per-step loss curve).
                log.keep(dict(logs), step=int(state.global_step))

    return TrainLogs()


def intermediate_eval(
    config: RunConfig,
    algorithm: Algorithm,
    run: RunState,
    evaluate: Callable[[EvalSettings], dict[str, float]],
    on_evaluate: EvaluateHook,
    log: RunLog,
) -> Any:
    """Every eval.every_n_steps: a cheaper evaluation (fewer prompts and samples), reported to ``on_evaluate``."""
    from transformers import TrainerCallback

    every = int(config.eval.every_n_steps or 0)
    quick = config.eval.model_copy(
        update={
            "n_prompts": min(config.eval.n_prompts, 32),
            "samples_per_prompt": min(config.eval.samples_per_prompt, 2),
            "n_pairs": min(config.eval.n_pairs, 64),
        }
    )

    class IntermediateEval(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step = int(state.global_step)
            if step == 0 or step % every or (state.max_steps and step >= state.max_steps):
                return
            metrics = evaluate(quick)
            run.history.append({"step": step, **metrics})
            log.metrics(metrics, step=step, prefix="eval/")
            check_kl(metrics.get("kl"), config.max_kl, when=f"at step {step}")
            if on_evaluate(step, metrics):
                run.pruned = True
                run.prune_reason = f"pruned at step {step}"
                algorithm.stop_pruned(control)

    return IntermediateEval()
