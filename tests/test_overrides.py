"""`alignlab train CONFIG key=value ...`: overrides by TRL field name or run-config key, validated like the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import UserInputError
from alignlab.run.config import apply_overrides
from alignlab.validate import load_valid_run_config

RAW = {
    "name": "over",
    "algorithm": "dpo",
    "model": "builtin:tiny-sft",
    "data": {"task": "builtin"},
    "params": {"max_steps": 4, "beta": 0.1},
}


def test_trl_fields_go_to_params_and_dotted_keys_to_nested_settings() -> None:
    out = apply_overrides(
        RAW,
        [
            "learning_rate=1e-4",
            "beta=0.2",
            "loss_type=[sigmoid, sft]",
            "lora.r=16",
            "seed=3",
            "data.max_examples=50",
        ],
    )
    assert out["params"] == {
        "max_steps": 4,
        "beta": 0.2,
        "learning_rate": 1e-4,
        "loss_type": ["sigmoid", "sft"],
    }
    assert (out["lora"], out["seed"], out["data"]) == ({"r": 16}, 3, {"task": "builtin", "max_examples": 50})
    assert RAW["params"] == {"max_steps": 4, "beta": 0.1}, "the input mapping is not changed"


def test_malformed_overrides_are_reported_together() -> None:
    with pytest.raises(UserInputError) as caught:
        apply_overrides(RAW, ["beta", "=3", "name.first=a", "seedx.y=2"])
    problems = caught.value.problems
    assert len(problems) == 4
    assert problems[0] == "overrides: 'beta': expected key=value, e.g. learning_rate=1e-4 or lora.r=16"
    assert problems[2] == "overrides: name.first: 'name' is not a mapping in the config, so it has no keys"
    assert problems[3].startswith("overrides: seedx.y: 'seedx' is not a run-config key")


def test_an_override_is_validated_like_the_file(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        "name: over\nalgorithm: dpo\nmodel: builtin:tiny-sft\ndata: {task: builtin}\nparams: {max_steps: 4}\n"
    )
    loaded = load_valid_run_config(config, overrides=["beta=0.3", "lora.lora_alpha=8"])
    assert loaded.params["beta"] == 0.3 and loaded.lora is not None and loaded.lora.lora_alpha == 8
    with pytest.raises(UserInputError) as caught:
        load_valid_run_config(config, overrides=["learning_rate=-1", "lora.r=abc", "lerning_rate=1e-4"])
    assert sorted(caught.value.problems) == sorted(
        [
            f"{config}: lora.r: Input should be a valid integer, unable to parse string as an integer (got 'abc')",
            f"{config}: params.learning_rate: must be > 0, but got -1",
            f"{config}: params.lerning_rate: not a field of TRL's DPOConfig (nor an alignlab dpo setting)",
        ]
    )


def test_the_train_command_refuses_a_bad_override_with_one_line_each_and_writes_nothing(
    studies_root_with_own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("name: over\nalgorithm: dpo\nmodel: builtin:tiny-sft\ndata: {task: builtin}\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", str(config), "beta=-1", "max_steps=0"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"name: a\nname: b\nalgorithm: dpo\n", "line 2: invalid YAML: duplicate key 'name' (first given on line 1)"),
        (b"data:\n  path: a.jsonl\n  path: b.jsonl\n", "line 3: invalid YAML: duplicate key 'path' (first given on line 2)"),
        (b"\x7fELF\x02\x01\x01\x00\xff\xfe", "not a text file (byte 8 is not UTF-8; expected a YAML file)"),
    ],
)
def test_config_files_that_yaml_would_misread_are_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(UserInputError) as caught:
        load_valid_run_config(path)
    assert caught.value.problems == [f"{path}: {problem}"] if problem.startswith("not") else [f"{path} {problem}"]


def test_a_folder_given_as_a_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserInputError) as caught:
        load_valid_run_config(tmp_path)
    assert caught.value.problems == [f"{tmp_path}: is a folder (expected a YAML file)"]


def test_a_saved_full_fine_tuning_config_reads_back_without_lora(tmp_path: Path) -> None:
    """``lora: null`` is full fine-tuning: the saved YAML keeps it, so reading it back does not turn LoRA on."""
    config = tmp_path / "run.yaml"
    config.write_text("name: full\nalgorithm: dpo\nmodel: builtin:tiny-sft\ndata: {task: builtin}\nlora: null\n")
    loaded = load_valid_run_config(config)
    assert loaded.lora is None
    saved = tmp_path / "saved.yaml"
    saved.write_text(loaded.to_yaml())
    assert load_valid_run_config(saved).lora is None
