"""Sweep files and run configs: every shipped file parses; bad ones report every problem with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alignlab.errors import UserInputError
from alignlab.run.config import load_run_config, parse_run_config
from alignlab.sweep.checks import load_sweep, parse_sweep

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
RUN_CONFIGS = sorted((SWEEPS / "runs").rglob("*.yaml"))
SWEEP_FILES = sorted(p for p in SWEEPS.rglob("*.yaml") if "runs" not in p.relative_to(SWEEPS).parts)

VALID = {
    "name": "t",
    "algorithm": "dpo",
    "model": "builtin:tiny-sft",
    "data": {"task": "builtin"},
    "search": {"beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True}},
    "objectives": [{"metric": "win_rate", "direction": "maximize"}],
}


def test_sweep_files_are_shipped() -> None:
    names = {p.stem for p in SWEEP_FILES}
    assert {"quickstart", "dpo-beta-lr", "kto-lambda", "ppo-kl-target", "compare-algorithms"} <= names
    assert {"sft", "rm", "dpo", "kto", "ppo"} <= {p.stem for p in RUN_CONFIGS}


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: str(p.relative_to(SWEEPS)))
def test_every_sweep_file_parses(path: Path) -> None:
    spec = load_sweep(path)
    assert spec.name == path.stem


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_every_run_config_parses(path: Path) -> None:
    config = load_run_config(path)
    assert config.algorithm in ("sft", "reward", "dpo", "kto", "simpo", "orpo", "ppo", "grpo", "rloo")


def test_all_problems_reported_at_once_with_key_paths() -> None:
    raw = {
        **VALID,
        "search": {
            "beta": {"type": "float", "low": 0.0, "high": 1.0, "log": True},
            "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-5},
        },
        "surprise": 1,
    }
    with pytest.raises(UserInputError) as info:
        parse_sweep(raw, where="s.yaml")
    problems = info.value.problems
    assert "s.yaml: search.beta: low must be > 0 for a log scale, but got low=0.0" in problems
    assert any(p.startswith("s.yaml: search.learning_rate: low must be < high") for p in problems)
    assert "s.yaml: surprise: unknown key (got 1)" in problems


def test_trl_field_names_and_closed_sets_checked_before_any_model_loads() -> None:
    raw = {
        **VALID,
        "fixed": {"max_stepz": 10, "output_dir": "x"},
        "search": {
            "betta": {"type": "float", "low": 0.01, "high": 1.0},
            "loss_type": {"type": "categorical", "choices": ["sigmoid", "ipoo"]},
        },
        "objectives": [{"metric": "winrate", "direction": "maximize"}],
    }
    with pytest.raises(UserInputError) as info:
        parse_sweep(raw, where="s.yaml")
    text = "\n".join(info.value.problems)
    assert "s.yaml: fixed.max_stepz: not a field of TRL's DPOConfig" in text
    assert "s.yaml: fixed.output_dir: set by alignlab" in text
    assert "s.yaml: search.betta: not a field of TRL's config for dpo" in text
    assert "s.yaml: search.loss_type.choices: 'ipoo' is not one of sigmoid" in text
    assert "s.yaml: objectives.0.metric: unknown metric 'winrate'" in text


def test_multi_objective_cannot_prune_and_enqueue_must_match_search() -> None:
    raw = {
        **VALID,
        "objectives": [
            {"metric": "win_rate", "direction": "maximize"},
            {"metric": "kl", "direction": "minimize"},
        ],
        "enqueue": [{"beta": 0.1, "learning_rate": 1e-5}],
    }
    with pytest.raises(UserInputError) as info:
        parse_sweep(raw, where="s.yaml")
    text = "\n".join(info.value.problems)
    assert "pruner.type: Optuna cannot prune multi-objective studies" in text
    assert "enqueue.0.learning_rate: not a parameter of the search space" in text


def test_gold_metrics_need_the_builtin_task() -> None:
    raw = {**VALID, "data": {"path": "prefs.jsonl"}}
    with pytest.raises(UserInputError, match="win_rate needs the built-in task"):
        parse_sweep(raw, where="s.yaml", check_trl=False)


def test_per_algorithm_fixed_settings_and_search_by_algorithm() -> None:
    raw = {
        **VALID,
        "algorithm": ["dpo", "kto"],
        "fixed": {"max_steps": 10, "kto": {"max_steps": 20}},
        "search": {
            "beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
            "desirable_weight": {"type": "float", "low": 1.0, "high": 1.33},
        },
    }
    spec = parse_sweep(raw)
    assert spec.fixed_for("dpo") == {"max_steps": 10}
    assert spec.fixed_for("kto") == {"max_steps": 20}


def test_run_config_errors() -> None:
    raw = {
        "name": "r",
        "algorithm": "kto",
        "model": "builtin:tiny-sft",
        "data": {"task": "builtin", "path": "x"},
        "params": {"desirable_weight": "high", "beta": 0.1},
    }
    with pytest.raises(UserInputError) as info:
        parse_run_config(raw, where="r.yaml")
    assert (
        "r.yaml: data: give exactly one of 'path' (a feedback file) or 'task: builtin'" in info.value.problems
    )
    raw["data"] = {"task": "builtin"}
    with pytest.raises(UserInputError) as info:
        parse_run_config(raw, where="r.yaml")
    assert info.value.problems == ["r.yaml: params.desirable_weight: expected a number, but got 'high'"]


def test_cli_bad_sweep_file_one_line_per_problem_exit_2(tmp_path: Path) -> None:
    from alignlab.cli import app

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**VALID, "budget": {"n_trials": 0}}))
    result = CliRunner().invoke(app, ["sweep", "run", str(bad)])
    assert result.exit_code == 2
    assert "budget.n_trials: Input should be greater than 0" in result.output
    assert "Traceback" not in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    result = CliRunner().invoke(app, ["sweep", "run", str(broken)])
    assert result.exit_code == 2
    assert f"error: {broken} line 2: invalid YAML" in result.output
