"""Shared fixtures: every test writes under its own tmp studies root; the built-in task (tiny models,
feedback files) is built once per session into a shared cache, since it costs about a minute."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A persistent cache beside the repo keeps CI's second and later runs fast; tests never write elsewhere.
    override = os.environ.get("ALIGNLAB_TEST_CACHE")
    path = Path(override) if override else tmp_path_factory.mktemp("alignlab-cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def studies_root(tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh studies/ root for the test, sharing the session's cache of built assets."""
    root = tmp_path / "studies"
    monkeypatch.setenv("ALIGNLAB_STUDIES", str(root))
    monkeypatch.setenv("ALIGNLAB_CACHE", str(session_cache))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield root
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()
