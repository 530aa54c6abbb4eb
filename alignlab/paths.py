"""Where alignlab keeps its outputs.

Layout (the root is ``./studies`` unless ``ALIGNLAB_STUDIES`` says otherwise)::

    studies/
      mlflow.db                 one MLflow store shared by every study, so the UI compares across them
      cache/                    content-addressed caches (built-in task, tiny models, reference log-probs)
      runs/<run name>/          outputs of `alignlab train` runs (adapter, config)
      <study name>/optuna.db    the Optuna storage of one study
      <study name>/trials/<n>/  each trial's outputs (adapter, config)
      <study name>/best.yaml    the exported best configuration
      <study name>/report.html  the study report
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def studies_root() -> Path:
    """The root of all outputs: ``$ALIGNLAB_STUDIES`` or ``./studies``."""
    return Path(os.environ.get("ALIGNLAB_STUDIES", "studies")).resolve()


def cache_dir() -> Path:
    """Content-addressed caches: ``$ALIGNLAB_CACHE`` or ``<studies root>/cache``."""
    override = os.environ.get("ALIGNLAB_CACHE")
    return Path(override).resolve() if override else studies_root() / "cache"


def study_dir(name: str) -> Path:
    return studies_root() / name


def default_tracking_uri() -> str:
    """The shared MLflow store: ``sqlite:///<root>/mlflow.db`` (MLflow 3.17 refuses a bare file store)."""
    return f"sqlite:///{studies_root() / 'mlflow.db'}"


def default_storage_url(study_name: str) -> str:
    """The Optuna storage of one study: ``sqlite:///<root>/<name>/optuna.db``."""
    return f"sqlite:///{study_dir(study_name) / 'optuna.db'}"


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file in the same folder and a
    rename, so readers see the old file or the whole new one, never half of it. Creates the folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
