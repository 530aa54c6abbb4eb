"""Write feedback records as JSON Lines, atomically (a reader never sees a half-written file)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from alignlab.data.feedback import FeedbackData
from alignlab.errors import UserInputError
from alignlab.paths import write_atomic

#: Extensions of other formats: writing JSON Lines under these names would mislead the next reader.
_NOT_JSONL = (".json", ".csv", ".tsv", ".parquet", ".pq")


def write_feedback(data: FeedbackData, path: str | Path) -> None:
    """Write ``data.records`` to ``path`` as JSON Lines (gzip-compressed when the name ends in ``.gz``).

    The records go to a temporary file beside ``path``, which then replaces ``path`` in one step,
    so an error leaves any previous file untouched. Missing parent folders are created.
    """
    target = Path(path)
    suffixes = [s.lower() for s in target.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _NOT_JSONL:
        raise UserInputError(
            f"{path}: feedback is written as JSON Lines; expected a .jsonl name (or .jsonl.gz), not {suffixes[-1]}"
        )
    if target.is_dir():
        raise UserInputError(f"{path}: is a folder (expected a file path such as {target / 'data.jsonl'})")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(
            f"{path}: cannot create the folder {target.parent} ({exc.strerror or exc})"
        ) from None
    payload = "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in data.records).encode("utf-8")
    if target.name.lower().endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    write_atomic(target, payload)
