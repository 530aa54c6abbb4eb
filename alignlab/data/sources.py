"""A path opened as records, whatever it holds: a data file (:mod:`alignlab.data.readers`) or a Hugging
Face dataset folder (:mod:`alignlab.data.hf`), read lazily (:func:`open_source`) or at once
(:func:`read_records`).
"""

from __future__ import annotations

from pathlib import Path

from alignlab.data.hf import open_folder
from alignlab.data.readers import RawRecord, Source, open_file
from alignlab.errors import UserInputError


def read_records(path: str | Path, *, split: str | None = None) -> list[RawRecord]:
    """Every record of ``path`` (a file or a dataset folder), read at once (see :func:`open_source`)."""
    return list(open_source(path, split=split))


def open_source(path: str | Path, *, split: str | None = None) -> Source:
    """Open ``path`` (a file or a Hugging Face dataset folder) to read its records lazily.

    Raises :class:`UserInputError` for a missing path, an unreadable format, and (as the records are
    read) an empty file, a file that is not valid JSON as a whole (JSON arrays) and text that is not
    UTF-8. Lines of a JSONL file that are not valid JSON come back as records with ``error`` set, so
    callers can report or skip them all. ``split`` picks the split of a dataset folder.
    """
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise UserInputError(f"{name}: no such file or folder")
    if p.is_dir():
        return open_folder(p, name, split=split)
    if not p.is_file():
        raise UserInputError(
            f"{name}: not a regular file (a device, pipe or socket); expected a data file or a dataset folder"
        )
    if split is not None:
        raise UserInputError(f"{name}: --split {split} applies to a dataset folder, but this is a file")
    return open_file(p, name)
