"""Token counts for the profile: a Hugging Face tokenizer from a local folder, or anything with ``encode``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Token counts of ``texts`` without special tokens: one batched call where the tokenizer is
    callable (Hugging Face), else ``encode`` per text (``tokenizers.Tokenizer``, tiktoken...)."""
    if not texts:
        return []
    if callable(tokenizer):
        try:
            output = tokenizer(list(texts), add_special_tokens=False)
        except TypeError:
            output = tokenizer(list(texts))
        ids = output["input_ids"] if _has_key(output, "input_ids") else output
        return [len(x) for x in ids]
    if hasattr(tokenizer, "encode"):
        counts = []
        for text in texts:
            encoded = tokenizer.encode(text)
            counts.append(len(encoded.ids) if hasattr(encoded, "ids") else len(encoded))
        return counts
    raise TypeError(f"tokenizer must be callable or have encode(), got {type(tokenizer).__name__}")


def load_tokenizer(path: str | Path) -> Any:
    """Load a Hugging Face tokenizer from a local folder (no hub access)."""
    folder = Path(path)
    if not folder.is_dir():
        raise UserInputError(
            f"{path}: no such tokenizer folder (expected a local folder saved with save_pretrained)"
        )
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{path}: cannot load a tokenizer from this folder ({first})") from None


def _has_key(output: Any, key: str) -> bool:
    try:
        return key in output
    except TypeError:
        return False
