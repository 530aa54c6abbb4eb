"""Read a data file into raw records, lazily, each tagged with where it came from.

Formats, chosen by extension (content-sniffed when the extension says nothing):
JSONL (``.jsonl``, ``.ndjson``), JSON (``.json``: an array of records, or an object holding one
array such as ``{"data": [...]}``; a ``.json`` file that is really JSONL is read as JSONL), CSV
(``.csv``; ``.tsv`` tab-separated), Parquet (``.parquet``, ``.pq``), any of these compressed with
gzip, bzip2 or xz (``.gz``, ``.bz2``, ``.xz``, or found by their first bytes; zstd is refused with a
hint). Hugging Face dataset folders are :mod:`alignlab.data.hf`; :mod:`alignlab.data.sources` opens
either from a path.

JSONL, CSV and Parquet are streamed (one line, row or row group at a time), so memory does not grow
with the file; a JSON array is parsed whole, then handed out record by record.

Bad bytes are one line naming the file and where: a damaged or truncated compressed stream (with the
last record read before it), text that is not UTF-8 (its offset), JSON nested deeper than the parser
can follow, and strings holding a lone UTF-16 surrogate (``"\\ud800"``: valid JSON, not valid text).

Nothing here knows about feedback shapes; :mod:`alignlab.data.formats` does that.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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
_PARQUET_BATCH = 1024


@dataclass(frozen=True)
class RawRecord:
    """One record as read from the file, before any feedback validation."""

    where: str
    """Where it is, for messages: ``"data.jsonl line 17"``, ``"data.json record 4"`` (1-based)."""
    value: Any
    """The parsed record (normally a dict); ``None`` when it could not be parsed."""
    error: str | None = None
    """Why it could not be parsed (``value`` is then ``None``), e.g. ``"invalid JSON: ..."``."""


class Source:
    """An opened data source: its records (read lazily, once) and how far reading has got."""

    def __init__(
        self,
        name: str,
        records: Iterator[RawRecord],
        *,
        total: int | None,
        unit: str,
        position: Callable[[], int],
    ) -> None:
        self.name = name
        """The path as given."""
        self.total = total
        """The size to read, in ``unit`` (bytes of the file, or rows), when known."""
        self.unit = unit
        """``"bytes"`` or ``"rows"``."""
        self._records = records
        self._position = position

    def position(self) -> int:
        """How much has been read so far, in ``unit``."""
        return self._position()

    def __iter__(self) -> Iterator[RawRecord]:
        return self._records


def open_file(p: Path, name: str, *, kind: str | None = None) -> Source:
    """A data file as a :class:`Source` (``kind`` forces the reader: jsonl, json, csv, tsv, parquet)."""
    try:
        raw = p.open("rb")
    except OSError as exc:
        raise UserInputError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    total = os.fstat(raw.fileno()).st_size
    suffixes = [s.lower() for s in p.suffixes]
    handle: IO[bytes] = raw
    try:
        head = raw.peek(4096)
    except OSError as exc:
        raw.close()
        raise UserInputError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    compression = _compression(head, suffixes)
    if compression == "zstd":
        raw.close()
        raise UserInputError(
            f"{name}: zstd-compressed files are not read (expected a plain file, or one compressed with "
            f"gzip, bzip2 or xz; decompress it first: zstd -d {name})"
        )
    if compression is not None:
        handle = io.BufferedReader(_DECOMPRESSORS[compression](raw), buffer_size=1 << 16)
        try:
            head = handle.peek(4096)  # type: ignore[attr-defined,unused-ignore]
        except DAMAGED as exc:
            raw.close()
            if _compression(head, []) is None:  # named .gz (say), but not its magic number
                raise UserInputError(
                    f"{name}: not a valid {compression} file (its first bytes are not {compression}'s; "
                    f"expected {compression}-compressed data, or a name without {suffixes[-1]})"
                ) from None
            raise UserInputError(
                f"{name}: damaged {compression} data at the start ({_reason(exc)}); expected a complete "
                f"{compression} file"
            ) from None
        if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
            suffixes = suffixes[:-1]
    if kind is None:
        kind = EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        kind = _sniff(head[:4096])
    if kind is None:
        raw.close()
        raise UserInputError(
            f"{name}: cannot tell the file format from the name or the content; "
            f"expected one of {', '.join(sorted(EXTENSIONS))} (optionally .gz, .bz2 or .xz) or a dataset folder"
        )
    readers: dict[str, Callable[[IO[bytes], str], Iterator[RawRecord]]] = {
        "jsonl": _read_jsonl,
        "json": _read_json,
        "csv": lambda h, n: _read_csv(h, n, delimiter=","),
        "tsv": lambda h, n: _read_csv(h, n, delimiter="\t"),
        "parquet": _read_parquet,
    }
    records = _closing(readers[kind](handle, name), raw, name, compression)
    return Source(name, records, total=total, unit="bytes", position=raw.tell)


#: Compressions read on the fly, by name: the suffix that names them and how to open the stream.
_COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
_DECOMPRESSORS: dict[str, Callable[[IO[bytes]], Any]] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw),
    "bzip2": lambda raw: bz2.BZ2File(raw),
    "xz": lambda raw: lzma.LZMAFile(raw),  # noqa: SIM115
}
#: What a damaged or cut-short compressed stream raises while it is read.
DAMAGED: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError)


def _compression(head: bytes, suffixes: list[str]) -> str | None:
    """The compression of a file from its first bytes (its magic number), else from its last suffix."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return _COMPRESSION_SUFFIXES.get(suffixes[-1]) if suffixes else None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "it ends before the compressed stream does: truncated, was the download or copy cut short?"
    return str(exc) or type(exc).__name__


def _closing(
    records: Iterator[RawRecord], handle: IO[bytes], name: str, compression: str | None
) -> Iterator[RawRecord]:
    """The records, with a damaged compressed stream or a failing read as one line naming the file
    and the last record read before it; the file is closed at the end."""
    last: str | None = None
    try:
        for record in records:
            last = record.where
            yield record
    except DAMAGED as exc:
        after = f" after {last.removeprefix(name).strip()}" if last else ""
        if compression is not None:
            raise UserInputError(
                f"{name}: damaged {compression} data{after} ({_reason(exc)}); expected a complete {compression} file"
            ) from None
        if isinstance(exc, OSError):
            raise UserInputError(f"{name}: cannot read the file{after} ({exc.strerror or exc})") from None
        raise
    finally:
        handle.close()


_EXPECTED = {
    "jsonl": "one JSON object per line",
    "json": "a JSON array of records",
    "csv": "a header row and one record per row",
    "tsv": "a header row and one record per row",
}


def _sniff(head: bytes) -> str | None:
    if head[:4] == b"PAR1":
        return "parquet"
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
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


def _not_utf8(name: str, offset: int) -> UserInputError:
    return UserInputError(f"{name}: not UTF-8 text (bad byte at offset {offset})")


def _read_jsonl(handle: IO[bytes], name: str) -> Iterator[RawRecord]:
    offset = 0
    found = False
    loads = json.loads
    for number, line in enumerate(handle, start=1):
        start, offset = offset, offset + len(line)
        if line.isspace() or not line:
            continue
        found = True
        where = f"{name} line {number}"
        try:
            value = loads(line)
        except UnicodeDecodeError as exc:
            raise _not_utf8(name, start + exc.start) from None
        except json.JSONDecodeError as exc:
            yield RawRecord(where, None, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:
            yield RawRecord(where, None, _TOO_DEEP)
            continue
        lone = _lone_surrogate(value) if _SURROGATE_ESCAPE.search(line) else None
        yield RawRecord(where, value) if lone is None else RawRecord(where, None, lone)
    if not found:
        raise UserInputError(f"{name}: the file is empty (expected {_EXPECTED['jsonl']})")


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(name, exc.start) from None


def _read_json(handle: IO[bytes], name: str) -> Iterator[RawRecord]:
    text = _decode(handle.read(), name)
    if not text.strip():
        raise UserInputError(f"{name}: the file is empty (expected {_EXPECTED['json']})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and _first_line_is_object(text):  # JSON Lines under a .json name
            yield from _read_jsonl(io.BytesIO(text.encode("utf-8", "surrogatepass")), name)
            return
        raise UserInputError(
            f"{name} line {exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    except RecursionError:
        raise UserInputError(f"{name}: {_TOO_DEEP}") from None
    surrogates = _SURROGATE_ESCAPE.search(text.encode("utf-8", "surrogatepass")) is not None
    del text
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
    for i in range(len(data)):
        value, data[i] = data[i], None  # hand each record over once
        lone = _lone_surrogate(value) if surrogates else None
        where = f"{name} record {i + 1}"
        yield RawRecord(where, value) if lone is None else RawRecord(where, None, lone)


_TOO_DEEP = (
    f"invalid JSON: nested deeper than the JSON parser can follow (about {sys.getrecursionlimit()} levels "
    "of arrays or objects); expected records of text, numbers and shallow lists"
)
#: A JSON escape of a UTF-16 surrogate (``\\ud800``..``\\udfff``); in pairs they are one character.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any) -> str | None:
    """Why ``value`` (parsed JSON whose text escapes a surrogate) is not valid text, or ``None``."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else "?"
        return (
            f"holds {bad.encode('unicode_escape').decode()!s}, a lone UTF-16 surrogate: valid JSON but not "
            "valid Unicode text (expected UTF-8 text; escape astral characters as surrogate pairs)"
        )
    except (RecursionError, ValueError):
        return None
    return None


def _first_line_is_object(text: str) -> bool:
    line = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def _text_lines(handle: IO[bytes], name: str) -> Iterator[str]:
    offset = 0
    for number, line in enumerate(handle):
        try:
            yield line.decode("utf-8-sig" if number == 0 else "utf-8")
        except UnicodeDecodeError as exc:
            raise _not_utf8(name, offset + exc.start) from None
        offset += len(line)


def _read_csv(handle: IO[bytes], name: str, *, delimiter: str) -> Iterator[RawRecord]:
    lines = _text_lines(handle, name)
    reader = csv.reader(_skip_leading_blank(lines), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise UserInputError(f"{name}: the file is empty (expected {_EXPECTED['csv']})") from None
    except csv.Error as exc:
        raise UserInputError(f"{name} line 1: invalid CSV header: {exc}") from None
    header = [column.strip() for column in header]
    found = False
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            found = True
            yield RawRecord(f"{name} line {start}", None, f"invalid CSV: {exc}")
            break
        where = f"{name} line {start}"
        start = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        found = True
        if len(row) != len(header):
            yield RawRecord(where, None, f"has {len(row)} cells but the header has {len(header)} columns")
            continue
        yield RawRecord(where, {col: _csv_cell(col, cell) for col, cell in zip(header, row, strict=True)})
    if not found:
        raise UserInputError(f"{name}: the file has a header but no rows (expected one record per row)")


def _skip_leading_blank(lines: Iterable[str]) -> Iterator[str]:
    started = False
    for line in lines:
        if not started and not line.strip():
            continue
        started = True
        yield line


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
        except (json.JSONDecodeError, RecursionError):
            return cell
    return cell


def _read_parquet(handle: IO[bytes], name: str) -> Iterator[RawRecord]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        plain = isinstance(getattr(handle, "raw", None), io.FileIO)  # not a gzip stream: read in place
        source: Any = handle if plain else io.BytesIO(handle.read())
        parquet = pq.ParquetFile(source)
    except (pa.ArrowException, OSError) as exc:
        raise UserInputError(f"{name}: not a readable Parquet file ({exc})") from None
    yield from parquet_rows(parquet, name)


def parquet_rows(parquet: Any, name: str, *, start: int = 1) -> Iterator[RawRecord]:
    """The rows of an open ``pyarrow.parquet.ParquetFile``, one row group batch at a time."""
    n = start - 1
    for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
        for row in batch.to_pylist():
            n += 1
            yield RawRecord(f"{name} row {n}", row)
    if n < start:
        raise UserInputError(f"{name}: the Parquet file has no rows (expected at least one record)")


def _keys(mapping: dict[str, Any], limit: int = 8) -> str:
    keys = [repr(k) for k in list(mapping)[:limit]]
    more = f", ... ({len(mapping) - limit} more)" if len(mapping) > limit else ""
    return "{" + ", ".join(keys) + more + "}"
