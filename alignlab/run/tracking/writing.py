"""Writing one run: started (nested under the active run if there is one) and ended with the status its
caller decides; params by their TRL field names in one batch; metrics (the trainer's logs kept by
alignlab.run.metric_buffer and written with the next evaluation, in one batch); tags, texts, tables and
artifacts; the ``alignlab.*`` base tags (version, git commit looked up once per process)."""

from __future__ import annotations

import contextlib
import functools
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from alignlab import __version__
from alignlab.run import metric_buffer
from alignlab.run.metric_buffer import Point
from alignlab.run.tracking.store import ensure_experiment, use_tracking_uri
from alignlab.run.tracking.tags import TAG_PREFIX


@functools.cache
def git_commit() -> str | None:
    """The commit of the alignlab checkout, when it is one (looked up once per process)."""
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
    the status it decides (:data:`RUN_STATUS`). An exception that escapes still ends it (FAILED;
    KILLED for Ctrl-C), so no run is left RUNNING.
    """
    import mlflow

    active = mlflow.active_run()
    if active is None:
        resolved = use_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment_id=ensure_experiment(experiment or "alignlab-runs", resolved))
    run = mlflow.start_run(
        run_name=run_name,
        nested=active is not None if nested is None else nested,
        tags={**base_tags(), **(tags or {})},
    )
    try:
        yield run.info.run_id
    except BaseException as exc:
        if mlflow.active_run() is not None and mlflow.active_run().info.run_id == run.info.run_id:  # type: ignore[union-attr]
            end_run("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    else:
        if mlflow.active_run() is not None and mlflow.active_run().info.run_id == run.info.run_id:  # type: ignore[union-attr]
            end_run("FINISHED")


def end_run(
    status: str = "FINISHED", *, metrics: Mapping[str, float] | None = None, tags: Mapping[str, Any] | None = None
) -> None:
    """End the active run: its kept metrics, ``metrics`` (step 0) and ``tags`` in one batch, then its status."""
    import mlflow

    if active_run_id() is not None:
        _write(metric_buffer.take(active_run_id()) + metric_buffer.points(metrics or {}, step=0), tags=tags)
    mlflow.end_run(status=status)


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: param_value(v) for k, v in params.items()})


def _write(points: list[Point], *, tags: Mapping[str, Any] | None = None) -> None:
    """One ``log_batch`` to the active run (chunked at MLflow's 1000 metrics per batch)."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    run_id = active_run_id()
    if run_id is None or not (points or tags):
        return
    client = MlflowClient()  # the URI set by use_tracking_uri
    tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    for start in range(0, max(len(points), 1), 1000):
        chunk = [Metric(k, v, ts, step) for k, v, ts, step in points[start : start + 1000]]
        client.log_batch(run_id, metrics=chunk, tags=tag_list if start == 0 else [])


def log_metrics(metrics: Mapping[str, float], *, step: int | None = None, prefix: str = "") -> None:
    """Log finite numeric metrics now, with the active run's kept ones, in one batch."""
    _write(metric_buffer.take(active_run_id()) + metric_buffer.points(metrics, step=step or 0, prefix=prefix))


def buffer_metrics(metrics: Mapping[str, Any], *, step: int) -> None:
    """Keep metrics for the active run's next write (alignlab.run.metric_buffer): the trainer's logs."""
    run_id = active_run_id()
    if run_id is not None and metric_buffer.keep(run_id, metrics, step=step):
        _write(metric_buffer.take(run_id))


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


def param_value(value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return text[:6000]


def set_run_tags(run_id: str, tags: Mapping[str, Any]) -> None:
    """Tag a run that may have ended already (a trial's state is known only after its run ends)."""
    from mlflow.entities import RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient()  # the URI set by use_tracking_uri
    client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
