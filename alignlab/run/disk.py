"""The disk space one training run writes, checked before it starts (:func:`check_run_space`).

A run writes its weights (the LoRA adapter in fp32, or the whole model when ``lora`` is null) and the
tokenizer files into its output folder, and MLflow copies that folder as the run's artifacts (into the
study's ``mlartifacts/`` when the store is local). TRL's checkpoints are off (``save_strategy="no"``),
so the estimate is twice the outputs plus a margin for the config, metrics, database rows and the
reference log-probs cache: modest, so a nearly full disk is refused before minutes of training, not
after. Reads ``config.json`` and file sizes only (the built-in models' shapes are known): no torch, and
nothing is built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from alignlab.errors import UserInputError
from alignlab.paths import check_free_space
from alignlab.run.config import LoraSettings

if TYPE_CHECKING:
    from alignlab.shapes import ModelShape

#: Room a run needs besides its weights and tokenizer: config, metrics, MLflow rows, the reference cache.
MARGIN_BYTES = 64 * 1024 * 1024
#: Bytes per saved parameter: the adapter (and a model trained on the CPU) is saved in fp32.
BYTES_PER_PARAM = 4
#: Files of a model folder that are weights (the rest, except the config, is the tokenizer and the like).
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def run_disk_need(model: str, lora: LoraSettings | None) -> int:
    """Bytes a run from ``model`` (a run config's reference: a built-in name or a local folder) writes,
    twice (its outputs and their MLflow copy), plus :data:`MARGIN_BYTES`. Builds nothing."""
    shape = _shape(model)
    local = Path(model).expanduser()
    folder = local if not model.startswith("builtin:") and local.is_dir() else None
    files = [f for f in folder.rglob("*") if f.is_file()] if folder is not None else []
    tokenizer = sum(f.stat().st_size for f in files if f.suffix not in _WEIGHTS)
    if lora is not None:
        targets = None if isinstance(lora.target_modules, str) else tuple(lora.target_modules)
        weights = shape.lora_params(lora.r, targets) * BYTES_PER_PARAM if shape is not None else 0
    elif shape is not None:
        weights = shape.n_params * BYTES_PER_PARAM
    else:
        weights = sum(f.stat().st_size for f in files if f.suffix in _WEIGHTS)
    return 2 * (weights + tokenizer) + MARGIN_BYTES


def _shape(model: str) -> ModelShape | None:
    """The model's shape from alignlab.shapes (built-in names, or a folder's config.json)."""
    from alignlab.shapes import BUILTIN_SHAPES, shape_from_config

    if model in BUILTIN_SHAPES:
        return BUILTIN_SHAPES[model]
    config = Path(model).expanduser() / "config.json"
    try:
        loaded = json.loads(config.read_text(encoding="utf-8"))
        return shape_from_config(loaded, name=model, where=str(config)) if isinstance(loaded, dict) else None
    except (OSError, ValueError, UserInputError):
        return None  # validation names a bad config; the margin stands in here


def check_run_space(output_dir: Path, model: str, lora: LoraSettings | None, *, what: str) -> int:
    """Raise :class:`UserInputError` (one line: the folder, the need, the free space) when the disk of
    ``output_dir`` cannot hold what a run from ``model`` writes; ``what`` names the run (``"run dpo"``,
    ``"the next trial"``). Returns the estimate in bytes."""
    need = run_disk_need(model, lora)
    check_free_space(output_dir, need, what=f"{what}'s outputs (adapter or model, tokenizer, MLflow copy)")
    return need
