"""The reward model a study trains for its online trials (``reward_model: {train_on: heldout}``), the one
split rule that keeps its pairs from the trials, the judge and the evaluation (alignlab.run.splits), and a
judge made affordable on a real model (``batch_size``, ``lora``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alignlab.errors import UserInputError
from alignlab.run.assets import load_run_data
from alignlab.run.config import DataSettings, JudgeSettings, RewardModelSettings, RunConfig, parse_run_config
from alignlab.run.splits import in_share
from alignlab.run.trained_rm import recipe

TINY = {"max_steps": 4, "per_device_train_batch_size": 8, "learning_rate": 1e-3, "max_length": 64}
QUICK_EVAL = {"n_prompts": 6, "samples_per_prompt": 1, "max_new_tokens": 12, "n_pairs": 24}


def pairwise_file(path: Path, n: int) -> Path:
    rows = [
        {"prompt": f"question {i}?", "chosen": f"good answer {i}", "rejected": f"bad {i}"} for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def prompts(rows: list[Any]) -> set[str]:
    return {json.dumps(r["prompt"] if isinstance(r, dict) else r) for r in rows}


# ---- the split rule ------------------------------------------------------------------------------------


def test_the_evaluation_judge_reward_model_and_trials_see_disjoint_prompts(tmp_path: Path) -> None:
    settings = DataSettings(path=str(pairwise_file(tmp_path / "pairs.jsonl", 1000)))
    both = load_run_data("prompt", settings, seed=3, judge_fraction=0.2, reward_model_fraction=0.5)
    shares = [
        prompts(both.eval_prompts),
        prompts(both.judge_pairs),
        prompts(both.reward_model_pairs),
        prompts(both.train),
    ]
    assert all(shares)
    for i, a in enumerate(shares):
        for b in shares[i + 1 :]:
            assert not a & b
    assert sum(map(len, shares)) == 1000  # every prompt is in exactly one share
    # the judge's share is the rule it was before a reward model had one: the same pairs, with or without
    judge_only = load_run_data("pairwise", settings, seed=3, judge_fraction=0.2)
    assert judge_only.judge_pairs == both.judge_pairs
    assert all(in_share("judge", p["prompt"], 0.2, seed=3) for p in both.judge_pairs)
    assert all(in_share("reward_model", p["prompt"], 0.5, seed=3) for p in both.reward_model_pairs)
    assert len(both.reward_model_pairs) == pytest.approx(1000 * 0.9 * 0.8 * 0.5, rel=0.15)
    # the offline trials of the same study train on the same prompts as the online ones
    offline = load_run_data("pairwise", settings, seed=3, judge_fraction=0.2, reward_model_fraction=0.5)
    assert prompts(offline.train) == prompts(both.train)


def test_too_few_pairs_for_the_reward_model_is_one_line(tmp_path: Path) -> None:
    settings = DataSettings(path=str(pairwise_file(tmp_path / "pairs.jsonl", 120)))
    with pytest.raises(UserInputError) as caught:
        load_run_data("prompt", settings, seed=0, reward_model_fraction=0.05)
    assert len(caught.value.problems) == 1
    assert (
        "reward_model.fraction: 0.05 of the train prompts left after the judge's gives the reward model"
        in caught.value.problems[0]
    )


# ---- the settings --------------------------------------------------------------------------------------


def online_config(**changes: Any) -> dict[str, Any]:
    return {
        "name": "r",
        "algorithm": "grpo",
        "model": "builtin:tiny-sft",
        "data": {"path": "pairs.jsonl"},
        **changes,
    }


def test_an_online_run_on_a_file_takes_a_staged_reward_model() -> None:
    config = parse_run_config(
        online_config(reward_model={"train_on": "heldout", "fraction": 0.4}), check_trl=False
    )
    assert isinstance(config.reward_model, RewardModelSettings) and config.reward_model.fraction == 0.4
    assert (
        parse_run_config(online_config(reward_model="some/folder"), check_trl=False).reward_model
        == "some/folder"
    )
    with pytest.raises(UserInputError) as caught:
        parse_run_config(online_config(), where="r.yaml", check_trl=False)
    assert caught.value.problems == [
        "r.yaml: reward_model: grpo needs a reward model (a local folder) when data is a file; or train one first "
        "from its pairs: reward_model: {train_on: heldout, fraction: 0.5}"
    ]
    for bad in ({"train_on": "heldout", "fraction": 1.0}, {"train_on": "all"}, {"fraction": 0.5}):
        with pytest.raises(UserInputError):
            parse_run_config(online_config(reward_model=bad), where="r.yaml", check_trl=False)
    assert RunConfig.model_validate(online_config(reward_model={"train_on": "heldout"})).to_dict()[
        "reward_model"
    ] == {
        "train_on": "heldout",
        "fraction": 0.5,
    }


def test_the_judges_training_settings_go_with_train_on_and_keep_old_cache_keys() -> None:
    with pytest.raises(
        ValidationError, match="batch_size, lora train a judge: they go with train_on: heldout"
    ):
        JudgeSettings.model_validate({"function": "m:f", "batch_size": 4, "lora": {"r": 8}})
    # The defaults hash as before these settings existed: judges cached then stay valid.
    assert recipe(JudgeSettings(train_on="heldout"), 100, builtin_model=True) == {
        "steps": 50,
        "learning_rate": 1e-3,
    }
    assert recipe(JudgeSettings(train_on="heldout"), 400, builtin_model=False) == {
        "steps": 100,
        "learning_rate": 1e-5,
    }
    lora = recipe(
        JudgeSettings.model_validate({"train_on": "heldout", "batch_size": 4, "lora": {}}),
        40,
        builtin_model=False,
    )
    assert lora["learning_rate"] == 1e-4 and lora["batch_size"] == 4 and lora["steps"] == 80
    assert lora["lora"]["r"] == 8


# ---- training: tiny models -----------------------------------------------------------------------------


def test_a_grpo_run_trains_its_reward_model_once_and_samples_against_it(studies_root: Path) -> None:
    from alignlab.paths import cache_dir
    from alignlab.run.training import run_training

    def config(name: str) -> RunConfig:
        return RunConfig.model_validate(
            {
                "name": name,
                "algorithm": "grpo",
                "model": "builtin:tiny-sft",
                "data": {"task": "builtin"},
                "reward_model": {"train_on": "heldout", "fraction": 0.3, "max_steps": 10, "batch_size": 16},
                "params": {
                    **{k: v for k, v in TINY.items() if k != "max_length"},  # GRPO samples its completions
                    "num_generations": 4,
                    "max_completion_length": 12,
                },
                "eval": QUICK_EVAL,
            }
        )

    first = run_training(config("staged-1"))
    assert first.status == "completed", first.reason
    assert "reward" in first.metrics and "win_rate" in first.metrics  # the learned reward, the gold beside it
    folders = sorted(
        (cache_dir() / "reward_models").glob("*/config.json")
    )  # the session's cache may hold more
    records = [json.loads((f.parent / "trained.json").read_text()) for f in folders]
    assert any(r["n_pairs"] > 32 and r["steps"] == 10 and r["batch_size"] == 16 for r in records)
    stamps = [f.stat().st_mtime_ns for f in folders]
    second = run_training(config("staged-2"))
    assert second.status == "completed", second.reason
    assert sorted((cache_dir() / "reward_models").glob("*/config.json")) == folders  # the cache hit
    assert [f.stat().st_mtime_ns for f in folders] == stamps
    from mlflow.tracking import MlflowClient

    assert second.mlflow_run_id is not None
    assert MlflowClient().get_run(second.mlflow_run_id).data.tags["alignlab.reward"] == "heldout:0.3"


def test_a_judge_trained_with_lora_at_a_small_batch_saves_a_full_classifier(studies_root: Path) -> None:
    from alignlab.run.training import run_training

    config = RunConfig.model_validate(
        {
            "name": "lora-judge",
            "algorithm": "dpo",
            "model": "builtin:tiny-sft",
            "data": {"task": "builtin"},
            "judge": {
                "train_on": "heldout",
                "fraction": 0.2,
                "max_steps": 30,
                "batch_size": 8,
                "lora": {"r": 4},
            },
            "params": TINY,
            "eval": QUICK_EVAL,
        }
    )
    result = run_training(config)
    assert result.status == "completed", result.reason
    assert 0.0 <= result.metrics["judge_win_rate"] <= 1.0 and result.metrics["judge_accuracy"] > 0.5
    from alignlab.paths import cache_dir

    saved = [p.parent for p in (cache_dir() / "judges").glob("*/trained.json")]
    lora = [p for p in saved if json.loads((p / "trained.json").read_text()).get("lora")]
    assert lora
    for folder in lora:
        assert not (folder / "adapter_config.json").exists()  # merged: it loads as a full model
        assert (
            "ForSequenceClassification"
            in json.loads((folder / "config.json").read_text())["architectures"][0]
        )
    assert list((cache_dir() / "judges" / "accuracy").glob("*.json"))  # scored once, read by later trials
