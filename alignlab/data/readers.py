"""Read a data file into raw records, each tagged with where it came from.

Formats, chosen by extension (content-sniffed when the extension says nothing):
JSONL (``.jsonl``, ``.ndjson``), JSON (``.json``: an array of records, or an object holding one
array such as ``{"data": [...]}``; a ``.json`` file that is really JSONL is read as JSONL), CSV
(``.csv``; ``.tsv`` tab-separated), Parquet (``.parquet``, ``.pq``), any of these gzip-compressed
(``.gz``), and a folder written by ``datasets.Dataset.save_to_disk``.

Nothing here knows about feedback shapes; :mod:`alignlab.data.formats` does that.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError

#: Extensions (lower case, without ``.gz``) and the reader each selects.
EXTENSIONS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: CSV columns parsed as numbers (scores) or booleans (labels); CSV cells are otherwise text.
_CSV_NUMBER_COLUMNS = frozenset({"score", "rating", "reward"})
_CSV_BOOL_COLUMNS = frozenset({"label"})
_CSV_BOOLS = {"true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class RawRecord:
    """One record as read from the file, before any feedback validation."""

    where: str
    """Where it is, for messages: ``"data.jsonl line 17"``, ``"data.json record 4"`` (1-based)."""
    value: Any
    """The parsed record (normally a dict); ``None`` when it could not be parsed."""
    error: str | None = None
    """Why it could not be parsed (``value`` is then ``None``), e.g. ``"invalid JSON: ..."``."""


def read_records(path: str | Path) -> list[RawRecord]:
    """Read every record of ``path`` (a file or a ``save_to_disk`` folder).

    Raises :class:`UserInputError` for a missing path, an empty file, a file that is not valid
    JSON as a whole (JSON arrays) and an unreadable format. Lines of a JSONL file that are not
    valid JSON come back as records with ``error`` set, so callers can report or skip them all.
    """
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise UserInputError(f"{name}: no such file or folder")
    if p.is_dir():
        return _read_saved_dataset(p, name)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UserInputError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    suffixes = [s.lower() for s in p.suffixes]
    if raw[:2] == b"\x1f\x8b" or (suffixes and suffixes[-1] == ".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UserInputError(f"{name}: not a valid gzip file ({exc})") from None
        if suffixes and suffixes[-1] == ".gz":
            suffixes = suffixes[:-1]
    kind = EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        kind = _sniff(raw)
    if kind is None:
        raise UserInputError(
            f"{name}: cannot tell the file format from the name or the content; "
            f"expected one of {', '.join(sorted(EXTENSIONS))} (optionally .gz) or a save_to_disk folder"
        )
    if kind == "parquet":
        return _read_parquet(raw, name)
    text = _decode(raw, name)
    if not text.strip():
        raise UserInputError(f"{name}: the file is empty (expected {_EXPECTED[kind]})")
    if kind == "jsonl":
        return _read_jsonl(text, name)
    if kind == "json":
        return _read_json(text, name)
    return _read_csv(text, name, delimiter="\t" if kind == "tsv" else ",")


_EXPECTED = {
    "jsonl": "one JSON object per line",
    "json": "a JSON array of records",
    "csv": "a header row and one record per row",
    "tsv": "a header row and one record per row",
}


def _sniff(raw: bytes) -> str | None:
    if raw[:4] == b"PAR1":
        return "parquet"
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] == b"[":
        return "json"
    if head[:1] == b"{":
        return "json"  # _read_json falls back to JSONL when a second value follows
    first_line = head.split(b"\n", 1)[0]
    if b"\t" in first_line:
        return "tsv"
    if b"," in first_line:
        return "csv"
    return None


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{name}: not UTF-8 text (bad byte at offset {exc.start})") from None


def _read_jsonl(text: str, name: str) -> list[RawRecord]:
    records: list[RawRecord] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            records.append(RawRecord(where, json.loads(line)))
        except json.JSONDecodeError as exc:
            records.append(RawRecord(where, None, f"invalid JSON: {exc.msg} (column {exc.colno})"))
    return records


def _read_json(text: str, name: str) -> list[RawRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and _first_line_is_object(text):  # JSON Lines under a .json name
            return _read_jsonl(text, name)
        raise UserInputError(
            f"{name} line {exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    if isinstance(data, dict):
        lists = [(key, value) for key, value in data.items() if isinstance(value, list)]
        if len(lists) != 1:
            raise UserInputError(
                f"{name}: the top level is an object with keys {_keys(data)}; "
                'expected a JSON array of records, or an object holding one array like {"data": [...]}'
            )
        data = lists[0][1]
    if not isinstance(data, list):
        raise UserInputError(
            f"{name}: the top level is {type(data).__name__}; expected a JSON array of records"
        )
    if not data:
        raise UserInputError(f"{name}: the JSON array is empty (expected at least one record)")
    return [RawRecord(f"{name} record {i}", value) for i, value in enumerate(data, start=1)]


def _first_line_is_object(text: str) -> bool:
    line = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def _read_csv(text: str, name: str, *, delimiter: str) -> list[RawRecord]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise UserInputError(f"{name} line 1: invalid CSV header: {exc}") from None
    header = [column.strip() for column in header]
    records: list[RawRecord] = []
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            records.append(RawRecord(f"{name} line {start}", None, f"invalid CSV: {exc}"))
            break
        where = f"{name} line {start}"
        start = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            records.append(
                RawRecord(where, None, f"has {len(row)} cells but the header has {len(header)} columns")
            )
            continue
        records.append(
            RawRecord(where, {col: _csv_cell(col, cell) for col, cell in zip(header, row, strict=True)})
        )
    if not records:
        raise UserInputError(f"{name}: the file has a header but no rows (expected one record per row)")
    return records


def _csv_cell(column: str, cell: str) -> Any:
    """CSV cells are text: parse labels, scores and JSON message lists back into values."""
    stripped = cell.strip()
    if column in _CSV_BOOL_COLUMNS:
        return _CSV_BOOLS.get(stripped.lower(), cell if stripped else None)
    if column in _CSV_NUMBER_COLUMNS:
        if not stripped:
            return None
        try:
            return float(stripped)
        except ValueError:
            return cell
    if stripped.startswith("[{") or stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return cell
    return cell


def _read_parquet(raw: bytes, name: str) -> list[RawRecord]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(raw))
    except (pa.ArrowException, OSError) as exc:
        raise UserInputError(f"{name}: not a readable Parquet file ({exc})") from None
    rows = table.to_pylist()
    if not rows:
        raise UserInputError(f"{name}: the Parquet file has no rows (expected at least one record)")
    return [RawRecord(f"{name} row {i}", row) for i, row in enumerate(rows, start=1)]


def _read_saved_dataset(p: Path, name: str) -> list[RawRecord]:
    if (p / "dataset_dict.json").exists():
        splits = sorted(child.name for child in p.iterdir() if (child / "state.json").exists())
        example = f"{name.rstrip('/')}/{splits[0]}" if splits else f"{name.rstrip('/')}/train"
        raise UserInputError(
            f"{name}: a saved DatasetDict with splits {', '.join(splits) or '(none)'}; "
            f"pass one split's folder, e.g. {example}"
        )
    if not (p / "state.json").exists():
        raise UserInputError(
            f"{name}: a folder, but not one written by datasets' save_to_disk (no state.json); "
            "expected a data file or a save_to_disk folder"
        )
    import datasets

    try:
        dataset = datasets.load_from_disk(str(p))
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise UserInputError(f"{name}: cannot load the saved dataset ({exc})") from None
    if isinstance(dataset, datasets.DatasetDict):  # pragma: no cover - caught above by dataset_dict.json
        raise UserInputError(f"{name}: a DatasetDict; pass one split's folder")
    rows = dataset.to_list()
    if not rows:
        raise UserInputError(f"{name}: the saved dataset has no rows (expected at least one record)")
    return [RawRecord(f"{name} row {i}", row) for i, row in enumerate(rows, start=1)]


def _keys(mapping: dict[str, Any], limit: int = 8) -> str:
    keys = [repr(k) for k in list(mapping)[:limit]]
    more = f", ... ({len(mapping) - limit} more)" if len(mapping) > limit else ""
    return "{" + ", ".join(keys) + more + "}"
