"""The keys a study stores under (``study.user_attrs``, ``trial.user_attrs``), each documented once, and
what two of them mean for a trial (:func:`is_enqueued`, :func:`is_discarded`): what the writers
(alignlab.sweep.records) and the readers (alignlab.sweep.reading) share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import optuna


class StudyAttr:
    """Keys of ``study.user_attrs``."""

    SPEC: Final = "spec"
    """The sweep as first run (``SweepSpec.model_dump(mode="json")``, URLs without their secrets); a resume
    must match its search space."""
    OBJECTIVES: Final = "objectives"
    """The objectives' metric names, in order (keys of alignlab.run.config.METRICS)."""
    DIRECTIONS: Final = "directions"
    """``maximize`` or ``minimize`` per objective."""
    CONSTRAINTS: Final = "constraints"
    """The feasibility bounds ``[{metric, max, min}]`` of the sweep as last run."""
    ALGORITHMS: Final = "algorithms"
    """The algorithms the study trains."""
    DEFAULTS_ENQUEUED: Final = "defaults_enqueued"
    """True once the sweep's ``enqueue`` defaults were enqueued (they are enqueued once per study)."""
    MLFLOW_PARENT_RUN_ID: Final = "mlflow_parent_run_id"
    """The study's parent run in MLflow, resumed by later invocations."""
    MLFLOW_EXPERIMENT_ID: Final = "mlflow_experiment_id"
    TRACKING_URI: Final = "tracking_uri"
    """The MLflow store of the study's runs (without its password: alignlab.sweep.secrets; paths.portable)."""
    WORKERS_JOINED: Final = "workers_joined"
    """How many worker processes have joined the study; worker k seeds its sampler from (seed, k)."""
    CONFIRMATION: Final = "confirmation"
    """The last ``best NAME --confirm K`` (alignlab.sweep.confirm): its metric, choice, settings and per-trial
    confirmed estimates. On the study, as Optuna refuses user attrs on a finished trial."""
    JUDGE: Final = "judge"
    """The study's judge (alignlab.run.judges), written by its first completed trial: ``{"source": ...,
    "accuracy": ...}``, its accuracy on the held-out pairs it never trained on; absent without a judge."""


class TrialAttr:
    """Keys of ``trial.user_attrs``."""

    ALGORITHM: Final = "algorithm"
    RUN_CONFIG: Final = "run_config"
    """The trial's RunConfig (``RunConfig.to_dict()``): what ``best --export`` writes."""
    METRICS: Final = "metrics"
    """Final held-out metrics (keys of alignlab.run.config.METRICS); empty unless the run completed."""
    STEPS: Final = "steps"
    RUNTIME_S: Final = "runtime_s"
    FAIL_REASON: Final = "fail_reason"
    """Why the run failed, in one line. A FAIL without it is a trial whose process died: not counted, retried."""
    ADAPTER_PATH: Final = "adapter_path"
    """The folder with the trained adapter (or model), config.yaml and metrics.json (paths.portable: {studies}/...)."""
    MLFLOW_RUN_ID: Final = "mlflow_run_id"
    ENQUEUED: Final = "enqueued"
    """True for a trial enqueued from the sweep's ``enqueue`` (a literature default)."""
    CONSTRAINT_VALUES: Final = "constraint_values"
    """One value per bound, <= 0 when it holds (Optuna's convention); read by constrained samplers."""
    WORKER: Final = "worker"
    """The worker that ran the trial: ``host:pid`` and its join number."""
    EVAL_UNITS: Final = "eval_units"
    """Per-prompt (per-pair) values behind the final objective and constraint metrics (run.eval_units.Units,
    6 significant digits), to bootstrap their standard errors from; absent in studies made before."""
    TIMINGS: Final = "timings"
    """Where the run's wall time went (RunResult.timings: train_s, eval_s, judge_s, judge_train_s)."""
    DUPLICATE_OF: Final = "duplicate_of"
    """A discarded draw: the sampler proposed the params of this earlier trial. Such a trial is FAIL,
    never run, never counted, and left out of every reading (alignlab.sweep.reading.trial_records)."""


def is_enqueued(trial: optuna.Trial | optuna.trial.FrozenTrial) -> bool:
    """A trial enqueued from the sweep's ``enqueue`` (a literature default)."""
    return bool(trial.user_attrs.get(TrialAttr.ENQUEUED, False))


def is_discarded(trial: optuna.trial.FrozenTrial) -> bool:
    """A discarded draw (:attr:`TrialAttr.DUPLICATE_OF`): never run, never counted, never read."""
    return TrialAttr.DUPLICATE_OF in trial.user_attrs


__all__ = ["StudyAttr", "TrialAttr", "is_discarded", "is_enqueued"]
