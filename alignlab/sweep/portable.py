"""A studies folder moved or copied: what has to follow it beyond alignlab's own records.

alignlab's records keep the locations inside the studies folder relative to it (alignlab.paths.portable),
so best, compare, report, sweep status, studies list and ui read a moved folder as they read it before.
MLflow's SQLite store is the exception: it records each experiment's artifact location, and each run's
artifact URI, as absolute ``file://`` URIs (MLflow makes even a relative location absolute). alignlab never
reads artifacts; MLflow's UI does (a run's artifact view), and so does a resumed study, whose new runs
would write to the old place.

:func:`follow_moved_artifacts` points a study's experiment and its runs at ``<root>/<study>/mlartifacts``
of the current root when the store is a SQLite file inside that root (it moved with the folder) and the
recorded location is a study's ``mlartifacts`` elsewhere; ``sweep run`` does it for the study it resumes,
``alignlab ui`` for every study of the store it serves. It writes two columns of MLflow's schema
(``experiments.artifact_location``, ``runs.artifact_uri``, unchanged since MLflow 1.0), as MLflow has no
call for it. A store outside the root (PostgreSQL, a tracking server, a shared file) is left alone: other
machines may read it with roots of their own.
"""

from __future__ import annotations

import contextlib
import sqlite3

from alignlab.paths import default_tracking_uri, studies_root, study_dir
from alignlab.run.stores import artifact_location, sqlite_path


def follow_moved_artifacts(tracking_uri: str | None, *, study: str | None = None) -> list[str]:
    """Point the experiments of the store (or only ``study``'s) and their runs at ``<root>/<study>/mlartifacts``
    where they recorded a study's ``mlartifacts`` under another root and the study's folder is here.
    Returns the studies whose locations changed."""
    uri = tracking_uri or default_tracking_uri()
    store = sqlite_path(uri)
    if store is None or not store.is_file() or not store.is_relative_to(studies_root()):
        return []
    try:
        with contextlib.closing(sqlite3.connect(store, timeout=60)) as db, db:
            return _follow(db, uri, study)
    except sqlite3.Error:  # a store this user cannot write (a teammate's folder): left as it is
        return []


def _follow(db: sqlite3.Connection, uri: str, study: str | None) -> list[str]:
    moved = []
    for experiment_id, name, recorded in db.execute("SELECT experiment_id, name, artifact_location FROM experiments"):
        location = artifact_location(str(name), uri)
        old = str(recorded or "").rstrip("/")
        if (study is not None and name != study) or location is None or not study_dir(str(name)).is_dir():
            continue
        if not old.startswith("file://") or not old.endswith(f"/{name}/mlartifacts") or old == location:
            continue
        moved.append((str(name), experiment_id, old, location))
    for _, experiment_id, old, location in moved:
        db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (location, experiment_id))
        db.execute(
            "UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
            "WHERE experiment_id = ? AND substr(artifact_uri, 1, ?) = ?",
            (location, len(old) + 1, experiment_id, len(old), old),
        )
    return [name for name, *_ in moved]


def resumed_experiment(tracking_uri: str, experiment_id: str, study: str) -> str:
    """The experiment id of a study being resumed, after :func:`follow_moved_artifacts` for it."""
    follow_moved_artifacts(tracking_uri, study=study)
    return experiment_id
