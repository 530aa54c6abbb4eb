"""What a person sees first, in headless Chromium (Debian's, driven by Playwright for Python): the report's
charts, the MLflow UI on a study's trials, optuna-dashboard on a study.

The studies are small real sweeps (tests/study_fixture.py, tests/pruned_study.py: the real runner, real
Optuna and MLflow stores, an analytic trainer). Needs ``apt-get install -y chromium`` and
``pip install playwright`` (never ``playwright install``: the browser comes from Debian). A missing browser
FAILS these tests, with how to install it; ``ALIGNLAB_SKIP_BROWSER=1`` skips them instead, except under
``CI=true``. ``ALIGNLAB_CHROMIUM`` names another Chromium binary. ``ALIGNLAB_SCREENSHOTS=docs/screenshots``
saves the screenshots there (docs/screenshots.md shows them); else they go to the test's tmp folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pruned_study
import pytest
from study_fixture import DPO_PLAN, DPO_STUDY, FixtureStudies, built_studies, fast_dir, studies

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
VIEWPORT = {"width": 1400, "height": 900}
#: Whether the runs table's first column headers, left to right as drawn (pinned ones first), are ``w``.
HEADERS_ARE = """w => ['.ag-pinned-left-header', '.ag-header-viewport']
    .flatMap(c => Array.from(document.querySelectorAll(c + ' .ag-header-row-column .ag-header-cell'))
        .sort((a, b) => parseFloat(a.style.left) - parseFloat(b.style.left)).map(e => e.innerText.trim()))
    .filter(Boolean).slice(0, w.length).join('|') === w.join('|')"""


def _missing(what: str) -> None:
    if os.environ.get("ALIGNLAB_SKIP_BROWSER") == "1" and os.environ.get("CI") != "true":
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
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def studies_root_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conftest's studies root, here on tmpfs: pruned_study's sweep commits to SQLite often (a fsync each on a disk)."""
    return fast_dir(tmp_path_factory) / "studies"


def _screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ALIGNLAB_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000  # something was drawn
    return path


def _errors(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems


def test_report_renders_its_charts_without_errors(studies: FixtureStudies, page: Any, tmp_path: Path) -> None:
    result = build_report(DPO_STUDY, out=tmp_path / "report.html")
    problems = _errors(page)
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
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
    page.locator(f"#plot-{PLOT_KEYS[0]}").scroll_into_view_if_needed()
    _screenshot(page, "report", tmp_path)


def test_mlflow_ui_opens_on_the_trials_with_the_objective(
    studies: FixtureStudies, page: Any, tmp_path: Path
) -> None:
    """The link `alignlab ui` prints for a study: the model-training view, every trial listed best first
    with the objective, KL and the searched params as the first columns; its charts start with the
    objective at every evaluation."""
    handle = ui.start_mlflow(tracking_uri=studies.tracking_uri, port=ui.free_port(), log_dir=tmp_path)
    try:
        ui.wait_ready(handle, timeout=90)
        links = dict(ui.mlflow_pages(handle.url, tracking_uri=studies.tracking_uri))
        problems = _errors(page)
        page.goto(links[DPO_STUDY])
        first = ["Run Name", "Created", "eval/win_rate", "eval/kl", "beta", "learning_rate", "alignlab.trial_state"]
        page.wait_for_function(HEADERS_ARE, arg=first)  # the view's order is applied once the table has drawn
        assert page.locator('input[value="TABLE"]').is_checked()  # the runs table, not the GenAI overview
        assert page.get_by_text("Detect Issues").count() == 0
        rows = page.locator(".ag-pinned-left-cols-container .ag-row")
        names = {int(r.get_attribute("row-index")): r.inner_text().split("\n")[-2] for r in rows.all()}
        trials = [names[i] for i in sorted(names) if names[i].startswith("dpo-trial-")]
        assert sorted(trials) == sorted(f"dpo-trial-{n}" for n in range(len(DPO_PLAN)))
        assert trials[0] == "dpo-trial-3"  # the best (study_fixture.expected_order), first
        for name in trials:
            assert page.get_by_text(name, exact=True).first.is_visible()  # not collapsed under the study
        pruned = next(n for n, (_, fate) in enumerate(DPO_PLAN) if fate == "pruned")
        row = page.locator(".ag-center-cols-container .ag-row").nth(trials.index(f"dpo-trial-{pruned}"))
        assert "PRUNED" in row.inner_text()
        _screenshot(page, "mlflow-trials", tmp_path)

        page.locator("label", has=page.locator('input[value="CHART"]')).click()
        page.get_by_text("Objective", exact=True).first.wait_for()
        first_chart = page.locator("[data-testid='experiment-view-compare-runs-card'], .js-plotly-plot").first
        first_chart.wait_for()
        assert page.get_by_text("eval/win_rate", exact=True).first.is_visible()
        assert problems == []
        _screenshot(page, "mlflow-charts", tmp_path)
    finally:
        ui.stop(handle)
    assert not handle.running


def test_optuna_dashboard_names_the_objective_and_shows_pruned_trials_as_pruned(
    studies_root: Path, page: Any, tmp_path: Path
) -> None:
    storage = pruned_study.build(studies_root)
    handle = ui.start_optuna_dashboard(storage, port=ui.free_port(), log_dir=tmp_path)
    try:
        ui.wait_ready(handle, timeout=60)
        problems = _errors(page)
        page.goto(ui.dashboard_study_url(handle, pruned_study.NAME))
        page.get_by_text("Intermediate values", exact=True).wait_for()
        page.locator(".legendtext", has_text="trial #2").wait_for()
        text = page.inner_text("body")
        assert "win_rate" in text and "Objective 0" not in text
        legend = [t.strip() for t in page.locator(".legendtext").all_text_contents() if t.startswith("trial #")]
        assert legend == ["trial #0", "trial #1", "trial #2 (infeasible)"]  # trial 1, pruned, is not infeasible
        assert problems == []
        page.get_by_text("Intermediate values", exact=True).evaluate("e => e.scrollIntoView()")
        _screenshot(page, "optuna-dashboard", tmp_path)
    finally:
        ui.stop(handle)
