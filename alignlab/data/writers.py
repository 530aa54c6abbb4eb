"""Write feedback records as JSON Lines, atomically (a reader never sees a half-written file), with the
user's umask (:func:`alignlab.paths.atomic_output`)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from alignlab.data.feedback import FeedbackData
from alignlab.errors import UserInputError
from alignlab.paths import atomic_output

#: Extensions of other formats: writing JSON Lines under these names would mislead the next reader.
_NOT_JSONL = (".json", ".csv", ".tsv", ".parquet", ".pq")


def write_feedback(data: FeedbackData, path: str | Path) -> None:
    """Write ``data.records`` to ``path`` as JSON Lines (gzip-compressed when the name ends in ``.gz``).

    The records go to a temporary file beside ``path``, which then replaces ``path`` in one step,
    so an error leaves any previous file untouched. Missing parent folders are created.
    """
    write_records(data.records, path)


def check_output_path(path: str | Path) -> Path:
    """``path`` as a JSON Lines target, checked before anything is read or written."""
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
    return target


def write_records(records: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write ``records`` (any iterable, consumed once: a stream is written as it is read) to ``path``
    as JSON Lines, atomically as :func:`write_feedback` does; an error while iterating (say, invalid
    records found at the end of a stream) or writing (a full disk) leaves ``path`` as it was. The file
    gets the user's umask. Returns the number written."""
    target = check_output_path(path)
    count = 0
    with atomic_output(target) as raw:
        out: IO[bytes] = raw
        if target.name.lower().endswith(".gz"):
            out = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0)  # type: ignore[assignment]
        lines: list[str] = []
        for rec in records:
            lines.append(json.dumps(rec, ensure_ascii=False))
            count += 1
            if len(lines) >= 1024:
                out.write(_encode(lines, path))
                lines = []
        if lines:
            out.write(_encode(lines, path))
        if out is not raw:
            out.close()
    return count


def _encode(lines: list[str], path: str | Path) -> bytes:
    text = "\n".join(lines) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate the reader let through: never half a file
        raise UserInputError(
            f"{path}: a record holds {text[exc.start:exc.end]!r}, a lone UTF-16 surrogate that is not valid "
            "Unicode (expected valid text); nothing was written"
        ) from None
