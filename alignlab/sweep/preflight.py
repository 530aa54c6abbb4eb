"""What ``sweep run`` checks before it creates anything, and before each trial.

Before anything: the references (:func:`alignlab.run.checks.reference_problems`: model, reward model or
function, judge, data) and the destinations (:func:`sweep_destination_problems`: the studies root, the
study's folder, the storage, the MLflow store), in :func:`check_sweep`; ``--n-trials`` against the search
space (:func:`n_trials_problems`). Before each trial: room on the disk for its outputs
(:func:`room_for_trial`). ``alignlab validate`` runs the same checks (:mod:`alignlab.validate` gathers them).
"""

from __future__ import annotations

import os
from pathlib import Path

from alignlab.destinations import folder_problems, studies_root_problems
from alignlab.paths import default_storage_url, default_tracking_uri, expand_root, study_dir
from alignlab.run.checks import reference_problems
from alignlab.run.disk import check_run_space
from alignlab.sweep.spec import SweepSpec, distinct_configurations
from alignlab.sweep.storage import storage_problems, tracking_problems


def check_sweep(
    spec: SweepSpec,
    *,
    where: str,
    storage: str | None = None,
    storage_key: str = "--storage",
    tracking_key: str | None = None,
) -> list[str]:
    """Problems with the references and destinations of a schema-valid sweep: what ``sweep run`` checks
    before it creates anything (the model, reward model and data; the studies root, the study folder,
    the storage and the MLflow store). ``storage`` overrides the file's (``--storage``, named by
    ``storage_key``); ``tracking_key`` names where ``spec.tracking_uri`` came from when not the file."""
    problems = reference_problems(
        spec.algorithms,
        model=spec.model,
        reward_model=spec.reward_model,
        data=spec.data,
        seed=spec.seed,
        where=where,
        reward_function=spec.reward_function,
        judge=spec.judge,
    )
    return problems + sweep_destination_problems(
        spec, where=where, storage=storage, storage_key=storage_key, tracking_key=tracking_key
    )


def n_trials_problems(spec: SweepSpec, n_trials: int | None) -> list[str]:
    """``--n-trials`` within the search space's distinct configurations (trials never repeat params)."""
    size = distinct_configurations(spec)
    if n_trials is None or size is None or spec.sampler.type == "grid" or n_trials <= size:
        return []
    return [
        f"--n-trials: the search space of {spec.name} has {size} distinct configurations, but got {n_trials} "
        "(trials never repeat params)"
    ]


def sweep_destination_problems(
    spec: SweepSpec,
    *,
    where: str,
    storage: str | None = None,
    storage_key: str = "--storage",
    tracking_key: str | None = None,
) -> list[str]:
    """Whether everything ``sweep run`` writes can be written, before anything is: the studies root, the
    study's folder (sweep.yaml, trials/, MLflow artifacts), its storage and the MLflow store."""
    problems = studies_root_problems()
    if not problems:
        problems += folder_problems(
            study_dir(spec.name), key=f"{where}: study {spec.name}", purpose="the study's folder"
        )
    url = storage or spec.storage
    key = storage_key if storage else f"{where}: storage"
    if url is not None or not problems:
        problems += storage_problems(expand_root(url or default_storage_url(spec.name)), key=key)
    uri = expand_root(spec.tracking_uri) if spec.tracking_uri else None
    return problems + tracking_store_problems(uri, where=where, key=tracking_key, root_ok=not problems)


def tracking_store_problems(uri: str | None, *, where: str, key: str | None, root_ok: bool) -> list[str]:
    """The MLflow store a run logs to: the given URI, else $MLFLOW_TRACKING_URI, else the shared store
    under the studies root (checked only when the root itself is fine, so a broken root is one line)."""
    if uri:
        return tracking_problems(uri, key=key or f"{where}: tracking_uri")
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return tracking_problems(os.environ["MLFLOW_TRACKING_URI"], key="$MLFLOW_TRACKING_URI")
    return tracking_problems(default_tracking_uri(), key="MLflow store") if root_ok else []


def room_for_trial(spec: SweepSpec, folder: Path) -> bool:
    """True, or the :class:`UserInputError` of :func:`check_run_space` for the next trial of ``spec``,
    whose outputs go under ``folder``; a searched LoRA ``r`` counts at its largest value. The sweep
    runner asks before it claims each trial, so a full disk stops the sweep between trials."""
    search_r = spec.search.get("r")
    high = getattr(search_r, "high", None)
    choices = getattr(search_r, "choices", None) or []
    largest = high if isinstance(high, int) else max((c for c in choices if isinstance(c, int)), default=None)
    lora = spec.lora
    if lora is not None and largest is not None and largest > lora.r:
        lora = lora.model_copy(update={"r": largest})
    check_run_space(folder, spec.model, lora, what="the next trial")
    return True
