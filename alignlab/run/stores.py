"""MLflow store addresses, without MLflow: SQLite files, whether a store exists, where artifacts go.

alignlab.run.tracking (the one module that imports MLflow) re-exports these; readers that only need an
address (alignlab.results.ui) import them from here.
"""

from __future__ import annotations

from pathlib import Path

from alignlab.paths import study_dir


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (relative paths against the cwd), else None."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///")).resolve()


def absolute_sqlite(url: str) -> str:
    """A ``sqlite:///`` URL with an absolute path (other URLs unchanged), for use from another cwd."""
    path = sqlite_path(url)
    return f"sqlite:///{path}" if path is not None else url


def store_exists(tracking_uri: str) -> bool:
    """Whether the store can be read without creating it (a missing SQLite file: no)."""
    path = sqlite_path(tracking_uri)
    if path is not None:
        return path.is_file()
    return not tracking_uri.startswith("file:") or Path(tracking_uri.removeprefix("file:")).exists()


def artifact_location(experiment: str, tracking_uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: ``studies/<experiment>/mlartifacts`` for a store this
    process writes itself (SQLite, PostgreSQL), so two studies roots never share ``./mlruns``; None
    (the server's artifact root) for a tracking server."""
    if tracking_uri.startswith(("http://", "https://", "databricks")):
        return None
    return (study_dir(experiment) / "mlartifacts").as_uri()
