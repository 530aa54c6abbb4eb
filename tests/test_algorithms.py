"""The algorithm interface: every runnable algorithm is one module behind alignlab.run.algorithms.Algorithm."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from alignlab.errors import UserInputError
from alignlab.run.algorithms import ALGORITHMS, Algorithm, algorithm_of
from alignlab.run.config import ALGORITHM_NAMES, RunConfig, parse_run_config
from alignlab.run.training import trl_args
from alignlab.run.trl_fields import check_params, known_param_names

PROTOCOL_MEMBERS = [
    name for name in (*Algorithm.__annotations__, *vars(Algorithm)) if not name.startswith("_")
]


def _config(algorithm: str, **params: object) -> RunConfig:
    return RunConfig.model_validate(
        {"name": f"t-{algorithm}", "algorithm": algorithm, "model": "builtin:tiny-sft", "data": {"task": "builtin"}, "params": params}
    )


def test_the_schema_accepts_exactly_the_registered_algorithms() -> None:
    for name in ALGORITHMS:
        assert _config(name).algorithm == name
        assert ALGORITHMS[name].__name__ == f"alignlab.run.algorithms.{name}"
    with pytest.raises(UserInputError) as caught:
        parse_run_config(
            {"name": "t", "algorithm": "dpoo", "model": "builtin:tiny-sft", "data": {"task": "builtin"}},
            where="c.yaml",
            check_trl=False,
        )
    assert caught.value.problems == ["c.yaml: algorithm: 'dpoo' is not one of sft, reward, dpo, kto, ppo (got 'dpoo')"]


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_each_module_provides_the_whole_interface(name: str) -> None:
    module = algorithm_of(name)
    missing = [m for m in PROTOCOL_MEMBERS if not hasattr(module, m)]
    assert missing == []
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
