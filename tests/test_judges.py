"""Judged objectives: a judge trained on held-out pairs (cached), a user's reward model or function, the
metrics and their units, the study's record of its judge, and every bad input as one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignlab.errors import UserInputError
from alignlab.run.config import RunConfig
from alignlab.run.training import run_training

QUICK_EVAL = {"n_prompts": 12, "samples_per_prompt": 2, "max_new_tokens": 24, "n_pairs": 48}
PARAMS = {"max_steps": 6, "per_device_train_batch_size": 8, "learning_rate": 1e-3, "max_length": 64}


def judged_config(name: str = "judged", **judge: Any) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": name,
            "algorithm": "dpo",
            "model": "builtin:tiny-sft",
            "data": {"task": "builtin"},
            "judge": judge or {"train_on": "heldout", "fraction": 0.2, "max_steps": 20},
            "params": PARAMS,
            "eval": QUICK_EVAL,
        }
    )


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alignlab.cli", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


# ---- the judge on the built-in task -------------------------------------------------------------------


def test_a_heldout_judge_scores_the_run_beside_the_gold_reward_and_is_trained_once(studies_root: Path) -> None:
    first = run_training(judged_config("first"))
    assert first.status == "completed", first.reason
    metrics = first.metrics
    for metric in ("judge_win_rate", "judge_win_rate_kl", "judge_reward", "judge_accuracy", "win_rate"):
        assert metric in metrics, metric
    assert 0.0 <= metrics["judge_win_rate"] <= 1.0
    # The judge learned the task from pairs no trial trains on: far better than chance on the held-out pairs.
    assert metrics["judge_accuracy"] > 0.7
    units = first.units["judge_win_rate"]
    assert len(units["values"]) == QUICK_EVAL["n_prompts"]
    assert units["key"] == first.units["win_rate"]["key"]  # the same prompts: paired with the gold win rate
    assert sum(units["values"]) / len(units["values"]) == pytest.approx(metrics["judge_win_rate"])
    priced = metrics["judge_win_rate"] - 0.01 * metrics["kl"]  # judge.kl_coef's default
    assert metrics["judge_win_rate_kl"] == pytest.approx(priced)
    assert first.units["judge_win_rate_kl"]["key"] == units["key"]
    assert len(first.units["judge_accuracy"]["values"]) > 0
    assert first.timings["judge_train_s"] > 0

    from alignlab.paths import cache_dir

    cached = sorted(p.name for p in (cache_dir() / "judges").iterdir() if p.is_dir())
    second = run_training(judged_config("second"))
    assert second.status == "completed", second.reason
    assert second.timings["judge_train_s"] == 0.0  # the cache hit: same model, pairs and settings
    assert second.metrics["judge_accuracy"] == metrics["judge_accuracy"]
    assert sorted(p.name for p in (cache_dir() / "judges").iterdir() if p.is_dir()) == cached


def test_the_judges_pairs_are_kept_from_the_trials(tmp_path: Path) -> None:
    from alignlab.run.assets import load_run_data
    from alignlab.run.config import DataSettings

    settings = DataSettings(path=str(_pairwise_file(tmp_path / "pairs.jsonl", 400)))
    data = load_run_data("pairwise", settings, seed=0, judge_fraction=0.3)
    judge_prompts = {json.dumps(p["prompt"]) for p in data.judge_pairs}
    train_prompts = {json.dumps(r["prompt"]) for r in data.train}
    eval_prompts = {json.dumps(p) for p in data.eval_prompts}
    assert judge_prompts and train_prompts
    assert not judge_prompts & train_prompts
    assert not judge_prompts & eval_prompts
    plain = load_run_data("pairwise", settings, seed=0)
    assert len(plain.train) == len(data.train) + len(data.judge_pairs)


def _pairwise_file(path: Path, n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": f"question {i}?", "chosen": f"good answer {i}", "rejected": f"bad {i}"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_user_reward_function_judges(studies_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_judge.py").write_text(
        "def longer(prompts, completions, **kwargs):\n    return [float(len(c)) for c in completions]\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = run_training(judged_config("fn", function="my_judge:longer"))
    assert result.status == "completed", result.reason
    assert "judge_win_rate" in result.metrics and "judge_accuracy" in result.metrics
    lengths = result.metrics["judge_reward"]
    assert lengths > 0  # characters of the samples


def test_a_reward_run_folder_judges(studies_root: Path) -> None:
    from alignlab.run.assets import builtin_reward_model

    result = run_training(judged_config("rm", reward_model=str(builtin_reward_model())))
    assert result.status == "completed", result.reason
    assert result.metrics["judge_accuracy"] > 0.7


# ---- a sweep with a judge: units, the study's record, how far to trust it -------------------------------


def test_a_judged_sweep_records_its_judge_and_says_how_far_to_trust_the_winner(studies_root: Path) -> None:
    from alignlab.sweep.best import select_best
    from alignlab.sweep.catalog import open_study
    from alignlab.sweep.checks import parse_sweep
    from alignlab.sweep.study import run_sweep

    spec = parse_sweep(
        {
            "name": "judged",
            "algorithm": "dpo",
            "model": "builtin:tiny-sft",
            "data": {"task": "builtin"},
            "judge": {"train_on": "heldout", "fraction": 0.2, "max_steps": 20},
            "fixed": PARAMS,
            "eval": QUICK_EVAL,
            "search": {"learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True}},
            "objectives": [{"metric": "judge_win_rate", "direction": "maximize"}],
            "pruner": {"type": "none"},
            "budget": {"n_trials": 3},
        }
    )
    outcome = run_sweep(spec)
    assert outcome.n_finished == 3
    record = open_study("judged")
    assert record.judge is not None and record.judge["source"] == "heldout:0.2"
    assert 0.0 < record.judge["accuracy"] <= 1.0
    best = select_best(record)
    assert best is not None
    assert best.standard_errors[0] is not None  # per-prompt units: a bootstrap standard error
    assert any(line.startswith("judge heldout:0.2: ranks") for line in best.trust)
    assert any("Kendall tau" in line and "gold win_rate" in line for line in best.trust)
    assert "win_rate" in best.metrics  # the gold win rate logged beside the judged objective
    from alignlab.results.compare import compare_table

    table = compare_table(["judged"], use_mlflow=False)
    assert "response_length" in table.columns  # judges favour longer answers: the length beside them
    assert table.attrs["judges"]["judged"]["source"] == "heldout:0.2"


# ---- bad input: one line each, nothing created ----------------------------------------------------------


@pytest.mark.parametrize(
    ("judge", "expected"),
    [
        ({"train_on": "heldout", "fraction": 0.7}, "judge.fraction: Input should be less than or equal to 0.5"),
        ({"train_on": "heldout", "fraction": 0.0}, "judge.fraction: Input should be greater than 0"),
        ({"train_on": "heldout", "function": "m:f"}, "give exactly one of"),
        ({}, "give exactly one of"),
        ({"function": "m:f", "max_steps": 3}, "go with train_on: heldout"),
    ],
)
def test_judge_settings_are_checked(judge: dict[str, Any], expected: str) -> None:
    from alignlab.run.config import parse_run_config

    raw = judged_config().to_dict()
    raw["judge"] = judge
    with pytest.raises(UserInputError) as err:
        parse_run_config(raw, where="run.yaml", check_trl=False)
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith("run.yaml: judge")
    assert expected in err.value.problems[0]


def test_a_judged_objective_without_a_judge_is_refused() -> None:
    from alignlab.sweep.checks import parse_sweep

    with pytest.raises(UserInputError) as err:
        parse_sweep(
            {
                "name": "x",
                "algorithm": "dpo",
                "model": "builtin:tiny-sft",
                "data": {"task": "builtin"},
                "search": {"beta": {"type": "float", "low": 0.05, "high": 0.5}},
                "objectives": [{"metric": "judge_win_rate", "direction": "maximize"}],
                "constraints": [{"metric": "judge_accuracy", "min": 0.6}],
            },
            where="s.yaml",
            check_trl=False,
        )
    assert err.value.problems == [
        "s.yaml: objectives.0.metric: judge_win_rate needs a judge (judge: {train_on: heldout, fraction: 0.2}, "
        "{reward_model: PATH} or {function: module:fn})",
        "s.yaml: constraints.0.metric: judge_accuracy needs a judge (judge: {train_on: heldout, fraction: 0.2}, "
        "{reward_model: PATH} or {function: module:fn})",
    ]


def _sweep_file(tmp_path: Path, data: dict[str, Any], judge: dict[str, Any], metric: str = "judge_win_rate") -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "judged-file",
                "algorithm": "dpo",
                "model": "builtin:tiny-sft",
                "data": data,
                "judge": judge,
                "search": {"beta": {"type": "float", "low": 0.05, "high": 0.5}},
                "objectives": [{"metric": metric, "direction": "maximize"}],
            }
        ),
        encoding="utf-8",
    )
    return path


def test_a_folder_that_cannot_judge_is_one_line_and_nothing_is_created(
    studies_root: Path, tmp_path: Path
) -> None:
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}), encoding="utf-8")
    (lm / "tokenizer.json").write_text("{}", encoding="utf-8")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForSequenceClassification"]}), encoding="utf-8"
    )
    for folder, expected in ((lm, "is not a sequence classifier"), (bare, "has no tokenizer of its own")):
        spec = _sweep_file(tmp_path, {"task": "builtin"}, {"reward_model": str(folder)})
        done = run_cli("sweep", "run", str(spec))
        assert done.returncode == 2, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "judge.reward_model" in errors[0] and expected in errors[0], done.stderr
        assert "Traceback" not in done.stderr
        assert not (studies_root / "judged-file").exists()


def test_a_judge_function_that_cannot_be_imported_is_one_line(studies_root: Path, tmp_path: Path) -> None:
    spec = _sweep_file(tmp_path, {"task": "builtin"}, {"function": "no_such_module_here:judge"})
    done = run_cli("validate", str(spec))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "judge.function" in errors[0] and "not found" in errors[0], done.stderr


def test_too_few_pairs_for_the_judge_is_one_line(studies_root: Path, tmp_path: Path) -> None:
    small = _pairwise_file(tmp_path / "small.jsonl", 60)
    spec = _sweep_file(tmp_path, {"path": str(small)}, {"train_on": "heldout", "fraction": 0.2})
    done = run_cli("validate", str(spec))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "judge.fraction" in errors[0] and "needs at least 32" in errors[0]


def test_validate_warns_of_a_proxy_objective_on_a_users_file_and_names_the_better_one(
    studies_root: Path, tmp_path: Path
) -> None:
    from alignlab.sweep.objectives import MEASURED, POOR_REGRET

    assert MEASURED["preference_accuracy"].worst_regret > POOR_REGRET  # what docs/objectives.md measured
    assert MEASURED["judge_win_rate_kl"].worst_regret <= POOR_REGRET
    data = _pairwise_file(tmp_path / "pairs.jsonl", 400)
    path = tmp_path / "proxy.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "proxy",
                "algorithm": "dpo",
                "model": "builtin:tiny-sft",
                "data": {"path": str(data)},
                "search": {"beta": {"type": "float", "low": 0.05, "high": 0.5}},
                "objectives": [{"metric": "preference_accuracy", "direction": "maximize"}],
            }
        ),
        encoding="utf-8",
    )
    done = run_cli("validate", str(path))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "objectives.0.metric: preference_accuracy" in warnings[0]
    assert "optimise judge_win_rate_kl with judge: {train_on: heldout, fraction: 0.2} instead" in warnings[0]
    judged = _sweep_file(tmp_path, {"path": str(data)}, {"train_on": "heldout", "fraction": 0.2}, "judge_win_rate_kl")
    done = run_cli("validate", str(judged))
    assert done.returncode == 0, done.stderr
    assert "warning:" not in done.stderr
