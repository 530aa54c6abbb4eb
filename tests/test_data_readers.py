"""File formats: every format round-trips, and every unreadable file is one clear message."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alignlab.data import FeedbackData, load_feedback, write_feedback
from alignlab.errors import UserInputError

STANDARD = [
    {"prompt": "The capital of France is", "chosen": " Paris.", "rejected": ' Lyon, "maybe".'},
    {"prompt": "2 + 2 =\nanswer:", "chosen": " 4", "rejected": " 5"},
    {"prompt": "Ünïcödé ✓", "chosen": "", "rejected": " no"},
]
CONVERSATIONAL = [
    {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital?"}],
        "chosen": [{"role": "assistant", "content": "Paris."}],
        "rejected": [{"role": "assistant", "content": "Lyon."}],
    },
    {
        "prompt": [{"role": "user", "content": "2 + 2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    },
]
UNPAIRED = [
    {"prompt": "p", "completion": "good", "label": True},
    {"prompt": "p", "completion": "bad", "label": False},
]
SCALAR = [
    {"prompt": "p", "completion": "a", "score": 0.5},
    {"prompt": "p", "completion": "b", "score": -1.0},
]
SETS: dict[str, list[dict[str, Any]]] = {
    "standard": STANDARD,
    "conversational": CONVERSATIONAL,
    "unpaired": UNPAIRED,
    "scalar": SCALAR,
}


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def _json(records: list[dict[str, Any]]) -> bytes:
    return json.dumps(records, indent=2).encode()


def _json_data(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"version": 1, "data": records}).encode()


def _delimited(records: list[dict[str, Any]], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), delimiter=delimiter)
    writer.writeheader()
    for rec in records:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in rec.items()})
    return out.getvalue().encode()


def _parquet(records: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), sink)
    return sink.getvalue()


WRITERS: dict[str, Callable[[list[dict[str, Any]]], bytes]] = {
    "data.jsonl": _jsonl,
    "data.ndjson": _jsonl,
    "data.json": _json,
    "wrapped.json": _json_data,
    "jsonl-named.json": _jsonl,
    "data.csv": lambda r: _delimited(r, ","),
    "data.tsv": lambda r: _delimited(r, "\t"),
    "data.parquet": _parquet,
    "no-extension-jsonl": _jsonl,
    "no-extension-parquet": _parquet,
}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("name", list(WRITERS))
@pytest.mark.parametrize("dataset", list(SETS))
def test_format_round_trips(tmp_path: Path, name: str, dataset: str, compressed: bool) -> None:
    records = SETS[dataset]
    payload = WRITERS[name](records)
    path = tmp_path / (name + (".gz" if compressed else ""))
    path.write_bytes(gzip.compress(payload) if compressed else payload)
    assert load_feedback(path).records == records


@pytest.mark.parametrize("dataset", list(SETS))
def test_save_to_disk_folder_round_trips(tmp_path: Path, dataset: str) -> None:
    import datasets
    datasets.Dataset.from_list(SETS[dataset]).save_to_disk(str(tmp_path / "ds"))
    data = load_feedback(tmp_path / "ds")
    assert data.records == SETS[dataset]
    assert data.source == str(tmp_path / "ds")


@pytest.mark.parametrize("dataset", list(SETS))
def test_write_feedback_round_trips(tmp_path: Path, dataset: str) -> None:
    original = load_feedback(_write(tmp_path / "in.jsonl", _jsonl(SETS[dataset])))
    for name in ("out.jsonl", "out.jsonl.gz"):
        write_feedback(original, tmp_path / name)
        again = load_feedback(tmp_path / name)
        assert (again.kind, again.format, again.records) == (original.kind, original.format, original.records)


def test_write_feedback_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.jsonl"
    data = FeedbackData(kind="binary", format="trl-unpaired", records=UNPAIRED, source="test")
    write_feedback(data, target)
    assert target.read_text().count("\n") == 2
    assert [p.name for p in target.parent.iterdir()] == ["out.jsonl"]
    unserialisable = FeedbackData(kind="binary", format="x", records=[{"prompt": object()}], source="test")
    with pytest.raises(TypeError):
        write_feedback(unserialisable, target)
    assert target.read_text().count("\n") == 2  # the previous file is untouched
    assert [p.name for p in target.parent.iterdir()] == ["out.jsonl"]


def test_write_feedback_refuses_other_formats_names(tmp_path: Path) -> None:
    data = FeedbackData(kind="binary", format="trl-unpaired", records=UNPAIRED, source="test")
    with pytest.raises(UserInputError, match=r"expected a \.jsonl name"):
        write_feedback(data, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def _write(path: Path, payload: bytes) -> Path:
    path.write_bytes(payload)
    return path


def _problems(path: Path) -> list[str]:
    return _problems_with(path)


def _problems_with(path: Path, **options: Any) -> list[str]:
    with pytest.raises(UserInputError) as info:
        load_feedback(path, **options)
    return info.value.problems


def test_missing_file(tmp_path: Path) -> None:
    assert _problems(tmp_path / "nope.jsonl") == [f"{tmp_path / 'nope.jsonl'}: no such file or folder"]


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        ("e.jsonl", b"", "the file is empty (expected one JSON object per line)"),
        ("e.jsonl", b"\n  \n", "the file is empty (expected one JSON object per line)"),
        ("e.json", b"", "the file is empty (expected a JSON array of records)"),
        ("e.json", b"[]", "the JSON array is empty (expected at least one record)"),
        ("e.csv", b"", "the file is empty (expected a header row and one record per row)"),
        (
            "e.csv",
            b"prompt,chosen,rejected\n",
            "the file has a header but no rows (expected one record per row)",
        ),
        ("e.jsonl.gz", gzip.compress(b""), "the file is empty (expected one JSON object per line)"),
    ],
)
def test_empty_files(tmp_path: Path, name: str, payload: bytes, expected: str) -> None:
    path = _write(tmp_path / name, payload)
    assert _problems(path) == [f"{path}: {expected}"]


def test_invalid_json_document_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.json", b'[\n  {"prompt": "p"},\n  {"prompt": "q",}\n]\n')
    assert _problems(path) == [
        f"{path} line 3: invalid JSON: Expecting property name enclosed in double quotes (column 18)"
    ]


def test_json_array_with_trailing_garbage_is_not_mistaken_for_jsonl(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.json", b'[\n  {"prompt": "p"}\n]\nextra\n')
    assert _problems(path) == [f"{path} line 4: invalid JSON: Extra data (column 1)"]


def test_json_object_without_one_array(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.json", b'{"a": [1], "b": [2]}')
    (problem,) = _problems(path)
    assert problem.startswith(
        f"{path}: the top level is an object with keys {{'a', 'b'}}; expected a JSON array"
    )


def test_csv_row_with_wrong_cell_count(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", b"prompt,chosen,rejected\np,a,b\np,a\n")
    assert _problems(path) == [f"{path} line 3: has 2 cells but the header has 3 columns"]


def test_not_gzip(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl.gz", b'{"prompt": "p"}\n')
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: not a valid gzip file")


def test_not_parquet(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.parquet", b"hello")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: not a readable Parquet file")


def test_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", b'{"prompt": "\xff"}\n')
    assert _problems(path) == [f"{path}: not UTF-8 text (bad byte at offset 12)"]


def test_unknown_extension_and_content(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.txt", b"just some words\n")
    (problem,) = _problems(path)
    assert problem.startswith(
        f"{path}: cannot tell the file format from the name or the content; expected one of"
    )


def test_folder_that_is_not_a_saved_dataset(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path)
    assert problem.startswith(f"{tmp_path}: a folder, but not one written by datasets' save_to_disk")


def test_dataset_dict_folder_asks_for_a_split(tmp_path: Path) -> None:
    import datasets
    split = datasets.Dataset.from_list(UNPAIRED)
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "dd"))
    (problem,) = _problems(tmp_path / "dd")
    assert problem == (
        f"{tmp_path / 'dd'}: a saved DatasetDict with splits test, train; pass one with --split "
        f"(e.g. --split test) or pass one split's folder, e.g. {tmp_path / 'dd'}/test"
    )
    assert load_feedback(tmp_path / "dd" / "train").records == UNPAIRED
    data = load_feedback(tmp_path / "dd", split="train")
    assert (data.records, data.source) == (UNPAIRED, str(tmp_path / "dd"))
    assert _problems_with(tmp_path / "dd", split="dev") == [
        f"{tmp_path / 'dd'}: --split dev: no such split (the splits are test, train)"
    ]


def test_dataset_snapshot_folder_with_parquet_shards(tmp_path: Path) -> None:
    """A downloaded Hub snapshot: README.md and data/{split}-0000i-of-0000n.parquet, read offline."""
    snapshot = tmp_path / "snapshot"
    (snapshot / "data").mkdir(parents=True)
    (snapshot / "README.md").write_text("# a preference dataset\n")
    shards = [STANDARD[:2], STANDARD[2:]]
    for i, rows in enumerate(shards):
        _write(snapshot / "data" / f"train-0000{i}-of-00002.parquet", _parquet(rows))
    _write(snapshot / "data" / "test-00000-of-00001.parquet", _parquet(STANDARD[:1]))
    (problem,) = _problems(snapshot)
    assert problem == f"{snapshot}: a dataset folder with splits test, train; pass one with --split (e.g. --split test)"
    data = load_feedback(snapshot, split="train")
    assert (data.records, data.source) == (STANDARD, str(snapshot))
    assert load_feedback(snapshot, split="test").records == STANDARD[:1]
    (snapshot / "data" / "test-00000-of-00001.parquet").unlink()
    assert load_feedback(snapshot).records == STANDARD  # one split: no --split needed


def test_snapshot_rows_are_named_by_their_shard(tmp_path: Path) -> None:
    snapshot = tmp_path / "snap"
    (snapshot / "data").mkdir(parents=True)
    _write(snapshot / "data" / "train-00000-of-00001.parquet", _parquet([*STANDARD, {"prompt": "p", "chosen": "a", "rejected": None}]))
    assert _problems(snapshot) == [
        f"{snapshot}/data/train-00000-of-00001.parquet row 4: field 'rejected' is null (expected a string or a list of messages)"
    ]


def test_split_of_a_plain_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", _jsonl(STANDARD))
    assert _problems_with(path, split="train") == [
        f"{path}: --split train applies to a dataset folder, but this is a file"
    ]


def test_dataset_dict_with_one_split_needs_no_split(tmp_path: Path) -> None:
    import datasets
    datasets.DatasetDict({"train": datasets.Dataset.from_list(UNPAIRED)}).save_to_disk(str(tmp_path / "dd"))
    assert load_feedback(tmp_path / "dd").records == UNPAIRED
