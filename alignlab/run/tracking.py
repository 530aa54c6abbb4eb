"""MLflow: the only module that imports it.

Conventions every run follows, so the MLflow compare view is useful without clicking around:

- tracking URI: the run's own, else ``$MLFLOW_TRACKING_URI``, else the shared store under studies/
  (always set explicitly: MLflow 3.17 otherwise writes ./mlflow.db);
- params by their TRL field names (``beta``, ``learning_rate``, ...) and PEFT names for LoRA;
- metrics: training logs as the TRL trainer names them (``loss``, ``rewards/accuracies``,
  ``objective/kl``), evaluation as ``eval/<metric>`` (alignlab.run.config.METRICS);
- tags ``alignlab.*``: algorithm, model, data fingerprint, version, git commit, status and reason; in a
  study also ``alignlab.study``, ``alignlab.trial_number``, ``alignlab.trial_state``.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from alignlab import __version__
from alignlab.paths import default_tracking_uri

TAG_PREFIX = "alignlab."


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The run's URI, else $MLFLOW_TRACKING_URI, else the shared SQLite store under studies/."""
    resolved = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if resolved.startswith("sqlite:///"):
        Path(resolved.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return resolved


def use_tracking_uri(uri: str | None = None) -> str:
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # mlflow sets INFO on import

    resolved = resolve_tracking_uri(uri)
    mlflow.set_tracking_uri(resolved)
    return resolved


def git_commit() -> str | None:
    """The commit of the alignlab checkout, when it is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def base_tags() -> dict[str, str]:
    tags = {f"{TAG_PREFIX}version": __version__}
    commit = git_commit()
    if commit:
        tags[f"{TAG_PREFIX}git_commit"] = commit
    return tags


@contextlib.contextmanager
def start_run(
    *,
    run_name: str,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool | None = None,
) -> Iterator[str]:
    """Start an MLflow run and yield its id; nested under the active run if there is one.

    The run is NOT ended on exceptions by this context: the caller ends it with :func:`end_run` and
    the status it decides (a pruned trial is FINISHED, not FAILED). An exception that escapes still
    ends it FAILED, so no run is left RUNNING.
    """
    import mlflow

    active = mlflow.active_run()
    if active is None:
        use_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment or "alignlab-runs")
    run = mlflow.start_run(
        run_name=run_name,
        nested=active is not None if nested is None else nested,
        tags={**base_tags(), **(tags or {})},
    )
    try:
        yield run.info.run_id
    except BaseException:
        if mlflow.active_run() is not None and mlflow.active_run().info.run_id == run.info.run_id:  # type: ignore[union-attr]
            mlflow.end_run(status="FAILED")
        raise
    else:
        if mlflow.active_run() is not None and mlflow.active_run().info.run_id == run.info.run_id:  # type: ignore[union-attr]
            mlflow.end_run(status="FINISHED")


def end_run(status: str = "FINISHED") -> None:
    import mlflow

    mlflow.end_run(status=status)


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: _param_value(v) for k, v in params.items()})


def log_metrics(metrics: Mapping[str, float], *, step: int | None = None, prefix: str = "") -> None:
    """Log finite numeric metrics; NaN/inf and non-numbers are skipped (MLflow rejects some)."""
    import mlflow

    clean = {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    if clean:
        mlflow.log_metrics(clean, step=step)


def set_tags(tags: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.set_tags({k: str(v) for k, v in tags.items()})


def log_text(text: str, artifact_file: str) -> None:
    import mlflow

    mlflow.log_text(text, artifact_file)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    import mlflow

    mlflow.log_artifacts(str(local_dir), artifact_path)


def log_table(rows: list[dict[str, Any]], artifact_file: str) -> None:
    import mlflow

    if rows:
        mlflow.log_table({k: [r.get(k) for r in rows] for k in rows[0]}, artifact_file=artifact_file)


def active_run_id() -> str | None:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def _param_value(value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return text[:6000]


def metrics_callback() -> Any:
    """A TrainerCallback that logs the trainer's logs into the active MLflow run (report_to stays "none")."""
    from transformers import TrainerCallback

    class MLflowMetrics(TrainerCallback):
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if logs and active_run_id() is not None:
                # The trainer's own names: per step loss, rewards/margins, objective/kl, ...; at the end
                # train_loss, train_runtime, ... (kept apart from the per-step loss curve).
                log_metrics(dict(logs), step=state.global_step)

    return MLflowMetrics()


@contextlib.contextmanager
def study_run(
    study_name: str, *, resume_run_id: str | None = None, tags: Mapping[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """The parent run of a study (experiment = study name), created or resumed; yields (run id, experiment id).

    Set the tracking URI first (:func:`use_tracking_uri`). The run ends FINISHED, or KILLED when the
    sweep is interrupted, so a resumed sweep reopens it.
    """
    import mlflow

    experiment = mlflow.set_experiment(study_name)
    if resume_run_id is not None:
        run = mlflow.start_run(run_id=resume_run_id)
    else:
        run = mlflow.start_run(run_name=study_name, tags={**base_tags(), **(tags or {})})
    try:
        yield run.info.run_id, experiment.experiment_id
    except KeyboardInterrupt:
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")


def set_run_tags(run_id: str, tags: Mapping[str, Any]) -> None:
    """Tag a run that may have ended already (a trial's state is known only after its run ends)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))


def delete_study_runs(study_name: str, tracking_uri: str | None = None) -> int:
    """Delete (MLflow's soft delete: hidden in the UI and in searches) every run of a study's
    experiment, so a study started over does not show its earlier runs. Returns how many."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(resolve_tracking_uri(tracking_uri))
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None:
        return 0
    runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=50_000)
    for run in runs:
        client.delete_run(run.info.run_id)
    return len(runs)
