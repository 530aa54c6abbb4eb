"""alignlab.shapes and alignlab.recommend.costs: parameter counts from shapes, memory terms, trial costs; no torch needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignlab.errors import UserInputError
from alignlab.recommend.costs import (
    GIB,
    RECOMMENDABLE,
    ComputeAssumptions,
    TrainSetup,
    estimate_memory,
    estimate_trial_cost,
    profile_of,
)
from alignlab.shapes import BUILTIN_SHAPES, ModelShape, parse_model, parse_size, shape_from_config

# Published configs, with the parameter counts their model cards report.
SMOLLM2_135M = {
    "model_type": "llama",
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "intermediate_size": 1536,
    "vocab_size": 49152,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "tie_word_embeddings": True,
}
LLAMA2_7B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "intermediate_size": 11008,
    "vocab_size": 32000,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "tie_word_embeddings": False,
}
LLAMA31_8B = {**LLAMA2_7B, "intermediate_size": 14336, "vocab_size": 128256, "num_key_value_heads": 8}


@pytest.mark.parametrize(
    ("config", "n_params"),
    [(SMOLLM2_135M, 134_515_008), (LLAMA2_7B, 6_738_415_616), (LLAMA31_8B, 8_030_261_248)],
    ids=["smollm2-135m", "llama-2-7b", "llama-3.1-8b"],
)
def test_param_count_from_config_json(tmp_path: Path, config: dict, n_params: int) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    shape = parse_model(str(tmp_path))
    assert shape.n_params == n_params


def test_tied_embeddings_and_gqa_reduce_params() -> None:
    base = shape_from_config(LLAMA2_7B, name="m", where="config.json")
    tied = shape_from_config({**LLAMA2_7B, "tie_word_embeddings": True}, name="m", where="config.json")
    gqa = shape_from_config({**LLAMA2_7B, "num_key_value_heads": 8}, name="m", where="config.json")
    assert base.n_params - tied.n_params == 32000 * 4096
    assert base.n_params - gqa.n_params == 32 * 2 * 4096 * (4096 - 8 * 128)


def test_multimodal_text_config_and_gpt2_keys() -> None:
    nested = shape_from_config({"text_config": LLAMA2_7B, "tie_word_embeddings": False}, name="m", where="c")
    assert nested.n_params == 6_738_415_616
    gpt2 = shape_from_config(
        {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257},
        name="g",
        where="c",
    )
    # GPT-2 small: 124M with its 1024 position embeddings and biases, which are not counted here.
    assert 0.115e9 < gpt2.n_params < 0.125e9
    assert not gpt2.gated_mlp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("135m", 135e6),
        ("1.5b", 1.5e9),
        ("7B", 7e9),
        (" 70b ", 70e9),
        ("2t", 2e12),
        ("500k", 5e5),
        ("7", None),
        ("7x", None),
        ("seven", None),
        ("", None),
        ("-7b", None),
    ],
)
def test_parse_size(text: str, expected: float | None) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "size", ["135m", "360m", "500m", "1b", "1.5b", "3b", "7b", "8b", "13b", "20b", "34b", "70b", "405b"]
)
def test_size_strings_give_about_that_many_params(size: str) -> None:
    nominal = parse_size(size)
    assert nominal is not None
    shape = parse_model(size)
    assert 0.85 < shape.n_params / nominal < 1.15
    assert size in shape.source


def test_nominal_sizes_take_the_reference_shape() -> None:
    assert parse_model("7b").n_params == 6_738_415_616
    assert parse_model("70b").num_layers == 80


def test_builtin_names() -> None:
    assert parse_model("smollm2-135m").n_params == 134_515_008
    tiny = parse_model("builtin:tiny-sft")
    assert 100_000 < tiny.n_params < 200_000
    assert set(BUILTIN_SHAPES) >= {"builtin:tiny-sft", "smollm2-135m"}


@pytest.mark.parametrize("spec", ["10m", "5t", "0b"])
def test_sizes_out_of_range_are_user_errors(spec: str) -> None:
    with pytest.raises(UserInputError, match=f"--model {spec}"):
        parse_model(spec)


def test_bad_model_folders_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not found") as exc:
        parse_model(str(tmp_path / "missing"))
    assert len(exc.value.problems) == 1
    with pytest.raises(UserInputError, match=r"no config\.json"):
        parse_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{bad json")
    with pytest.raises(UserInputError, match=r"config.json line 1: invalid JSON"):
        parse_model(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 0, "vocab_size": 10}))
    with pytest.raises(UserInputError) as exc:
        parse_model(str(tmp_path))
    assert [p.split(": ")[1] for p in exc.value.problems] == [
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
    ]


def _terms(algorithm: str, method: str = "lora", **setup: object) -> dict[str, float]:
    est = estimate_memory(parse_model("7b"), algorithm, TrainSetup(method=method, **setup))  # type: ignore[arg-type]
    return {t.name: t.bytes for t in est.terms}


def test_lora_reference_is_the_base_with_the_adapter_off() -> None:
    lora, full = _terms("dpo"), _terms("dpo", "full")
    assert lora["reference weights"] == 0
    assert full["reference weights"] == full["policy weights"] == 6_738_415_616 * 2


def test_full_fine_tuning_costs_16_bytes_per_param() -> None:
    t = _terms("simpo", "full")
    n = 6_738_415_616
    assert t["policy weights"] + t["gradients"] + t["optimizer states"] == 16 * n
    assert "reference weights" not in t


def test_lora_trainable_params_from_rank_and_targets() -> None:
    shape = parse_model("7b")
    per_layer = 8 * ((4096 + 4096) * 4 + (4096 + 11008) * 3)
    assert shape.lora_params(8) == 32 * per_layer
    assert shape.lora_params(16, ("q_proj", "v_proj")) == 32 * 16 * (4096 + 4096) * 2
    t = _terms("dpo")
    assert t["adapter weights"] + t["gradients"] + t["optimizer states"] == 16 * shape.lora_params(8)


def test_qlora_weights_are_about_a_quarter() -> None:
    ratio = _terms("dpo", "qlora")["policy weights"] / _terms("dpo")["policy weights"]
    assert 0.27 < ratio < 0.32  # 0.55/2 on block linears, embeddings stay bf16


@pytest.mark.parametrize(
    ("algorithm", "resident"),
    [
        ("ppo", {"reward model weights", "value model weights"}),
        ("rloo", {"reward model weights", "KV cache"}),
        ("dpo", {"reference weights"}),
        ("kto", {"reference weights"}),
        ("simpo", set()),
        ("orpo", set()),
        ("grpo", {"reward model weights", "KV cache"}),  # beta 0 (TRL's default): no reference pass
    ],
)
def test_resident_models_per_algorithm(algorithm: str, resident: set[str]) -> None:
    t = _terms(algorithm)
    assert resident <= set(t)
    extra = {"reward model weights", "value model weights", "reference weights", "KV cache"} - resident
    if algorithm in ("simpo", "orpo"):
        assert not extra & set(t)


def test_ppo_needs_the_most_memory_and_simpo_the_least() -> None:
    shape = parse_model("7b")
    totals = {a: estimate_memory(shape, a, TrainSetup()).total_gb for a in RECOMMENDABLE}
    assert max(totals, key=lambda a: totals[a]) == "ppo"
    assert totals["simpo"] == totals["orpo"] <= totals["dpo"]


def test_gradient_checkpointing_and_seq_len_move_activations() -> None:
    on, off = _terms("dpo"), _terms("dpo", gradient_checkpointing=False)
    assert off["activations"] > 5 * on["activations"]
    assert _terms("dpo", seq_len=2048)["activations"] == 2 * on["activations"]


def test_total_is_the_sum_and_fits() -> None:
    est = estimate_memory(parse_model("7b"), "dpo", TrainSetup())
    assert est.total_bytes == sum(t.bytes for t in est.terms)
    assert est.total_gb == est.total_bytes / GIB
    assert est.fits(None) is None
    assert est.fits(80) is True
    assert est.fits(8) is False
    assert set(est.to_dict()) == {"total_gb", "trainable_params", "terms"}


def test_unknown_algorithm_is_a_bug_not_user_input() -> None:
    with pytest.raises(ValueError, match="unknown algorithm"):
        estimate_memory(parse_model("7b"), "sppo", TrainSetup())


def test_trial_cost_counts_6n_per_trained_token() -> None:
    shape = parse_model("1b")
    setup = TrainSetup(seq_len=512)
    assumptions = ComputeAssumptions(peak_tflops=1000.0, train_mfu={"lora": 0.5, "qlora": 0.5, "full": 0.5})
    cost = estimate_trial_cost(shape, "dpo", setup, examples=1000, assumptions=assumptions)
    assert cost.train_flops == 1000 * 512 * 16 * shape.n_params
    assert cost.generation_flops == 0
    assert cost.seconds == pytest.approx(cost.train_flops / 0.5e15)
    assert cost.trials_affordable(None) is None
    assert cost.trials_affordable(cost.seconds * 3.5 / 3600) == 3


def test_online_costs_include_generation_and_reward_model_setup() -> None:
    shape, setup = parse_model("7b"), TrainSetup(seq_len=512)
    ppo = estimate_trial_cost(shape, "ppo", setup, examples=1000, reward_model_examples=1000)
    rloo = estimate_trial_cost(shape, "rloo", setup, examples=1000)
    dpo = estimate_trial_cost(shape, "dpo", setup, examples=1000)
    assert ppo.generation_flops == 1000 * 256 * 2 * shape.n_params
    assert rloo.generation_flops == 2 * ppo.generation_flops
    assert ppo.setup_seconds > 0 and rloo.setup_seconds == 0
    assert ppo.seconds > rloo.seconds > dpo.seconds
    assert ppo.trials_affordable(ppo.setup_seconds / 3600) == 0


def test_a_reward_function_holds_no_reward_model() -> None:
    shape = parse_model("7b")
    model = estimate_memory(shape, "grpo", TrainSetup())
    function = estimate_memory(shape, "grpo", TrainSetup(reward_model_resident=False))
    assert "reward model weights" in {t.name for t in model.terms}
    assert "reward model weights" not in {t.name for t in function.terms}
    assert model.total_bytes - function.total_bytes == pytest.approx(shape.n_params * 2.0)
    grpo = estimate_trial_cost(shape, "grpo", TrainSetup(seq_len=512), examples=1000)
    rloo = estimate_trial_cost(shape, "rloo", TrainSetup(seq_len=512), examples=1000)
    assert grpo.generation_flops == 4 * rloo.generation_flops  # 8 samples per prompt against 2


def test_profiles_are_consistent() -> None:
    for name in RECOMMENDABLE:
        prof = profile_of(name)
        assert prof.resident[0] == "policy", name
        assert ("reference" in prof.resident) == prof.reference
        assert ("reward" in prof.resident) == prof.reward_model
        assert ("value" in prof.resident) == prof.value_model
        assert prof.generates == prof.reward_model


def test_shape_dict_has_stable_keys() -> None:
    d = parse_model("7b").to_dict()
    assert list(d) == [
        "name",
        "n_params",
        "hidden_size",
        "num_layers",
        "intermediate_size",
        "vocab_size",
        "num_heads",
        "num_kv_heads",
        "tie_word_embeddings",
        "source",
    ]
    assert isinstance(parse_model("7b"), ModelShape)
