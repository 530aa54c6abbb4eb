"""The algorithm interface: every runnable algorithm is one module declaring one alignlab.run.algorithms.Algorithm."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest

from alignlab.errors import UserInputError
from alignlab.run.algorithms import ALGORITHMS, Algorithm, algorithm_of
from alignlab.run.config import ALGORITHM_NAMES, RunConfig, parse_run_config
from alignlab.run.training import trl_args
from alignlab.run.trl_fields import check_params, known_param_names


def _config(algorithm: str, **params: object) -> RunConfig:
    return RunConfig.model_validate(
        {"name": f"t-{algorithm}", "algorithm": algorithm, "model": "builtin:tiny-sft", "data": {"task": "builtin"}, "params": params}
    )


def test_the_schema_accepts_exactly_the_registered_algorithms() -> None:
    for name in ALGORITHMS:
        assert _config(name).algorithm == name
        module = importlib.import_module(f"alignlab.run.algorithms.{name}")
        assert module.ALGORITHM is ALGORITHMS[name] and ALGORITHMS[name].name == name
    with pytest.raises(UserInputError) as caught:
        parse_run_config(
            {"name": "t", "algorithm": "dpoo", "model": "builtin:tiny-sft", "data": {"task": "builtin"}},
            where="c.yaml",
            check_trl=False,
        )
    assert caught.value.problems == [
        "c.yaml: algorithm: 'dpoo' is not one of sft, reward, dpo, kto, simpo, orpo, ppo, grpo, rloo (got 'dpoo')"
    ]


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_each_module_declares_a_whole_algorithm(name: str) -> None:
    module = algorithm_of(name)
    assert isinstance(module, Algorithm)
    assert all(callable(getattr(module, f.name)) for f in dataclasses.fields(Algorithm) if f.name.islower() and f.name not in ("name", "trl", "llamafactory", "recommend"))
    assert module.TRAIN_KIND in ("pairwise", "binary", "prompt", "sft")
    assert module.PEFT_TASK_TYPE in ("CAUSAL_LM", "SEQ_CLS")
    cls = module.config_class()
    assert dataclasses.is_dataclass(cls) and cls.__module__.startswith("trl")
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(module.CHOICES) <= fields, "CHOICES name TRL fields"
    assert not set(module.PARAMS) & fields, "PARAMS are alignlab's own, not TRL fields"
    assert set(module.PARAMS) <= known_param_names(name)


def test_algorithm_specific_trl_settings_come_from_the_module(tmp_path: Path) -> None:
    ppo = trl_args(_config("ppo", kl_target=2.0, max_steps=4), output_dir=tmp_path, device="cpu")
    assert (ppo.num_sample_generations, ppo.stop_token, ppo.kl_estimator) == (0, "eos", "k3")
    assert not hasattr(ppo, "kl_target"), "alignlab's own params are not passed to TRL"
    fixed = trl_args(_config("ppo", max_steps=4), output_dir=tmp_path, device="cpu")
    assert fixed.kl_estimator == "k1", "without a target TRL's default estimator stays"
    sft = trl_args(_config("sft"), output_dir=tmp_path, device="cpu")
    assert sft.completion_only_loss is True
    dpo = trl_args(_config("dpo", loss_type="ipo", beta=0.2), output_dir=tmp_path, device="cpu")
    assert (dpo.loss_type, dpo.beta, dpo.bf16, dpo.use_cpu) == (["ipo"], 0.2, False, True)


def test_closed_sets_and_extra_params_are_checked_per_algorithm() -> None:
    assert check_params("dpo", {"loss_type": "ipoo"}, where="p") == [
        "p.loss_type: 'ipoo' is not one of " + ", ".join(algorithm_of("dpo").CHOICES["loss_type"])
    ]
    assert check_params("ppo", {"kl_target": 3.0, "kl_horizon": 512}, where="p") == []
    assert check_params("dpo", {"kl_target": 3.0}, where="p") == [
        "p.kl_target: not a field of TRL's DPOConfig (nor an alignlab dpo setting)"
    ]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"learning_rate": -1e-4}, "p.learning_rate: must be > 0, but got -0.0001"),
        ({"learning_rate": 0}, "p.learning_rate: must be > 0, but got 0"),
        ({"max_steps": -5}, "p.max_steps: must be -1 (train by epochs) or > 0, but got -5"),
        ({"max_steps": 0}, "p.max_steps: must be -1 (train by epochs) or > 0, but got 0"),
        ({"beta": -0.1}, "p.beta: must be >= 0, but got -0.1"),
        ({"per_device_train_batch_size": 0}, "p.per_device_train_batch_size: must be >= 1, but got 0"),
        ({"label_smoothing": 0.5}, "p.label_smoothing: must be >= 0 and < 0.5, but got 0.5"),
    ],
)
def test_numeric_fields_out_of_range_are_refused_before_any_model_loads(
    params: dict[str, object], problem: str
) -> None:
    assert check_params("dpo", params, where="p") == [problem]


def test_fields_in_range_pass() -> None:
    ok = {"learning_rate": 1e-4, "max_steps": -1, "beta": 0.0, "per_device_train_batch_size": 1, "label_smoothing": 0.1}
    assert check_params("dpo", ok, where="p") == []
    assert check_params("ppo", {"kl_target": 3.0, "gamma": 1.0}, where="p") == []
    assert check_params("ppo", {"kl_target": 0}, where="p") == ["p.kl_target: must be > 0, but got 0"]


def test_simpo_is_cpo_with_the_simpo_loss_and_no_sft_term(tmp_path: Path) -> None:
    simpo = trl_args(_config("simpo", beta=2.0, simpo_gamma=1.0), output_dir=tmp_path, device="cpu")
    assert type(simpo).__name__ == "CPOConfig"
    assert (simpo.loss_type, simpo.cpo_alpha, simpo.beta, simpo.simpo_gamma) == ("simpo", 0.0, 2.0, 1.0)
    assert check_params("simpo", {"loss_type": "sigmoid"}, where="p") == ["p.loss_type: 'sigmoid' is not one of simpo"]
    assert type(trl_args(_config("orpo", beta=0.2), output_dir=tmp_path, device="cpu")).__name__ == "ORPOConfig"


def test_online_algorithms_take_a_reward_and_offline_ones_refuse_one() -> None:
    online = [n for n in ALGORITHMS if algorithm_of(n).NEEDS_REWARD_MODEL]
    assert online == ["ppo", "grpo", "rloo"]
    raw = {"name": "t", "model": "builtin:tiny-sft", "data": {"task": "builtin"}}
    assert parse_run_config({**raw, "algorithm": "grpo", "reward_function": "builtin:gold"}, check_trl=False)
    with pytest.raises(UserInputError) as caught:
        parse_run_config(
            {**raw, "algorithm": "dpo", "reward_function": "builtin:gold", "reward_model": "builtin:tiny-rm"},
            where="c.yaml",
            check_trl=False,
        )
    assert caught.value.problems == [
        "c.yaml: reward_function: dpo does not sample, so it takes no reward",
        "c.yaml: reward_function: give reward_model or reward_function, not both",
    ]
    grpo = trl_args(_config("grpo", num_generations=4, per_device_train_batch_size=8), output_dir=Path("x"), device="cpu")
    assert (grpo.beta, grpo.num_generations) == (0.0, 4)  # TRL's default: no KL term
    assert check_params("grpo", {"loss_type": "ppo"}, where="p") == [
        "p.loss_type: 'ppo' is not one of " + ", ".join(algorithm_of("grpo").CHOICES["loss_type"])
    ]


# --- reward functions (alignlab.run.rewards) ------------------------------------------------------


def test_reward_function_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alignlab.run.reward_functions import reward_function_problems, score
    from alignlab.run.rewards import gold_reward, load_reward_function

    (tmp_path / "my_rewards.py").write_text(
        "def short(prompts, completions, **kwargs):\n    return [-len(c) for c in completions]\n"
        "def strict(prompts, completions):\n    return [0.0] * len(completions)\n"
        "NOT_A_FUNCTION = 3\n"
    )
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.chdir(tmp_path)
    fn = load_reward_function("my_rewards:short")
    assert score(fn, ["p", "p"], ["ab", "abcd"]) == [-2.0, -4.0]
    assert load_reward_function(f"{tmp_path / 'my_rewards.py'}:short")(prompts=[], completions=["x"]) == [-1]
    assert load_reward_function("builtin:gold") is gold_reward
    assert gold_reward(["review the hotel for anna from paris :"], [" room great , staff clean , bed quiet , view lovely ."]) == [1.0]
    ok = reward_function_problems("my_rewards:short", builtin_data=False)
    assert ok == []
    problems = {
        ref: reward_function_problems(ref, builtin_data=False)
        for ref in ("builtin:gold", "builtin:silver", "nomodule:f", "my_rewards:missing", "my_rewards:NOT_A_FUNCTION",
                    "my_rewards:strict", "broken:f", "noseparator", "gone.py:f")
    }
    assert problems == {
        "builtin:gold": ["reward_function: builtin:gold scores the built-in task's prompts only (data: {task: builtin})"],
        "builtin:silver": [
            "reward_function: unknown built-in reward 'builtin:silver' (expected builtin:gold or module:function)"
        ],
        "nomodule:f": ["reward_function: 'nomodule:f': module 'nomodule' not found (No module named 'nomodule')"],
        "my_rewards:missing": ["reward_function: 'my_rewards:missing': my_rewards has no 'missing'"],
        "my_rewards:NOT_A_FUNCTION": ["reward_function: 'my_rewards:NOT_A_FUNCTION': NOT_A_FUNCTION is a int, not a function"],
        "my_rewards:strict": [
            "reward_function: 'my_rewards:strict': must take prompts, completions and **kwargs (TRL calls reward "
            "functions as f(prompts=..., completions=..., completion_ids=..., trainer_state=..., **columns) and "
            "expects one float per completion)"
        ],
        "broken:f": ["reward_function: 'broken:f': importing broken failed: RuntimeError: boom"],
        "noseparator": [
            "reward_function: 'noseparator' is not a reward function reference (expected builtin:gold, "
            "module:function or path/to/file.py:function)"
        ],
        "gone.py:f": ["reward_function: 'gone.py:f': gone.py does not exist (expected a Python file)"],
    }
    assert reward_function_problems("builtin:gold", builtin_data=True) == []


def test_validate_checks_the_reward_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from alignlab.validate import validate_file

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rw.py").write_text("def f(prompts, completions, **kw):\n    return [1.0 for _ in completions]\n")
    config = {"name": "g", "algorithm": "grpo", "model": "builtin:tiny-sft", "data": {"task": "builtin"}}
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump({**config, "reward_function": "rw:f"}))
    bad.write_text(yaml.safe_dump({**config, "reward_function": "rw:g"}))
    check = validate_file(good)
    assert check.problems == [] and "reward function rw:f" in check.checked
    assert validate_file(bad).problems == [f"{bad}: reward_function: 'rw:g': rw has no 'g'"]
