"""What a trainer is (Optuna's objective pattern): a function from a run config, and the hooks its runner
hands in, to a :class:`RunResult`. The runner (alignlab.run.runner) owns the MLflow run: it starts it,
logs the params, the tags and the result, and ends it with the result's status; a trainer makes no
MLflow call of its own.

:func:`alignlab.run.training.train` is the trainer of alignlab (TRL); the tests' analytic trainers
have the same signature (:class:`Trainer`), so what a study stores is the runner's either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from alignlab.run.config import RunConfig

Status = Literal["completed", "pruned", "failed"]

#: Called after each intermediate evaluation with (step, metrics); returning True stops the run (pruned).
EvaluateHook = Callable[[int, dict[str, float]], bool]
#: Called after each optimizer step with (step, max_steps).
StepHook = Callable[[int, int], None]


@dataclass
class RunResult:
    """The outcome of one run: what a trainer returns and its runner records."""

    name: str
    algorithm: str
    status: Status
    reason: str | None
    """Why a run failed or was pruned, in one line; None when it completed."""
    metrics: dict[str, float]
    """Final held-out evaluation (alignlab.run.config.METRICS keys); empty unless completed (a run failed
    by its KL after training keeps the evaluation that failed it)."""
    steps: int
    runtime_s: float
    """Wall time of the trainer, measured by the trainer."""
    mlflow_run_id: str | None
    """Set by the runner; a trainer leaves it None."""
    output_dir: str | None
    """Folder with the adapter (or full model), config.yaml and metrics.json; None unless completed. The
    runner logs it as the run's ``outputs`` artifacts when it exists."""
    history: list[dict[str, float]] = field(default_factory=list)
    """Intermediate evaluations: one dict per evaluation with its ``step``."""
    train_metrics: dict[str, float] = field(default_factory=dict)
    """The last training logs (loss, rewards/accuracies, objective/kl, ...)."""
    units: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The final evaluation's per-prompt (per-pair) values behind each metric (alignlab.run.eval_units.Units)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Where the run's wall time went, in seconds: ``train_s`` (trainer.train(), intermediate evaluations
    included), ``eval_s`` (the final evaluation), ``judge_s`` (scoring with the judge, in every
    evaluation), ``judge_train_s`` (training a held-out judge; 0 when it came from the cache)."""
    samples: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """The final evaluation's samples (prompt, response, rewards), logged by the runner as the
    ``eval_samples.json`` table; left out of :meth:`to_dict`."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("samples")
        return out


class RunLog(Protocol):
    """What a trainer records while it runs, through its runner (which owns the MLflow run).

    The runner creates its run at the trainer's first call here, or when the trainer returns: a trainer
    checks its inputs before its first call, so bad input (UserInputError) leaves nothing behind.
    """

    def tags(self, tags: Mapping[str, str]) -> None:
        """Facts only the trainer knows (``data_fingerprint``, ``reward``, an algorithm's own), named
        without the ``alignlab.`` prefix the runner gives them."""

    def metrics(self, metrics: Mapping[str, float], *, step: int, prefix: str = "") -> None:
        """Metrics at ``step``, written now with the kept ones (an intermediate evaluation: ``prefix="eval/"``)."""

    def keep(self, metrics: Mapping[str, Any], *, step: int) -> None:
        """The trainer's own logs (loss, rewards/margins, ...), kept and written with the next write
        (alignlab.run.metric_buffer)."""


class _NoLog:
    """A RunLog that records nothing: a trainer called without a runner."""

    def tags(self, tags: Mapping[str, str]) -> None:
        pass

    def metrics(self, metrics: Mapping[str, float], *, step: int, prefix: str = "") -> None:
        pass

    def keep(self, metrics: Mapping[str, Any], *, step: int) -> None:
        pass


NO_LOG: RunLog = _NoLog()


class Trainer(Protocol):
    """A trainer: what the runner (alignlab.run.runner.run_tracked, a sweep's trials, ``alignlab train``)
    calls once per run.

    It returns a RunResult whose status is completed, pruned or failed (it does not raise for a failed
    run); ``on_evaluate`` returning True asks it to stop (pruned); ``log`` records intermediate metrics
    and the tags only it knows (None: nothing is recorded). The final metrics, units, timings, samples
    and outputs go in the result, which the runner logs.
    """

    def __call__(
        self,
        config: RunConfig,
        *,
        on_evaluate: EvaluateHook | None = None,
        on_step: StepHook | None = None,
        log: RunLog | None = None,
    ) -> RunResult: ...


__all__ = ["NO_LOG", "EvaluateHook", "RunLog", "RunResult", "Status", "StepHook", "Trainer"]
