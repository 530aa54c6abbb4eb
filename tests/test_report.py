"""`alignlab report` and alignlab.results.report over real Optuna + MLflow stores (tests/study_fixture.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from study_fixture import (
    DPO_STUDY,
    MIX_STUDY,
    FixtureStudies,
    build_optuna_only,
    built_studies,
    studies,
)
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.results.report import PLOT_KEYS, build_report

__all__ = ["built_studies", "studies"]  # fixtures, imported for pytest

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _plot_ids(page: str) -> set[str]:
    return set(re.findall(r'<div id="(plot-[\w-]+)" class="plotly-graph-div"', page))


def _figures(page: str) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """plot id -> (traces, layout) of every ``Plotly.newPlot`` call on the page."""
    decoder = json.JSONDecoder()
    out = {}
    for match in re.finditer(r'Plotly\.newPlot\(\s*"(plot-[\w-]+)",\s*', page):
        data, end = decoder.raw_decode(page, match.end())
        layout, _ = decoder.raw_decode(page, page.index("{", end))
        out[match.group(1)] = (data, layout)
    return out


def test_report_of_single_objective_study(studies: FixtureStudies, tmp_path: Path) -> None:
    out = tmp_path / "r" / "dpo.html"
    result = build_report(DPO_STUDY, out=out)
    assert result.html_path == out and result.notes == []
    page = out.read_text(encoding="utf-8")
    assert {f"plot-{k}" for k in PLOT_KEYS} <= _plot_ids(page)
    # self-contained: plotly.js inline, nothing loaded from elsewhere
    assert "plotly.js v" in page or "Plotly" in page
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=\"http", page)
    # the trial table links each run to the MLflow UI
    exp = studies.experiment_ids[DPO_STUDY]
    for run_id in studies.run_ids[DPO_STUDY].values():
        assert f'href="http://127.0.0.1:5000/#/experiments/{exp}/runs/{run_id}"' in page
    assert (
        page.count('<tr class="COMPLETE">') == 5
        and '<tr class="PRUNED">' in page
        and '<tr class="FAIL">' in page
    )
    # PNGs of the key plots beside the page
    names = sorted(p.name for p in result.png_paths)
    assert names == [f"dpo-{k}.png" for k in ("curves", "history", "importance", "param", "pareto")]
    for png in result.png_paths:
        assert png.parent == out.parent and png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([out.name, *names])  # no temporary files


def test_one_title_per_plot_curves_with_every_evaluation_and_the_best_vs_default_card(studies: FixtureStudies, tmp_path: Path) -> None:
    page = build_report(DPO_STUDY, out=tmp_path / "dpo.html", pngs=False).html_path.read_text(encoding="utf-8")
    figures = _figures(page)
    assert {f"plot-{k}" for k in PLOT_KEYS} <= set(figures)
    for plot_id, (_, layout) in figures.items():
        # the section's <h2> is the plot's title; the figure has none of its own (nor panel titles)
        assert not (layout.get("title") or {}).get("text"), (plot_id, layout.get("title"))
        assert not [a for a in layout.get("annotations", []) if a.get("yref") == "paper" and a.get("y", 0) >= 1]
    headings = re.findall(r'<section class="plot" id="section-(\w+)">\s*<h2>([^<]+)</h2>', page)
    assert [k for k, _ in headings] == list(PLOT_KEYS)
    traces, _ = figures["plot-curves"]
    best = next(t for t in traces if t["name"] == "trial 3" and t.get("xaxis", "x") == "x")
    # every evaluation the analytic run logged (study_fixture.EVAL_STEPS, then the final one at step 40)
    assert best["x"] == [10, 20, 30, 40, 40] and best["y"][-1] == pytest.approx(0.9)

    # the best vs default card, with intervals, at the top
    card = page[page.index('id="best-vs-default"') : page.index("</section>", page.index('id="best-vs-default"'))]
    assert page.index('id="best-vs-default"') < page.index('id="section-history"')  # at the top
    assert "best: trial 3<b>0.9000 ± 0.0" in card and "literature default: trial 0<b>0.8154 ± 0.0" in card
    assert re.search(r"difference<b>\+0\.0846 ± 0\.0\d+</b>95% interval \+0\.0\d+ to \+0\.1\d+, paired over 100 prompts", card)
    assert "trial 3 beats the default beyond noise on win_rate" in card
    assert "trials 3 and 1 are within noise of each other" in card


def test_report_of_multi_objective_multi_algorithm_study(studies: FixtureStudies, tmp_path: Path) -> None:
    result = build_report(MIX_STUDY, out=tmp_path / "mix.html", mlflow_url="http://localhost:5123/")
    page = result.html_path.read_text(encoding="utf-8")
    ids = _plot_ids(page)
    assert {f"plot-{k}" for k in PLOT_KEYS} <= ids
    assert "plot-importance-kl" in ids  # one importance plot per objective
    traces, layout = _figures(page)["plot-pareto"]  # Optuna's own plot: the objectives are exactly (win_rate, kl)
    assert traces[0]["hovertemplate"].endswith("<extra>Trial</extra>") and layout["xaxis"]["title"]["text"] == "kl"
    exp = studies.experiment_ids[MIX_STUDY]
    for run_id in studies.run_ids[MIX_STUDY].values():  # run ids found through the MLflow tags
        assert f"http://localhost:5123/#/experiments/{exp}/runs/{run_id}" in page
    for alg in ("dpo", "kto", "ppo"):
        assert f'<td class="algorithm">{alg}</td>' in page
    card = page[page.index('id="best-vs-default"') : page.index("</section>", page.index('id="best-vs-default"'))]
    assert "no standard errors" in card and "±" not in card  # a study without units still reads


def test_report_with_one_complete_trial_and_no_mlflow(studies_root: Path) -> None:
    store = build_optuna_only(studies_root, "tiny", n_complete=1)
    result = runner.invoke(app, ["report", "tiny"])
    assert result.exit_code == 0, result.output
    html_path = studies_root / "tiny" / "report.html"  # the default place
    assert f"wrote {html_path}" in result.stdout
    assert "note: importance: importances need at least 2 complete trials; this study has 1" in result.stdout
    page = html_path.read_text(encoding="utf-8")
    assert "importances need at least 2 complete trials" in page
    assert {"plot-history", "plot-pareto", "plot-param", "plot-curves"} <= _plot_ids(page)
    assert "plot-importance" not in _plot_ids(page)
    assert (studies_root / "tiny" / "report-history.png").is_file()
    assert not store.exists(), "a report must not create an MLflow store"


def test_report_unknown_study_exit_2(studies: FixtureStudies) -> None:
    result = runner.invoke(app, ["report", "nope"])
    assert result.exit_code == 2
    assert "error: unknown study 'nope'" in result.stderr
