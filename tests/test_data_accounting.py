"""Nothing is lost silently: every record read is used or counted as skipped by reason, and reading
streams (one pass, bounded memory), with problems raised only once the whole file is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignlab.data import (
    convert_stream,
    load_feedback,
    open_feedback,
    profile_feedback,
    write_records,
)
from alignlab.errors import UserInputError

FIXTURES = Path(__file__).parent / "fixtures" / "data"
ALL = sorted(p.name for p in FIXTURES.iterdir() if p.name != "trl_language_modeling.jsonl")


@pytest.mark.parametrize("name", ALL)
def test_every_record_read_is_used_or_skipped_by_reason(name: str) -> None:
    data = load_feedback(FIXTURES / name, skip_invalid=True)
    counts = data.accounting
    assert counts is not None
    assert counts.read == counts.used + sum(counts.skipped.values())
    assert counts.made == len(data.records)
    assert counts.read >= 1 and counts.used >= 1


def test_mixed_file_accounts_for_invalid_ties_and_pairs(tmp_path: Path) -> None:
    rows = [
        {"prompt": "p", "chosen": [{"role": "user", "content": "p"}, {"role": "assistant", "content": "a"}],
         "rejected": [{"role": "user", "content": "p"}, {"role": "assistant", "content": "b"}],
         "score_chosen": 5, "score_rejected": 1},
        {"prompt": "q", "chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
         "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}],
         "score_chosen": 3, "score_rejected": 3},
        {"prompt": "r", "chosen": "oops", "rejected": [{"role": "assistant", "content": "b"}],
         "score_chosen": 3, "score_rejected": 1},
    ]  # fmt: skip
    path = tmp_path / "uf.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    with pytest.raises(UserInputError) as info:
        load_feedback(path)
    assert [p.split(": ", 1)[0] for p in info.value.problems] == [f"{path} line 3", f"{path} line 4"]
    profile = profile_feedback(load_feedback(path, skip_invalid=True))
    assert profile.records == {"read": 4, "used": 1, "made": 1, "skipped": {"tie (equal scores)": 1, "invalid": 2}}
    assert (profile.rows, profile.skipped_rows) == (1, 2)
    assert "1 record not used: tie (equal scores)" in profile.notes


def test_unused_fields_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b", "id": i, "source": "x"} for i in range(3)]
    rows[0].pop("source")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    profile = profile_feedback(open_feedback(path))
    assert profile.unused_fields == {"id": 3, "source": 2}
    assert "fields not read: 'id' (3), 'source' (2)" in profile.unused


def test_a_file_with_nothing_usable_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ties.jsonl"
    path.write_text(json.dumps({"prompt": "p", "response_a": "a", "response_b": "b", "winner": "tie"}) + "\n")
    with pytest.raises(UserInputError) as info:
        load_feedback(path)
    assert info.value.problems == [f"{path}: no pairwise records could be made from the 1 records read (tie 1)"]


def test_a_stream_is_read_once_and_profiles_like_the_loaded_data() -> None:
    stream = open_feedback(FIXTURES / "nectar.jsonl")
    assert (stream.kind, stream.format) == ("pairwise", "ranked-list")  # refined to the records' tag once read
    streamed = profile_feedback(stream)
    assert stream.format == "nectar"
    with pytest.raises(RuntimeError, match="read once"):
        list(stream)
    assert streamed == profile_feedback(load_feedback(FIXTURES / "nectar.jsonl"))


def test_progress_is_reported_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(10_000)))
    seen: list[tuple[int, int | None, str]] = []
    list(open_feedback(path, progress=lambda done, total, unit: seen.append((done, total, unit))))
    assert len(seen) == 2  # every 4096 records
    assert all(unit == "bytes" and total == path.stat().st_size for _, total, unit in seen)
    assert 0 < seen[0][0] <= seen[1][0] <= path.stat().st_size


def test_streamed_conversion_writes_nothing_when_a_late_record_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [{"prompt": f"p{i}", "chosen": "a", "rejected": "b"} for i in range(2000)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"prompt": "late", "chosen": "a"}\n')
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    with pytest.raises(UserInputError) as info:
        write_records(convert_stream(open_feedback(path), "binary"), out)
    assert info.value.problems == [
        f"{path} line 2001: field 'rejected' is missing (expected a string or a list of messages)"
    ]
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "out.jsonl"]
    written = write_records(convert_stream(open_feedback(path, skip_invalid=True), "binary"), out)
    assert written == 4000 == len(load_feedback(out).records)  # two labelled completions per pair
