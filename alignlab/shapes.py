"""Model shapes: what ``--model`` names, read without torch or transformers.

A model is a :class:`ModelShape`, enough to count its parameters and activations: read from a local
folder's ``config.json`` (as JSON), from a size string (``135m``, ``1.5b``, ``7b``, ``70b``: the nearest
published shape, its depth scaled) or from a built-in name. :func:`parse_model` takes any of the three.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError


@dataclass(frozen=True)
class ModelShape:
    """The shape of a decoder-only transformer, enough to count its parameters and activations."""

    name: str
    """What the user gave (``7b``, a folder, ``builtin:tiny-sft``), for messages."""
    hidden_size: int
    """Width of the residual stream (``hidden_size``; GPT-2's ``n_embd``)."""
    num_layers: int
    """Transformer blocks (``num_hidden_layers``)."""
    intermediate_size: int
    """Width of the MLP (``intermediate_size``)."""
    vocab_size: int
    """Rows of the token embedding (and of the output head)."""
    num_heads: int
    """Query heads (``num_attention_heads``)."""
    num_kv_heads: int
    """Key/value heads (``num_key_value_heads``; fewer than ``num_heads`` under grouped-query attention)."""
    head_dim: int
    """Width of one head (``head_dim``, else hidden_size / num_heads)."""
    tie_word_embeddings: bool
    """The output head shares the embedding matrix (no separate lm_head parameters)."""
    gated_mlp: bool = True
    """SwiGLU-style MLP with gate, up and down projections (Llama, Qwen, Mistral); False: up and down only."""
    source: str = ""
    """How the shape was obtained, stated in the output's assumptions."""

    @property
    def embedding_params(self) -> int:
        """Token embedding plus, when untied, the output head."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer of one block, by its usual module name (biases ignored)."""
        h, q, kv, m = (
            self.hidden_size,
            self.num_heads * self.head_dim,
            self.num_kv_heads * self.head_dim,
            self.intermediate_size,
        )
        shapes = {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "up_proj": (h, m),
            "down_proj": (m, h),
        }
        if self.gated_mlp:
            shapes["gate_proj"] = (h, m)
        return shapes

    @property
    def block_linear_params(self) -> int:
        """Parameters of the linear layers of all blocks (the ones QLoRA quantizes to 4 bits)."""
        return self.num_layers * sum(i * o for i, o in self.linear_shapes().values())

    @property
    def norm_params(self) -> int:
        """RMSNorm weights: two per block and a final one."""
        return (2 * self.num_layers + 1) * self.hidden_size

    @property
    def n_params(self) -> int:
        """All parameters: embeddings (+ untied head), block linears and norms."""
        return self.embedding_params + self.block_linear_params + self.norm_params

    def lora_params(self, r: int, target_modules: tuple[str, ...] | None = None) -> int:
        """Trainable LoRA parameters: ``r * (in + out)`` per targeted linear layer per block (A and B).

        ``target_modules=None`` means PEFT's ``all-linear`` (every block linear, not the output head),
        alignlab's default.
        """
        shapes = self.linear_shapes()
        names = tuple(shapes) if target_modules is None else tuple(n for n in target_modules if n in shapes)
        return self.num_layers * sum(r * (shapes[n][0] + shapes[n][1]) for n in names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_params": self.n_params,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "intermediate_size": self.intermediate_size,
            "vocab_size": self.vocab_size,
            "num_heads": self.num_heads,
            "num_kv_heads": self.num_kv_heads,
            "tie_word_embeddings": self.tie_word_embeddings,
            "source": self.source,
        }


def _shape(name: str, h: int, layers: int, m: int, vocab: int, heads: int, kv: int, tied: bool) -> ModelShape:
    return ModelShape(
        name, h, layers, m, vocab, heads, kv, h // heads, tied, source=f"the published config of {name}"
    )


#: Published configs of common open models; a size string takes the nearest one and scales its depth.
REFERENCE_SHAPES: tuple[ModelShape, ...] = (
    _shape("SmolLM2-135M", 576, 30, 1536, 49152, 9, 3, True),
    _shape("Qwen2.5-0.5B", 896, 24, 4864, 151936, 14, 2, True),
    _shape("Llama-3.2-1B", 2048, 16, 8192, 128256, 32, 8, True),
    _shape("Qwen2.5-1.5B", 1536, 28, 8960, 151936, 12, 2, True),
    _shape("Llama-3.2-3B", 3072, 28, 8192, 128256, 24, 8, True),
    _shape("Llama-2-7B", 4096, 32, 11008, 32000, 32, 32, False),
    _shape("Llama-3.1-8B", 4096, 32, 14336, 128256, 32, 8, False),
    _shape("Llama-2-13B", 5120, 40, 13824, 32000, 40, 40, False),
    _shape("Qwen2.5-32B", 5120, 64, 27648, 152064, 40, 8, False),
    _shape("Llama-3.1-70B", 8192, 80, 28672, 128256, 64, 8, False),
)

#: The built-in tiny Llama (alignlab.models.build_tiny_model: hidden 64, 2 layers, MLP 4x, about 140k
#: parameters on the built-in task's ~100-token vocabulary) and SmolLM2-135M-Instruct.
BUILTIN_SHAPES: dict[str, ModelShape] = {
    **{
        name: ModelShape(
            name, 64, 2, 256, 104, 4, 4, 16, False, source="the built-in tiny Llama (hidden 64, 2 layers)"
        )
        for name in ("builtin:tiny", "builtin:tiny-sft", "builtin:tiny-rm")
    },
    "smollm2-135m": replace(REFERENCE_SHAPES[0], name="smollm2-135m"),
}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmbt])\s*$", re.IGNORECASE)
_UNITS = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
MIN_SIZE = 50e6
"""Smallest size string accepted: below it the smallest reference shape (SmolLM2-135M) cannot be scaled down."""
MAX_SIZE = 2e12
"""Largest size string accepted (2t)."""
NOMINAL_SIZE_TOLERANCE = 1.15
"""A size within this factor of a reference model's count is taken as that model (``7b`` is Llama-2-7B's
6.74B, not a 7.00B model with a fractional extra layer): sizes in names are nominal."""


def parse_size(text: str) -> float | None:
    """Parameters from a size string like ``135m``, ``1.5b``, ``7B``; None when ``text`` is not one."""
    match = _SIZE.match(text)
    if match is None:
        return None
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def shape_for_size(n_params: float, *, name: str) -> ModelShape:
    """A Llama-style shape with about ``n_params`` parameters: the reference shape nearest in size
    (on a log scale), with its number of layers scaled so the total matches."""
    if not MIN_SIZE <= n_params <= MAX_SIZE:
        raise UserInputError(
            f"--model {name}: a size must be between 50m and 2t parameters, but got {n_params:.3g}"
        )
    ref = min(REFERENCE_SHAPES, key=lambda s: abs(math.log(s.n_params / n_params)))
    if abs(math.log(ref.n_params / n_params)) <= math.log(NOMINAL_SIZE_TOLERANCE):
        return replace(ref, name=name, source=f"size {name}: the shape of {ref.name}")
    per_layer = (ref.block_linear_params + 2 * ref.num_layers * ref.hidden_size) / ref.num_layers
    layers = max(1, round((n_params - ref.embedding_params - ref.hidden_size) / per_layer))
    scaled = "" if layers == ref.num_layers else f", depth scaled to {layers} layers"
    return replace(ref, name=name, num_layers=layers, source=f"size {name}: the shape of {ref.name}{scaled}")


def shape_from_config(config: dict[str, Any], *, name: str, where: str) -> ModelShape:
    """A shape from a Hugging Face ``config.json`` mapping (Llama-style keys, GPT-2 aliases, or a
    multimodal config's ``text_config``). Raises :class:`UserInputError` listing missing or bad keys."""
    if "hidden_size" not in config and "n_embd" not in config and isinstance(config.get("text_config"), dict):
        config = {**config["text_config"], "tie_word_embeddings": config.get("tie_word_embeddings", True)}

    def first(*keys: str) -> Any:
        return next((config[k] for k in keys if config.get(k) is not None), None)

    values = {
        "hidden_size": first("hidden_size", "n_embd", "d_model"),
        "num_hidden_layers": first("num_hidden_layers", "n_layer", "num_layers"),
        "vocab_size": first("vocab_size"),
        "num_attention_heads": first("num_attention_heads", "n_head"),
    }
    problems = [
        f"{where}: {key}: expected a positive integer, but got {value!r}"
        if value is not None
        else f"{where}: {key}: missing"
        for key, value in values.items()
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0)
    ]
    if problems:
        raise UserInputError(problems)
    h, heads = int(values["hidden_size"]), int(values["num_attention_heads"])
    gpt_style = "n_embd" in config or config.get("model_type") in (
        "gpt2",
        "gpt_neox",
        "opt",
        "gpt_bigcode",
        "bloom",
        "falcon",
        "phi",
    )
    inter = first("intermediate_size", "n_inner", "ffn_dim") or 4 * h
    kv = first("num_key_value_heads") or heads
    head_dim = first("head_dim") or h // heads
    for key, value in (("intermediate_size", inter), ("num_key_value_heads", kv), ("head_dim", head_dim)):
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            problems.append(f"{where}: {key}: expected a positive integer, but got {value!r}")
    if problems:
        raise UserInputError(problems)
    return ModelShape(
        name=name,
        hidden_size=h,
        num_layers=int(values["num_hidden_layers"]),
        intermediate_size=int(inter),
        vocab_size=int(values["vocab_size"]),
        num_heads=heads,
        num_kv_heads=int(kv),
        head_dim=int(head_dim),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", True)),
        gated_mlp=not gpt_style,
        source=f"{where} ({config.get('model_type', 'unknown model_type')})",
    )


def parse_model(spec: str) -> ModelShape:
    """The shape of ``--model``: a built-in name, a size string (``7b``) or a local Hugging Face folder
    (its ``config.json`` is read as JSON; no torch, no transformers). Raises :class:`UserInputError`."""
    if spec in BUILTIN_SHAPES:
        return BUILTIN_SHAPES[spec]
    size = parse_size(spec)
    if size is not None:
        return shape_for_size(size, name=spec.strip())
    folder = Path(spec).expanduser()
    expected = (
        "expected a local Hugging Face folder, a size like 135m, 1.5b, 7b, 70b, or one of "
        + ", ".join(BUILTIN_SHAPES)
    )
    if not folder.exists():
        raise UserInputError(f"--model {spec}: not found ({expected})")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserInputError(f"--model {spec}: no config.json in it ({expected})")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{config_path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{config_path} line {exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(config, dict):
        raise UserInputError(f"{config_path}: expected a JSON object, but got {type(config).__name__}")
    return shape_from_config(config, name=spec, where=str(config_path))
