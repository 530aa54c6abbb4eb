"""The studies on disk: which there are, where a study's storage is, and opening one by name for reading.

A study named NAME lives in ``studies/NAME/`` (alignlab.paths); what it stores is alignlab.sweep.records.
Opening never creates anything: no lock file, no tables (alignlab.sweep.storage.open_for_reading).
"""

from __future__ import annotations

import os
from typing import Any

from alignlab import paths
from alignlab.destinations import studies_root_is_file
from alignlab.errors import UserInputError
from alignlab.paths import default_storage_url, studies_root, study_dir
from alignlab.run import tracking
from alignlab.sweep.records import StudyRecord, read_study


def list_studies() -> list[str]:
    """Names of the studies under studies_root(): folders with an ``optuna.db`` or a ``sweep.yaml``."""
    root = studies_root()
    if (problem := studies_root_is_file()) is not None:
        raise UserInputError(problem)
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and ((p / "optuna.db").is_file() or (p / "sweep.yaml").is_file())
    )


def unknown_study(name: str, why: str = "") -> UserInputError:
    """The one message for a study name that is not there, listing those that are."""
    listing = ", ".join(list_studies()) or "none"
    return UserInputError(f"unknown study {name!r}{why} (studies in {studies_root()}: {listing})")


def _sweep_settings(name: str) -> dict[str, Any]:
    """sweep.yaml as a mapping, read leniently (a sweep written by another alignlab version still opens)."""
    path = study_dir(name) / "sweep.yaml"
    if not path.is_file():
        return {}
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserInputError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise UserInputError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or 'not UTF-8 text'})") from None
    return raw if isinstance(raw, dict) else {}


def storage_url(name: str) -> str:
    """The Optuna storage of a study: ``sweep.yaml``'s ``storage:`` (the URL it ran on, recorded without
    its password), else ``$ALIGNLAB_STORAGE`` (a machine that never ran a worker of it), else
    studies/<name>/optuna.db."""
    url = str(_sweep_settings(name).get("storage") or os.environ.get("ALIGNLAB_STORAGE") or "")
    return tracking.absolute_sqlite(paths.resolve_stored(url) if url else default_storage_url(name))


def open_study(name: str) -> StudyRecord:
    """Open a study by name, for reading: nothing is created or written (no lock file, no tables). An
    unknown name raises UserInputError listing the studies that exist; a corrupt or foreign storage,
    one line naming its file (or URL)."""
    import optuna

    if not name or name.startswith(".") or "/" in name or os.sep in name:  # never a path outside the root
        raise unknown_study(name)
    settings = _sweep_settings(name)
    url = storage_url(name)
    path = tracking.sqlite_path(url)
    if path is not None and not path.is_file():
        raise unknown_study(name)
    from alignlab.sweep import secrets
    from alignlab.sweep.storage import open_for_reading

    key = f"{study_dir(name) / 'sweep.yaml'}: storage" if settings.get("storage") else f"study {name}"
    try:
        study = optuna.load_study(study_name=name, storage=open_for_reading(url, key=key))
    except KeyError:
        raise unknown_study(name, f" (not in its storage {secrets.mask(url)})") from None
    return read_study(study, name=name, storage_url=url, settings=settings)
