"""Warm start (alignlab.sweep.warm_start) over real Optuna studies and an analytic trainer (no TRL): a source
study's complete trials become priors of a new study, marked, rank-scaled, never counted in the budget, never
the best; params outside the new space are left out and counted; input that does not fit is one line each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from objectives import win_rate
from study_fixture import fast_dir
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import UserInputError
from alignlab.paths import study_dir
from alignlab.run.config import RunConfig
from alignlab.run.training import EvaluateHook, RunResult, StepHook
from alignlab.sweep import catalog, records
from alignlab.sweep.best import select_best, study_status
from alignlab.sweep.checks import parse_sweep
from alignlab.sweep.spec import SweepSpec
from alignlab.sweep.study import run_sweep
from alignlab.sweep.warm_start import (
    BEST_PRIOR,
    PRIOR,
    PRIOR_VALUES,
    STUDY_WARM_START,
    is_prior,
    plan_priors,
    rank_scaled,
    with_warm_start,
)

runner = CliRunner()


class Analytic:
    """run_training's signature over the analytic objective (tests/objectives.py) less ``offset``."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.configs: list[RunConfig] = []

    def __call__(
        self,
        config: RunConfig,
        *,
        on_evaluate: EvaluateHook | None = None,
        on_step: StepHook | None = None,
        tags: dict[str, str] | None = None,
        **hooks: Any,
    ) -> RunResult:
        self.configs.append(config)
        lr = float(config.params["learning_rate"])
        metrics = {"win_rate": round(win_rate(config.params) - self.offset, 6), "kl": round(lr * 1e4, 6)}
        return RunResult(config.name, config.algorithm, "completed", None, metrics, 10, 0.01, None, config.output_dir)


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{fast_dir(tmp_path_factory) / 'mlflow.db'}"


@pytest.fixture
def studies_root_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """conftest's studies root, here on tmpfs (its sweeps commit to SQLite often, and a commit fsyncs on a disk), created and made
    the current folder (MLflow writes artifacts under ./mlruns)."""
    path = fast_dir(tmp_path_factory) / "studies"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def make_spec(tracking_uri: str) -> Callable[..., SweepSpec]:
    def make(name: str, **overrides: Any) -> SweepSpec:
        raw: dict[str, Any] = {
            "name": name,
            "algorithm": "dpo",
            "model": "builtin:tiny-sft",
            "data": {"task": "builtin"},
            "fixed": {"max_steps": 10},
            "search": {
                "beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
                "learning_rate": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
            },
            "objectives": [{"metric": "win_rate", "direction": "maximize"}],
            "sampler": {"type": "random"},
            "pruner": {"type": "none"},
            "budget": {"n_trials": 6},
            "tracking_uri": tracking_uri,
        }
        return parse_sweep({**raw, **overrides}, where=name, check_trl=False)

    return make


def _source(make_spec: Callable[..., SweepSpec], name: str = "src", **overrides: Any) -> list[Any]:
    """A finished source study on "other data" (its win rates 0.3 lower); its complete trials."""
    run_sweep(make_spec(name, **overrides), train=Analytic(offset=0.3))
    study = catalog.open_study(name).study
    return [t for t in study.get_trials() if t.state.name == "COMPLETE"]


def test_priors_are_added_marked_rank_scaled_and_the_best_enqueued(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    source = _source(make_spec)
    assert len(source) == 6
    outcome = run_sweep(make_spec("new", warm_start=["src"], budget={"n_trials": 3}), train=Analytic())
    study = catalog.open_study("new").study
    trials = study.get_trials()
    priors = [t for t in trials if is_prior(t)]
    assert len(priors) == 6 and {t.user_attrs[PRIOR] for t in priors} == {"src"}
    assert [t.user_attrs[PRIOR_VALUES] for t in priors] == [list(t.values) for t in source]
    expected = rank_scaled([t.values[0] for t in source], maximize=True, same_metric=True)
    assert [t.values[0] for t in priors] == pytest.approx(expected)
    assert [t.params for t in priors] == [t.params for t in source]
    best_source = max(source, key=lambda t: t.values[0])
    rerun = [t for t in trials if BEST_PRIOR in t.user_attrs]
    assert len(rerun) == 1 and rerun[0].params == best_source.params and not is_prior(rerun[0])
    assert rerun[0].number == min(t.number for t in trials if not is_prior(t))  # the first own trial
    assert study.user_attrs[STUDY_WARM_START]["src"]["added"] == 6
    assert outcome.warm_start == ["6 of 6 complete trials of 'src' added as priors"]


def test_priors_do_not_count_in_the_budget_and_are_never_the_best(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    _source(make_spec)
    outcome = run_sweep(make_spec("new", warm_start=["src"], budget={"n_trials": 2}), train=Analytic())
    study = catalog.open_study("new").study
    own = [t for t in study.get_trials() if not is_prior(t) and t.state.name == "COMPLETE"]
    assert len(own) == 2 and outcome.n_finished == 2 == records.finished_count(study)
    record = catalog.open_study("new")
    best = select_best(record)
    # the priors' rank-scaled values (up to the source's best) beat every own value: best still is own
    assert best is not None and best.number in {t.number for t in own}
    status = study_status(record)
    assert status["finished"] == 2 and status["states"]["PRIOR"] == 6
    again = run_sweep(make_spec("new", warm_start=["src"], budget={"n_trials": 3}), train=Analytic())
    assert again.n_finished == 3 and again.warm_start == []  # resumed: the source is not added twice
    assert sum(is_prior(t) for t in catalog.open_study("new").study.get_trials()) == 6


def test_compare_and_report_mark_priors_and_leave_them_out_of_the_ranking(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    from alignlab.results.compare import compare_table, to_records
    from alignlab.results.report import build_report

    _source(make_spec)
    run_sweep(make_spec("new", warm_start=["src"], budget={"n_trials": 2}), train=Analytic())
    df = compare_table(["new"], use_mlflow=False)
    rows = to_records(df)
    assert [r["prior"] for r in rows] == [None, None] + ["src"] * 6  # own trials first
    assert max(r["win_rate"] for r in rows[2:]) < 0.61  # the source's raw values, not the rank-scaled ones
    assert all(r["win_rate_se"] is None for r in rows[2:])
    assert "2 or 3" not in (df.attrs["noise"] or "")
    assert "prior" not in compare_table(["src"], use_mlflow=False).columns
    page = build_report("new", pngs=False).html_path.read_text(encoding="utf-8")
    assert ">prior<" in page and "src" in page


def test_params_outside_the_space_are_left_out_and_trials_outside_the_range_dropped(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    source = _source(make_spec)
    narrow = {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}
    spec = make_spec(
        "new",
        fixed={"max_steps": 10, "beta": 0.1},
        search={"learning_rate": narrow, "r": {"type": "int", "low": 4, "high": 16}},
    )
    plan = plan_priors(spec, catalog.open_study("src"))
    inside = [t for t in source if 1e-5 <= t.params["learning_rate"] <= 1e-3]
    assert len(plan.trials) == len(inside) and plan.n_complete == 6
    assert sum(plan.dropped.values()) == 6 - len(inside)
    if len(inside) < 6:
        assert plan.dropped["had learning_rate outside this sweep's range"] == 6 - len(inside)
    assert plan.params_left_out == {"beta": len(inside)}
    assert all(t.params["r"] == 8 for t in plan.trials)  # not searched there: the r it ran with
    assert "left out: beta" in plan.describe()
    wide = {"type": "float", "low": 1e-6, "high": 1e-2, "log": True}
    small_r = make_spec("other", search={"learning_rate": wide, "r": {"type": "int", "low": 16, "high": 32}})
    assert plan_priors(small_r, catalog.open_study("src")).dropped == {"had r outside this sweep's range": 6}


def test_rank_scaling_spreads_ranks_over_the_sources_range() -> None:
    assert rank_scaled([0.1, 0.5, 0.52, 0.9], maximize=True, same_metric=True) == pytest.approx(
        [0.1, 0.1 + 0.8 / 3, 0.1 + 1.6 / 3, 0.9]
    )
    # minimize: the best (lowest) rank gets the lowest value; the tied pair shares ranks 0 and 1 (q = 5/6)
    assert rank_scaled([3.0, 1.0, 1.0, 2.0], maximize=False, same_metric=True) == pytest.approx(
        [3.0, 4 / 3, 4 / 3, 7 / 3]
    )
    assert rank_scaled([0.04, 0.5, 0.6], maximize=True, same_metric=False) == pytest.approx([0.0, 0.5, 1.0])


def test_each_source_that_does_not_fit_is_one_line_naming_it_and_nothing_is_created(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    _source(make_spec)
    _source(make_spec, "kl-min", objectives=[{"metric": "kl", "direction": "minimize"}])
    raw = {
        "name": "new",
        "algorithm": "dpo",
        "model": "builtin:tiny-sft",
        "data": {"task": "builtin"},
        "search": {"r": {"type": "int", "low": 4, "high": 16}, "beta": {"type": "float", "low": 0.01, "high": 1.0}},
        "objectives": [{"metric": "win_rate", "direction": "maximize"}],
        "warm_start": ["nope", "kl-min", "src"],
    }
    with pytest.raises(UserInputError) as caught:
        parse_sweep(raw, where="new.yaml", check_trl=False)
    problems = caught.value.problems
    assert len(problems) == 2, problems
    assert problems[0].startswith("new.yaml: warm_start.0: study 'nope': unknown study 'nope'")
    assert problems[1].startswith("new.yaml: warm_start.1: study 'kl-min' optimises minimize kl, but this sweep")
    assert "another objective direction" in problems[1]
    no_overlap = make_spec("lora-only", search={"r": {"type": "int", "low": 4, "high": 16}})
    with pytest.raises(UserInputError) as caught:
        with_warm_start(no_overlap, ["src", "lora-only"], key="--warm-start")
    assert caught.value.problems == [
        "--warm-start: study 'src' searched beta, learning_rate, but this sweep searches r: no parameter in common",
        "--warm-start: study 'lora-only' is this sweep's own study (its trials are already its own)",
    ]
    with pytest.raises(UserInputError):
        run_sweep(no_overlap.model_copy(update={"warm_start": ["src"]}), train=Analytic())
    assert not study_dir("lora-only").exists()  # nothing created


def test_the_cli_refuses_a_warm_start_that_does_not_fit_with_one_error_line(
    make_spec: Callable[..., SweepSpec], studies_root: Path, tracking_uri: str
) -> None:
    _source(make_spec)
    spec = make_spec("new").model_dump(mode="json", exclude_defaults=True)
    path = studies_root / "new.yaml"
    path.write_text(yaml.safe_dump({**spec, "tracking_uri": tracking_uri}), encoding="utf-8")
    result = runner.invoke(
        app, ["sweep", "run", str(path), "--warm-start", "missing", "--trainer", "test_warm_start:ANALYTIC"]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "--warm-start: study 'missing': unknown study 'missing'" in lines[0]
    assert not study_dir("new").exists()
    result = runner.invoke(
        app, ["sweep", "run", str(path), "--warm-start", "src", "--trainer", "test_warm_start:ANALYTIC"]
    )
    assert result.exit_code == 0, result.output
    assert "warm start: 6 of 6 complete trials of 'src' added as priors" in result.output


ANALYTIC = Analytic()


def test_recommend_write_sweep_offers_the_studies_that_fit(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    _source(make_spec)
    _source(make_spec, "kto-src", algorithm="kto", search={"learning_rate": {"type": "float", "low": 1e-6, "high": 1e-2}})
    out = studies_root / "draft.yaml"
    args = ["recommend", "--data-type", "pairwise", "--n-examples", "2000", "--model", "builtin:tiny-sft"]
    result = runner.invoke(app, [*args, "--write-sweep", str(out), "--algorithm", "dpo"])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "# warm_start: [src]   # earlier studies that fit this sweep" in text  # not the KTO study
    spec = yaml.safe_load(text.replace("# warm_start:", "warm_start:"))
    assert parse_sweep(spec, where="draft", check_trl=False).warm_start == ["src"]
