"""`alignlab best NAME --export FILE --format alignlab|trl|llamafactory` (alignlab.sweep.export).

TRL configs are parsed by TRL's own parser, in process: the parser `trl <command> --config FILE` builds
(trl/scripts/<command>.py's make_parser), strict about unknown keys, into the script's dataclasses. The
shipped run configs (sweeps/runs/*.yaml, one per algorithm) are the trials exported. LLaMA-Factory does not
install beside alignlab's pinned stack: here its exports are checked against its field names, copied below
from its source, and tests/benchmarks/llamafactory_exports.py parses them with LLaMA-Factory's own argument
classes in a venv of its own. TRL's console script trains a built-in trial's export for two steps.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from study_fixture import DPO_STUDY, FixtureStudies, built_studies, studies
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import UserInputError
from alignlab.run.algorithms import ALGORITHMS, algorithm_of
from alignlab.run.config import RunConfig, load_run_config
from alignlab.sweep.best import BestTrial
from alignlab.sweep.export import FORMATS, export_best

__all__ = ["built_studies", "studies"]  # fixtures, imported for pytest

runner = CliRunner()
RUNS = sorted((Path(__file__).resolve().parents[1] / "sweeps" / "runs").glob("*.yaml"))

# LLaMA-Factory's field names, from hiyouga/LLaMA-Factory at commit ff6d4d12eeb035d6ce06805a5733dd7b29f2ac30
# (2026-08-18): src/llamafactory/hparams/finetuning_args.py (FinetuningArguments, LoraArguments,
# RLHFArguments), data_args.py (DataArguments), model_args.py (ModelArguments), generating_args.py
# (GeneratingArguments); their TrainingArguments (training_args.py) extends transformers'
# Seq2SeqTrainingArguments, whose fields are read from the installed transformers below.
LLAMAFACTORY_FIELDS = {
    # model_args.py
    "model_name_or_path", "adapter_name_or_path", "trust_remote_code",
    # data_args.py
    "template", "dataset", "eval_dataset", "dataset_dir", "cutoff_len", "max_samples", "val_size",
    # finetuning_args.py: FinetuningArguments
    "stage", "finetuning_type", "plot_loss", "compute_accuracy",
    # LoraArguments
    "additional_target", "lora_alpha", "lora_dropout", "lora_rank", "lora_target", "use_rslora", "use_dora",
    # RLHFArguments
    "pref_beta", "pref_ftx", "pref_bco_weight", "pref_loss", "dpo_label_smoothing", "kto_chosen_weight",
    "kto_rejected_weight", "simpo_gamma", "ppo_buffer_size", "ppo_epochs", "ppo_score_norm", "ppo_target",
    "ppo_whiten_rewards", "ref_model", "reward_model", "reward_model_type", "ld_alpha",
    # generating_args.py
    "do_sample", "temperature", "top_p", "top_k", "max_new_tokens",
}  # fmt: skip
#: The closed sets of those fields (their Literal types in finetuning_args.py at that commit).
LLAMAFACTORY_CHOICES = {
    "stage": {"pt", "sft", "rm", "ppo", "dpo", "kto"},
    "finetuning_type": {"lora", "oft", "freeze", "full"},
    "pref_loss": {"sigmoid", "hinge", "ipo", "kto_pair", "orpo", "simpo"},
    "reward_model_type": {"lora", "full", "api"},
}
#: The entries of LLaMA-Factory's own demo data in its data/dataset_info.json at that commit.
LLAMAFACTORY_DEMO_ENTRIES = {
    "dpo_en_demo.json": {
        "file_name": "dpo_en_demo.json",
        "ranking": True,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
    },
    "kto_en_demo.json": {
        "file_name": "kto_en_demo.json",
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "kto_tag": "label"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
    },
}


def best_of(config: RunConfig, number: int = 3) -> BestTrial:
    """A chosen trial whose recorded run config is ``config``."""
    return BestTrial(
        number=number,
        params={},
        values=[0.6],
        metrics={},
        rule="highest win_rate",
        run_config=config.model_dump(mode="json", exclude_none=True) | ({"lora": None} if config.lora is None else {}),
        mlflow_run_id=None,
        output_dir=None,
        enqueued=False,
    )


def trl_parser(algorithm: str) -> Any:
    """The parser TRL reads the file with: `trl <command>`'s own, else its script layout over the
    algorithm's (experimental) config class."""
    command = algorithm_of(algorithm).trl.command
    if command is not None:
        return importlib.import_module(f"trl.scripts.{command}").make_parser(prog=f"trl {command}")
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, TrlParser

    layout: Any = (ScriptArguments, algorithm_of(algorithm).config_class(), ModelConfig, DatasetMixtureConfig)
    return TrlParser(layout)


def parse_trl(path: Path, algorithm: str) -> tuple[Any, ...]:
    # --use_cpu true: this machine has no GPU and TRL's configs default to bf16, which TrainingArguments
    # refuses on a CPU; it is the flag a CPU user adds. Unknown keys in the file are errors.
    return tuple(
        trl_parser(algorithm).parse_args_and_config(
            ["--config", str(path), "--use_cpu", "true"], fail_with_unknown_args=True
        )
    )


def header(path: Path) -> str:
    return "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Studies and caches in tmp: the built-in task is not built here."""
    monkeypatch.setenv("ALIGNLAB_STUDIES", str(tmp_path / "studies"))
    monkeypatch.setenv("ALIGNLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.parametrize("run", RUNS, ids=[p.stem for p in RUNS])
def test_every_algorithms_trl_export_parses_with_trls_parser(run: Path, empty_cache: Path) -> None:
    config = load_run_config(run)
    algorithm = algorithm_of(config.algorithm)
    out = empty_cache / "best.yaml"
    exported = export_best(best_of(config), out, name="tiny-best", format="trl")
    script, args, model, _data = parse_trl(out, config.algorithm)
    config_class: Any = algorithm.config_class()
    assert type(args) is config_class
    for key, value in config.params.items():
        if key in algorithm.PARAMS:  # alignlab's own (PPO's adaptive KL controller): listed, not written
            assert any(line.startswith(f"{key}={value}") for line in exported.unexpressed)
            continue
        parsed = getattr(args, key)
        assert parsed == value or parsed == [value], (key, parsed, value)
    for key, value in algorithm.trl_settings(config).items():
        if key not in config.params:
            assert getattr(args, key) == value
    assert args.seed == config.seed and args.output_dir == "tiny-best"
    assert model.use_peft is (config.lora is not None)
    if config.lora is not None:
        assert (model.lora_r, model.lora_alpha, model.lora_dropout) == (
            config.lora.r,
            config.lora.lora_alpha,
            config.lora.lora_dropout,
        )
        targets = config.lora.target_modules  # the task's settings name lm_head too (alignlab.task.TASK_LORA)
        assert model.lora_target_modules == (targets if isinstance(targets, str) else list(targets))
        assert model.lora_task_type == algorithm.PEFT_TASK_TYPE
    # not built on this machine: named as is, and said so; nothing of alignlab's evaluation is in TRL
    assert model.model_name_or_path == config.model
    assert any(line.startswith(f"model {config.model}: alignlab's built-in") for line in exported.unexpressed)
    assert any(line.startswith("eval, max_kl:") for line in exported.unexpressed)
    text = header(out)
    assert all(line in text for line in exported.unexpressed)
    command = algorithm.trl.command
    if command is not None:
        assert exported.command == f"trl {command} --config {out}"
    else:  # no `trl` command: the file is for a TrlParser script, and the line says so
        assert "TrlParser" in exported.command and f"no `trl {config.algorithm}` command" in exported.command
    if config.reward_function == "builtin:gold":
        assert script.reward_funcs == ["alignlab.run.rewards.gold_reward"]


def test_the_trl_commands_are_those_trl_has() -> None:
    from trl.cli.commands import get_commands

    names = {c.name for c in get_commands()}
    commands = {name: algorithm_of(name).trl.command for name in ALGORITHMS}
    assert {c for c in commands.values() if c} <= names
    assert not {a for a, c in commands.items() if c is None} & names  # a new command: use it


def test_trls_parser_refuses_a_key_it_does_not_know(empty_cache: Path) -> None:
    """The check above can fail: an unknown key in the file is an error of TRL's parser."""
    out = empty_cache / "best.yaml"
    export_best(best_of(load_run_config(RUNS[0])), out, name="x", format="trl")
    out.write_text(out.read_text() + "not_a_trl_field: 1\n")
    with pytest.raises(ValueError, match="not_a_trl_field"):
        parse_trl(out, load_run_config(RUNS[0]).algorithm)


def test_a_trl_export_reads_a_data_file_in_trls_shape(
    shared_data: Path, empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HH-RLHF pairs (TRL's implicit-prompt shape) as ``datasets``, loaded by TRL's own get_dataset."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(empty_cache / "hf"))
    hh = shared_data / "hh-rlhf-harmless" / "test.jsonl.gz"
    base = load_run_config(RUNS[0])
    config = RunConfig.model_validate({**base.model_dump(), "data": {"path": str(hh), "max_examples": 500}})
    out = empty_cache / "best.yaml"
    exported = export_best(best_of(config), out, name="hh", format="trl")
    _, _, _, data = parse_trl(out, "dpo")
    from trl import get_dataset

    rows = get_dataset(data)["train"]
    assert rows.num_rows == 500 and {"chosen", "rejected"} <= set(rows.column_names)
    assert any(line.startswith("data.eval_fraction=0.1:") for line in exported.unexpressed)
    assert any(line.startswith("data.max_examples=500:") for line in exported.unexpressed)


def test_data_in_a_shape_trl_does_not_read_is_listed_with_the_conversion(shared_data: Path, empty_cache: Path) -> None:
    kto = load_run_config(next(p for p in RUNS if p.stem == "kto"))
    config = RunConfig.model_validate(
        {**kto.model_dump(), "data": {"path": str(shared_data / "llama-factory" / "kto_en_demo.json")}}
    )
    out = empty_cache / "best.yaml"
    exported = export_best(best_of(config), out, name="kto", format="trl")
    assert "datasets" not in yaml.safe_load(out.read_text())
    assert any("llama-factory-kto shape" in line and "--to binary" in line for line in exported.unexpressed)


@pytest.mark.parametrize("run", RUNS, ids=[p.stem for p in RUNS])
def test_every_llamafactory_export_uses_its_field_names(run: Path, empty_cache: Path) -> None:
    from transformers import Seq2SeqTrainingArguments

    config = load_run_config(run)
    out = empty_cache / "best.yaml"
    factory = algorithm_of(config.algorithm).llamafactory
    if factory is None:
        with pytest.raises(UserInputError, match=f"no {config.algorithm} trainer"):
            export_best(best_of(config), out, name="x", format="llamafactory")
        assert not out.exists()
        return
    exported = export_best(best_of(config), out, name="tiny-best", format="llamafactory")
    settings = yaml.safe_load(out.read_text())
    training = {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)}
    assert set(settings) - LLAMAFACTORY_FIELDS - training == set()
    for key, allowed in LLAMAFACTORY_CHOICES.items():
        assert settings.get(key, next(iter(allowed))) in allowed, key
    assert settings["stage"] == factory.stage
    assert settings["finetuning_type"] == ("lora" if config.lora else "full")
    if settings["stage"] in ("dpo", "kto"):
        assert settings["pref_beta"] == config.params.get("beta", 0.1)
    assert settings["learning_rate"] == config.params["learning_rate"]
    assert exported.command == f"llamafactory-cli train {out}"
    assert any(line.startswith("template:") for line in exported.unexpressed)


def test_llamafactory_exports_of_each_preference_algorithm(empty_cache: Path) -> None:
    by = {c.algorithm: c for c in map(load_run_config, RUNS)}
    expected = {
        "dpo": {"stage": "dpo", "pref_loss": "sigmoid", "pref_ftx": 1.0, "pref_beta": 0.1},  # loss_type [sigmoid, sft]
        "simpo": {"stage": "dpo", "pref_loss": "simpo", "pref_beta": 10.0, "simpo_gamma": 5.0},
        "orpo": {"stage": "dpo", "pref_loss": "orpo", "pref_beta": 0.1},
        "kto": {"stage": "kto", "pref_beta": 0.36, "kto_chosen_weight": 1.23, "kto_rejected_weight": 1.0},
        "ppo": {"stage": "ppo", "ppo_target": 2.0, "ppo_epochs": 2, "max_new_tokens": 24, "reward_model_type": "full"},
        "reward": {"stage": "rm", "cutoff_len": 64},
    }
    for name, values in expected.items():
        out = empty_cache / f"{name}.yaml"
        exported = export_best(best_of(by[name]), out, name=name, format="llamafactory")
        settings = yaml.safe_load(out.read_text())
        assert {k: settings.get(k) for k in values} == values, name
        if name == "ppo":  # alignlab's horizon and the fixed start of the KL coefficient are listed
            assert any(line.startswith("kl_horizon=512:") for line in exported.unexpressed)
            assert any(line.startswith("kl_coef=0.05:") for line in exported.unexpressed)
    # what TRL would have used by default is written out: LLaMA-Factory's defaults differ
    config = by["dpo"].model_copy(update={"params": {"max_steps": 10}})
    export_best(best_of(config), empty_cache / "defaults.yaml", name="d", format="llamafactory")
    settings = yaml.safe_load((empty_cache / "defaults.yaml").read_text())
    assert (settings["learning_rate"], settings["pref_beta"], settings["cutoff_len"]) == (1e-6, 0.1, 1024)


@pytest.mark.parametrize(("algorithm", "demo"), [("dpo", "dpo_en_demo.json"), ("kto", "kto_en_demo.json")])
def test_llamafactory_demo_data_gets_llamafactorys_own_dataset_entry(
    algorithm: str, demo: str, shared_data: Path, empty_cache: Path
) -> None:
    base = load_run_config(next(p for p in RUNS if p.stem == algorithm))
    file = shared_data / "llama-factory" / demo
    config = RunConfig.model_validate({**base.model_dump(), "data": {"path": str(file)}})
    out = empty_cache / "best.yaml"
    exported = export_best(best_of(config), out, name="lf", format="llamafactory")
    settings = yaml.safe_load(out.read_text())
    name = demo.removesuffix(".json")
    assert (settings["dataset"], settings["dataset_dir"]) == (name, str(file.parent.resolve()))
    entry_line = next(line for line in header(out).splitlines() if line.startswith(f'#   "{name}": '))
    assert json.loads(entry_line.split(": ", 1)[1]) == LLAMAFACTORY_DEMO_ENTRIES[demo]
    assert any(line.startswith(f"data: {file.resolve()}: LLaMA-Factory reads") for line in exported.unexpressed)


def test_best_exports_each_format_from_a_study(studies: FixtureStudies, tmp_path: Path) -> None:
    """The CLI over a study the runner wrote: the TRL file parses, the list is printed and in --json."""
    out = tmp_path / "x.yaml"
    result = runner.invoke(app, ["best", DPO_STUDY, "--export", str(out), "--format", "trl"])
    assert result.exit_code == 0, result.output
    assert f"(trl dpo --config {out})" in result.output and "not expressible as a trl config" in result.output
    _, args, model, _ = parse_trl(out, "dpo")
    best = json.loads(runner.invoke(app, ["best", DPO_STUDY, "--json"]).output)
    assert (args.beta, args.learning_rate) == (best["params"]["beta"], best["params"]["learning_rate"])
    assert model.model_name_or_path == "builtin:tiny-sft"
    lf = tmp_path / "lf.yaml"
    result = runner.invoke(app, ["best", DPO_STUDY, "--export", str(lf), "--format", "llamafactory", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)["export"]
    assert payload["format"] == "llamafactory" and payload["unexpressed"]
    settings = yaml.safe_load(lf.read_text())
    assert settings["stage"] == "dpo" and settings["pref_beta"] == best["params"]["beta"]
    plain = tmp_path / "plain.yaml"
    assert runner.invoke(app, ["best", DPO_STUDY, "--export", str(plain)]).exit_code == 0
    assert load_run_config(plain).params["beta"] == best["params"]["beta"]
    assert set(FORMATS) == {"alignlab", "trl", "llamafactory"}


def test_an_unknown_format_is_one_error_line_and_writes_nothing(studies: FixtureStudies, tmp_path: Path) -> None:
    out = tmp_path / "x.yaml"
    result = runner.invoke(app, ["best", DPO_STUDY, "--export", str(out), "--format", "axolotl"])
    assert result.exit_code == 2 and "--format 'axolotl': expected one of alignlab, trl, llamafactory" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["best", DPO_STUDY, "--format", "trl"])
    assert result.exit_code == 2 and "--export PATH, which was not given" in result.output


@pytest.mark.parametrize("stem", ["dpo", "kto"])
def test_trls_own_cli_trains_a_tiny_trials_export_for_two_steps(
    stem: str, studies_root: Path, tmp_path: Path
) -> None:
    """`trl dpo|kto --config EXPORT --max_steps 2`, TRL's console script in a process of its own, on the
    export of a built-in trial: the device settings make it run on this machine, and the built-in model
    is written beside the file with its tokenizer (alignlab keeps them apart)."""
    import os
    import subprocess
    import sys

    from alignlab.models import resolve_device
    from alignlab.run.assets import task_assets

    task_assets()  # the built-in models, built once per session
    config = load_run_config(next(p for p in RUNS if p.stem == stem))
    out = tmp_path / "export" / "best.yaml"
    exported = export_best(best_of(config), out, name=f"tiny-{stem}", format="trl")
    settings = yaml.safe_load(out.read_text())
    cuda = resolve_device() == "cuda"
    assert (settings["use_cpu"], settings["bf16"], settings["gradient_checkpointing"]) == (not cuda, cuda, False)
    folder = out.parent / "best-tiny-sft"
    assert exported.folders == [folder] and settings["model_name_or_path"] == str(folder)
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    assert not any(line.startswith("model builtin:tiny-sft") for line in exported.unexpressed)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'trl-mlflow.db'}"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "trl"), stem, "--config", str(out), "--max_steps", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / f"tiny-{stem}").is_dir()  # TRL's output_dir, as the export names it


def test_an_export_beside_an_existing_model_folder_needs_force(studies_root: Path, tmp_path: Path) -> None:
    from alignlab.run.assets import task_assets

    task_assets()
    config = load_run_config(next(p for p in RUNS if p.stem == "dpo"))
    out = tmp_path / "best.yaml"
    (tmp_path / "best-tiny-sft").mkdir()
    with pytest.raises(UserInputError, match="best-tiny-sft: already exists"):
        export_best(best_of(config), out, name="x", format="trl", overwrite=False)
    assert not out.exists()
    export_best(best_of(config), out, name="x", format="trl", overwrite=True)
    assert (tmp_path / "best-tiny-sft" / "tokenizer.json").is_file()
