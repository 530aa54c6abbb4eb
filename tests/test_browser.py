"""Headless Chromium (Debian's, driven by Playwright for Python) over the report and the MLflow UI.

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (never ``playwright install``:
the browser comes from Debian). A missing browser FAILS these tests, with how to install it, unless
``ALIGNLAB_SKIP_BROWSER=1``. ``ALIGNLAB_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from study_fixture import DPO_PLAN, DPO_STUDY, FixtureStudies, built_studies, studies

from alignlab.results import ui
from alignlab.results.report import PLOT_KEYS, build_report

__all__ = ["built_studies", "studies"]  # fixtures, imported for pytest

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = (
    "install it with `apt-get update && apt-get install -y chromium` (Debian's /usr/bin/chromium) and "
    "`pip install playwright` (do not run `playwright install`), or set ALIGNLAB_SKIP_BROWSER=1 to skip"
)


def _missing(what: str) -> None:
    if os.environ.get("ALIGNLAB_SKIP_BROWSER") == "1":
        pytest.skip(f"{what}; ALIGNLAB_SKIP_BROWSER=1")
    pytest.fail(f"{what}: {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = os.environ.get("ALIGNLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).is_file():
        _missing(f"no Chromium at {executable}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the Python package playwright is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        yield pg
    finally:
        context.close()


def test_report_renders_its_charts_without_errors(studies: FixtureStudies, page: Any, tmp_path: Path) -> None:
    result = build_report(DPO_STUDY, out=tmp_path / "report.html")
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(result.html_path.as_uri())
    for key in PLOT_KEYS:
        page.wait_for_selector(f"#plot-{key} svg.main-svg", state="attached")
        n_marks = page.eval_on_selector(
            f"#plot-{key}", "d => d.querySelectorAll('svg path, svg rect').length"
        )
        assert n_marks > 10, f"plot-{key} drew only {n_marks} marks"
    assert page.locator("table#trials tbody tr").count() == len(DPO_PLAN)
    assert problems == []


def test_mlflow_ui_lists_the_trial_runs(studies: FixtureStudies, page: Any, tmp_path: Path) -> None:
    handle = ui.start_mlflow(tracking_uri=studies.tracking_uri, port=ui.free_port(), log_dir=tmp_path)
    try:
        ui.wait_ready(handle, timeout=90)
        exp = studies.experiment_ids[DPO_STUDY]
        # MLflow 3 opens experiments in its GenAI view; workflowType=machine_learning shows the runs table.
        page.goto(f"{handle.url}/#/experiments/{exp}/runs?workflowType=machine_learning")
        page.get_by_text(DPO_STUDY, exact=True).first.wait_for()
        # The trials are nested under the study's parent run: expand it.
        page.locator('button[data-component-id*="runnamecellrenderer"]').first.click()
        for n in range(len(DPO_PLAN)):
            page.get_by_text(f"dpo-trial-{n}", exact=True).first.wait_for()
    finally:
        ui.stop(handle)
    assert not handle.running
