"""The bake-off (alignlab.recommend.bakeoff): its plan without training (equal compute, the points of each
algorithm, the gold objective on the built-in task's own files, one valid sweep), the plain recommend path
without it, and one run end to end on the tiny model (K=2, one short trial each) through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.recommend import parse_model, recommend
from alignlab.recommend.bakeoff import TINY_EVAL, _steps_for, plan_bakeoff
from alignlab.recommend.situation import Situation
from alignlab.sweep.checks import parse_sweep

runner = CliRunner()


def _task_pairs_rec(tmp_path: Path) -> Any:
    """The recommendation for a file laid out as the built-in task's pairwise feedback (not read by the plan)."""
    path = tmp_path / "cache" / "task-0123" / "feedback" / "pairwise.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("", encoding="utf-8")
    situation = Situation(
        data_type="pairwise",
        n_examples=2000,
        model=parse_model("builtin:tiny-sft"),
        model_ref="builtin:tiny-sft",
        data_path=str(path),
    )
    return recommend(situation)


def test_the_plan_is_one_valid_study_with_equal_compute_and_every_point_enqueued(tmp_path: Path) -> None:
    rec = _task_pairs_rec(tmp_path)
    plan = plan_bakeoff(rec, k=3)
    ranked = [c.algorithm for c in rec.candidates]
    assert ranked[:2] == ["dpo", "ipo"]
    assert list(plan.arms) == [a for a in ranked if a != "ipo"][:3]  # ipo runs as dpo: the next takes its place
    assert any("ipo runs as dpo" in n for n in plan.notes)
    spec = parse_sweep(plan.spec, where="bakeoff", check_trl=True)
    assert spec.algorithms == list(plan.arms.values())
    assert spec.data.task == "builtin" and spec.judge is None  # the task's own file: the gold win rate
    assert [o.metric for o in spec.objectives] == ["win_rate"]
    assert spec.lora is not None and "lm_head" in (spec.lora.target_modules or [])  # alignlab.task.TASK_LORA
    assert spec.eval.n_prompts == TINY_EVAL["n_prompts"]
    for run_as in spec.algorithms:  # equal compute: the same steps x batch for every algorithm
        fixed = spec.fixed_for(run_as)
        assert (fixed["max_steps"], fixed["per_device_train_batch_size"]) == (60, 8)
        assert "num_train_epochs" not in fixed
    assert len(spec.enqueue) == spec.budget.n_trials == 3 * plan.points == 9
    defaults = spec.enqueue[:3]  # every algorithm's literature default first
    assert [p["algorithm"] for p in defaults] == spec.algorithms
    assert defaults[0] == {"algorithm": "dpo", "beta": 0.1, "learning_rate": 5e-05}
    dpo = [p for p in spec.enqueue if p["algorithm"] == "dpo"]
    assert [p["learning_rate"] for p in dpo] == [5e-05, pytest.approx(7.071e-05), pytest.approx(1.88e-04, rel=1e-3)]


def test_a_budget_sizes_steps_and_points_and_a_small_one_keeps_one_point_each(tmp_path: Path) -> None:
    rec = _task_pairs_rec(tmp_path)
    plan = plan_bakeoff(rec, k=3, budget_minutes=5)
    assert plan.points == 3 and 10 <= plan.steps <= 400
    assert plan.spec["budget"]["timeout_s"] == 300
    assert _steps_for(30, 2, 0, 8) == (44, 1)
    assert _steps_for(30, 2, 2, 8)[1] == 1  # online algorithms cost more a step


def test_user_data_is_judged(tmp_path: Path) -> None:
    situation = Situation(
        data_type="pairwise", n_examples=2000, model=parse_model("builtin:tiny-sft"), model_ref="builtin:tiny-sft",
        data_path=str(tmp_path / "mine.jsonl"),
    )
    spec = parse_sweep(plan_bakeoff(recommend(situation), k=2).spec, where="bakeoff", check_trl=False)
    assert spec.judge is not None and spec.judge.train_on == "heldout"
    assert spec.objectives[0].metric == "judge_win_rate_kl"


def test_bad_bakeoff_options_are_one_line_each() -> None:
    args = ["recommend", "--data-type", "pairwise", "--n-examples", "100"]
    result = runner.invoke(app, [*args, "--budget-minutes", "5"])
    assert result.exit_code == 2 and "--budget-minutes: the time of --bakeoff K" in result.output
    result = runner.invoke(app, [*args, "--bakeoff", "2", "--algorithm", "dpo", "--write-sweep", "x.yaml"])
    assert result.exit_code == 2 and "--algorithm: with --bakeoff" in result.output


def test_plain_recommend_imports_neither_the_bakeoff_nor_torch() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from alignlab.cli import app; "
        "r = CliRunner().invoke(app, ['recommend', '--data-type', 'pairwise', '--n-examples', '100', '--json']); "
        "assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in ('torch', 'optuna', 'alignlab.recommend.bakeoff') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_the_bakeoff_runs_end_to_end_and_prints_both_rankings(studies_root: Path) -> None:
    from alignlab.paths import cache_dir
    from alignlab.task import ensure_task_assets

    pairs = ensure_task_assets(cache_dir()).feedback["pairwise"]
    out = studies_root.parent / "pick.yaml"
    args = ["recommend", "--data", str(pairs), "--model", "builtin:tiny-sft", "--bakeoff", "2"]
    result = runner.invoke(app, [*args, "--budget-minutes", "0.5", "--write-sweep", str(out)])
    assert result.exit_code == 0, result.output
    assert "bake-off (study pairwise-bakeoff-k2-s44-b8): win_rate" in result.output
    assert "rules: dpo > simpo" in result.output and "would run: " in result.output
    assert out.is_file()
    from alignlab.results.compare import compare_table

    df = compare_table(["pairwise-bakeoff-k2-s44-b8"], use_mlflow=False)
    assert sorted(df["algorithm"]) == ["dpo", "simpo"] and set(df["state"]) == {"COMPLETE"}
    again = runner.invoke(app, [*args, "--budget-minutes", "0.5", "--json"])  # the same plan: read back
    found = json.loads(again.stdout)["bakeoff"]
    assert found["study"] == "pairwise-bakeoff-k2-s44-b8" and len(found["arms"]) == 2
