"""One trial of a sweep: its params sampled (:func:`sample_params`), its run config built
(:func:`trial_config`), the trainer run and the result recorded (:class:`TrialObjective`, what
:class:`~alignlab.sweep.claims.Coordinator` runs), and the trial's MLflow run tagged with its state.

The trial is the runner (Optuna's objective pattern): it runs the trainer inside an MLflow run it owns
(alignlab.run.runner.run_tracked: nested under the study's parent run, tagged with the study, the trial
number and its state) and records what the trainer returns. The trainer is
:func:`alignlab.run.training.train` or any :class:`~alignlab.run.trainer.Trainer`, which is how the tests
run real studies over analytic objectives and still see the tags, params and statuses a real trial has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from alignlab.paths import study_dir
from alignlab.run import tracking
from alignlab.run.config import LORA_FIELDS, RunConfig
from alignlab.run.runner import run_tracked
from alignlab.run.trainer import RunResult, Trainer
from alignlab.run.trl_fields import known_param_names
from alignlab.sweep import records
from alignlab.sweep.claims import TrialFailed
from alignlab.sweep.spec import ALGORITHM_PARAM, FloatParam, IntParam, SweepSpec

if TYPE_CHECKING:
    import optuna


@dataclass
class SweepEvent:
    """Progress of a sweep, for a live display."""

    kind: str
    """``trial_started`` | ``step`` | ``trial_finished``."""
    trial_number: int
    finished: int
    """Trials finished so far (the budget's count)."""
    n_trials: int
    params: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    max_steps: int = 0
    result: RunResult | None = None
    best_value: float | None = None
    worker: str = ""
    """The worker process (``host:pid#k``) the event comes from."""


def sample_params(trial: optuna.Trial, spec: SweepSpec) -> tuple[str, dict[str, Any]]:
    """The trial's algorithm and its sampled params (only those its algorithm has)."""
    algorithm = spec.algorithms[0]
    if len(spec.algorithms) > 1:
        algorithm = str(trial.suggest_categorical(ALGORITHM_PARAM, spec.algorithms))
    params: dict[str, Any] = {}
    for name, param in spec.search.items():
        if not applies(spec, algorithm, name):
            continue
        if isinstance(param, FloatParam):
            params[name] = trial.suggest_float(name, param.low, param.high, log=param.log, step=param.step)
        elif isinstance(param, IntParam):
            params[name] = trial.suggest_int(name, param.low, param.high, log=param.log, step=param.step)
        else:
            params[name] = trial.suggest_categorical(name, param.choices)
    return algorithm, params


def applies(spec: SweepSpec, algorithm: str, name: str) -> bool:
    """Whether search parameter ``name`` is one of ``algorithm``'s (a TRL field of it, or a LoRA field).

    With one algorithm every search name is (load_sweep checked each against it), so TRL is not
    imported; with several, the names are looked up in the algorithm's TRL config (imports trl).
    """
    if len(spec.algorithms) == 1:
        return name in spec.search
    return name in LORA_FIELDS or name in known_param_names(algorithm)


def trial_config(
    spec: SweepSpec, algorithm: str, sampled: dict[str, Any], number: int, *, tracking_uri: str
) -> RunConfig:
    """The run config of one trial: the sweep's fixed settings with the sampled params set.

    LoRA fields go to ``lora``; ``budget.max_trial_steps`` caps ``max_steps``; with a pruner and no
    ``eval.every_n_steps``, the run evaluates four times. Values pass to TRL as sampled (TRL's configs
    normalise their own fields, e.g. DPOConfig turns a ``loss_type`` string into a list).
    """
    params = dict(spec.fixed_for(algorithm))
    lora_updates: dict[str, Any] = {}
    for name, value in sampled.items():
        if name in LORA_FIELDS:
            lora_updates[name] = value
        else:
            params[name] = value
    cap = spec.budget.max_trial_steps
    if cap is not None:
        params["max_steps"] = (
            min(int(params.get("max_steps", cap)), cap) if int(params.get("max_steps", -1)) > 0 else cap
        )
    evaluation = spec.eval
    if (
        spec.pruner.type != "none"
        and evaluation.every_n_steps is None
        and int(params.get("max_steps", -1)) > 0
    ):
        evaluation = evaluation.model_copy(update={"every_n_steps": max(1, int(params["max_steps"]) // 4)})
    lora = spec.lora.model_copy(update=lora_updates) if spec.lora is not None else None
    return RunConfig(
        name=f"{algorithm}-trial-{number}",
        algorithm=algorithm,
        model=spec.model,
        reward_model=spec.reward_model,
        reward_function=spec.reward_function,
        data=spec.data,
        judge=spec.judge,
        params=params,
        lora=lora,
        eval=evaluation,
        seed=spec.seed,
        tracking_uri=tracking_uri,
        experiment=spec.name,
        output_dir=str(study_dir(spec.name) / "trials" / str(number)),
        cache_reference=spec.cache_reference,
    )


class TrialObjective:
    """One trial: sample, build the run config, run the trainer in the trial's MLflow run, record, and
    tell Optuna how it went."""

    def __init__(
        self,
        spec: SweepSpec,
        study: optuna.Study,
        train: Trainer,
        budget: int,
        tracking_uri: str,
        on_event: Callable[[SweepEvent], None] | None,
        worker: str,
    ) -> None:
        self.spec, self.study, self.train, self.budget = spec, study, train, budget
        self.tracking_uri, self.on_event, self.worker = tracking_uri, on_event, worker

    def emit(self, event: SweepEvent) -> None:
        if self.on_event is not None:
            event.worker = self.worker
            self.on_event(event)

    def __call__(self, trial: optuna.Trial, algorithm: str, sampled: dict[str, Any]) -> float | tuple[float, ...]:
        import optuna

        spec = self.spec
        config = trial_config(spec, algorithm, sampled, trial.number, tracking_uri=self.tracking_uri)
        records.write_trial_config(trial, algorithm, config)
        done = records.finished_count(self.study)
        self.emit(SweepEvent("trial_started", trial.number, done, self.budget, params=dict(trial.params)))
        primary = spec.objectives[0]

        def on_evaluate(step: int, metrics: dict[str, float]) -> bool:
            value = metrics.get(primary.metric)
            if value is None or len(spec.objectives) > 1:
                return False
            trial.report(value, step)
            return trial.should_prune()

        def on_step(step: int, total: int) -> None:
            self.emit(
                SweepEvent(
                    "step",
                    trial.number,
                    done,
                    self.budget,
                    params=dict(trial.params),
                    step=step,
                    max_steps=total,
                )
            )

        result = run_tracked(
            config,
            self.train,
            on_evaluate=on_evaluate,
            on_step=on_step,
            tags={
                tracking.STUDY_TAG: spec.name,
                tracking.TRIAL_NUMBER_TAG: str(trial.number),
                tracking.ENQUEUED_TAG: str(records.is_enqueued(trial)),
            },
        )
        records.write_trial_result(trial, result, constraints=spec.constraints, objectives=spec.objectives)
        accuracy = result.metrics.get("judge_accuracy")  # the study's judge, recorded once
        if spec.judge and accuracy is not None and records.write_judge(self.study, spec.judge.describe(), accuracy):
            tracking.log_metrics({"judge_accuracy": accuracy})  # on the parent run
        set_state_tag(result, {"completed": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}[result.status])
        self.emit(
            SweepEvent(
                "trial_finished",
                trial.number,
                done + 1,
                self.budget,
                params=dict(trial.params),
                result=replace(result, samples=[]),  # the table is in MLflow
                best_value=best_value(self.study),
            )
        )
        if result.status == "failed":
            raise TrialFailed(result.reason or "failed")
        if result.status == "pruned":
            raise optuna.TrialPruned(result.reason)
        missing = [o.metric for o in spec.objectives if o.metric not in result.metrics]
        if missing:
            records.write_fail_reason(trial, f"the run reported no {', '.join(missing)}")
            set_state_tag(result, "FAIL")
            raise TrialFailed(f"the run reported no {', '.join(missing)}")
        values = tuple(float(result.metrics[o.metric]) for o in spec.objectives)
        return values[0] if len(values) == 1 else values


def set_state_tag(result: RunResult, state: str) -> None:
    if result.mlflow_run_id:
        tracking.set_run_tags(result.mlflow_run_id, {tracking.TRIAL_STATE_TAG: state})


def best_value(study: optuna.Study) -> float | None:
    from optuna.trial import TrialState

    if len(study.directions) > 1:
        return None
    done = [
        t.value
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None
    ]
    if not done:
        return None
    return float(max(done) if study.direction.name == "MAXIMIZE" else min(done))
