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


#: What a test's studies root clears: the stores of its studies go under the root, whatever the shell says.
STORE_VARIABLES = ("ALIGNLAB_STORAGE", "ALIGNLAB_TRACKING_URI", "MLFLOW_TRACKING_URI")


@pytest.fixture
def studies_root_path(tmp_path: Path) -> Path:
    """Where :func:`studies_root` puts the test's studies root (not created): ``tmp_path/studies``.

    A module overrides it to put the root elsewhere, the pytest way (a fixture of the same name):
    test_sweep.py on tmpfs, where SQLite's commits cost no fsync; test_bad_inputs_sweep.py inside the
    work folder its cases snapshot.
    """
    return tmp_path / "studies"


@pytest.fixture
def studies_root(studies_root_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh studies root for the test, ``$ALIGNLAB_STUDIES`` pointing at it, sharing the session's cache
    of built assets, with no storage or tracking URL from the environment (see STORE_VARIABLES).

    The one place tests set ``ALIGNLAB_STUDIES``: a test that sets it elsewhere needs a second root (a
    moved folder, a root that is a file, the session's built studies) and says so where it does.
    """
    root = studies_root_path
    monkeypatch.setenv("ALIGNLAB_STUDIES", str(root))
    monkeypatch.setenv("ALIGNLAB_CACHE", str(session_cache))
    for name in STORE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield root
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def studies_root_with_own_cache(studies_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """:func:`studies_root` whose cache is the root's own (``studies/cache``, as a user without
    ``ALIGNLAB_CACHE`` has it), not the session's: for a test that asserts nothing was written (a write
    to the cache is then under the root) or whose expected lines name the cache or say "built on first
    use" (true whatever other tests built)."""
    monkeypatch.delenv("ALIGNLAB_CACHE")
    return studies_root


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
