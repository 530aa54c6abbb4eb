"""Write feedback records as JSON Lines, atomically (a reader never sees a half-written file)."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from alignlab.data.feedback import FeedbackData
from alignlab.errors import UserInputError

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
    records found at the end of a stream) leaves ``path`` as it was. Returns the number written."""
    target = check_output_path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(
            f"{path}: cannot create the folder {target.parent} ({exc.strerror or exc})"
        ) from None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    count = 0
    try:
        with os.fdopen(fd, "wb") as raw:
            out: IO[bytes] = raw
            if target.name.lower().endswith(".gz"):
                out = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0)  # type: ignore[assignment]
            lines: list[str] = []
            for rec in records:
                lines.append(json.dumps(rec, ensure_ascii=False))
                count += 1
                if len(lines) >= 1024:
                    out.write(("\n".join(lines) + "\n").encode("utf-8"))
                    lines = []
            if lines:
                out.write(("\n".join(lines) + "\n").encode("utf-8"))
            if out is not raw:
                out.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return count
