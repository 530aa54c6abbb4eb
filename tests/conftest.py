"""Shared fixtures: every test writes under its own tmp studies root; the built-in task (tiny models,
feedback files) is built once per session into a shared cache, since it costs about a minute; and
``shared_data`` guards the tests that read the real data beside the project (they fail under CI=true
when it is missing, and skip elsewhere)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_cluster import PostgresCluster, start_postgres, stop_postgres

#: The real preference data beside the project (see shared/FACTS.md); tests read it there, never copy it.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_FILES = (
    "hh-rlhf-harmless/test.jsonl.gz",
    "llama-factory/dpo_en_demo.json",
    "llama-factory/kto_en_demo.json",
)


@pytest.fixture
def shared_data() -> Path:
    """The folder of the real data beside the project, for the tests that read it.

    Missing, the test is skipped, except under CI=true, where it fails: CI lays shared/ beside its
    clone, so a missing file there means a broken setup, not a machine without the data.
    """
    missing = [name for name in SHARED_FILES if not (SHARED_DATA / name).is_file()]
    if missing:
        message = (
            f"the real data beside the project is not at {SHARED_DATA}"
            if not SHARED_DATA.is_dir()
            else f"the real data beside the project lacks {', '.join(missing)} (in {SHARED_DATA})"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: tests that need it fail instead of skipping)", pytrace=False)
        pytest.skip(message)
    return SHARED_DATA


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster on 127.0.0.1, started for the session and removed after it.

    If it cannot start, the test is skipped, except under CI=true, where it fails (.ci/run installs
    Debian's postgresql, so a cluster that does not start there is a broken setup).
    """
    cluster, why = start_postgres()
    if cluster is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL did not start: {why} (CI=true: these tests fail instead of skipping)", pytrace=False)
        pytest.skip(f"PostgreSQL did not start: {why}")
    try:
        yield cluster
    finally:
        stop_postgres(cluster)
