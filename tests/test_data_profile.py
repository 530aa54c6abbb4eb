"""Profiles: counts, balance, lengths (estimated or tokenized) and defects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alignlab.data import FeedbackData, convert_feedback, load_feedback, profile_feedback, to_text
from alignlab.data.profile import count_tokens

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def pairwise(records: list[dict[str, Any]]) -> FeedbackData:
    return FeedbackData(kind="pairwise", format="trl-standard", records=records, source="test")


def test_pairwise_profile() -> None:
    records = [
        {"prompt": "abcd" * 10, "chosen": "x" * 8, "rejected": "y" * 4},
        {"prompt": "abcd" * 10, "chosen": "z", "rejected": "z"},
        {"prompt": "q", "chosen": " ", "rejected": "n" * 3},
        {"prompt": "q", "chosen": " ", "rejected": "n" * 3},
    ]
    profile = profile_feedback(pairwise(records))
    assert (profile.kind, profile.format, profile.rows, profile.skipped_rows) == (
        "pairwise",
        "trl-standard",
        4,
        0,
    )
    assert profile.unique_prompts == 2
    assert (profile.pairs_per_prompt.mean, profile.pairs_per_prompt.max) == (2.0, 2)  # type: ignore[union-attr]
    assert profile.identical_pairs == 1
    assert profile.duplicates == 1
    assert profile.empty_fields == {"prompt": 0, "chosen": 2, "rejected": 0}
    assert profile.length_unit == "tokens (estimated: characters / 4)"
    assert profile.lengths["prompt"].max == 10 and profile.lengths["prompt"].p50 == 1
    assert profile.lengths["total"].max == 12  # 10 prompt + 2 for the longer completion
    assert profile.desirable is None and profile.score is None
    assert any("chosen == rejected" in note for note in profile.notes)
    assert any("repeat an earlier row" in note for note in profile.notes)


def test_profile_to_dict_is_json_safe() -> None:
    for name in ("pairwise_conversational.jsonl", "unpaired.jsonl", "scalar.csv", "prompts.jsonl"):
        as_dict = profile_feedback(load_feedback(FIXTURES / name)).to_dict()
        assert json.loads(json.dumps(as_dict)) == as_dict


def test_binary_profile_and_kto_balance_note() -> None:
    profile = profile_feedback(load_feedback(FIXTURES / "unpaired.jsonl"))
    assert (profile.desirable, profile.undesirable, profile.desirable_fraction) == (2, 2, 0.5)
    assert profile.pairs_per_prompt is None and profile.identical_pairs is None
    assert set(profile.lengths) == {"prompt", "completion", "total"}
    assert profile.notes == []
    records = [{"prompt": "p", "completion": str(i), "label": i < 4} for i in range(5)]
    skewed = profile_feedback(FeedbackData(kind="binary", format="trl-unpaired", records=records, source="t"))
    assert skewed.desirable_fraction == 0.8
    assert any("undesirable_weight in [3.00, 4.00]" in note for note in skewed.notes)


def test_scalar_profile() -> None:
    profile = profile_feedback(load_feedback(FIXTURES / "scalar.csv"))
    assert profile.score is not None
    assert (profile.score.min, profile.score.median, profile.score.max) == (1.0, 6.5, 9.0)
    assert profile.score.mean == pytest.approx(5.1)
    assert profile.unique_prompts == 2


def test_prompt_only_profile() -> None:
    profile = profile_feedback(load_feedback(FIXTURES / "prompts.jsonl"))
    assert (profile.rows, profile.unique_prompts, profile.duplicates) == (3, 2, 1)
    assert set(profile.lengths) == {"prompt"}


@pytest.mark.parametrize(
    ("name", "kind", "pairs"),
    [
        ("pairwise_standard.jsonl", "pairwise", 3),  # the rows are the pairs
        ("unpaired.jsonl", "binary", 2),  # as `alignlab data convert --to pairwise` forms them
        ("scalar.csv", "scalar", 4),
        ("prompts.jsonl", "prompt", 0),
    ],
)
def test_pairs_the_data_yields(name: str, kind: str, pairs: int) -> None:
    data = load_feedback(FIXTURES / name)
    profile = profile_feedback(data)
    assert (profile.kind, profile.pairs) == (kind, pairs)
    if kind in ("binary", "scalar"):
        assert profile.pairs == len(convert_feedback(data, "pairwise").records)


def test_no_pairs_when_no_prompt_has_both_labels() -> None:
    records = [{"prompt": f"p{i}", "completion": "c", "label": i % 2 == 0} for i in range(4)]
    profile = profile_feedback(
        FeedbackData(kind="binary", format="trl-unpaired", records=records, source="t")
    )
    assert profile.pairs == 0
    scores = [{"prompt": f"p{i}", "completion": "c", "score": float(i)} for i in range(3)]
    assert profile_feedback(FeedbackData(kind="scalar", format="csv", records=scores, source="t")).pairs == 0


def test_skipped_rows_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "p"}\n{"prompt": 3}\n')
    profile = profile_feedback(load_feedback(path, skip_invalid=True))
    assert (profile.rows, profile.skipped_rows) == (1, 1)


class CallableTokenizer:
    """Like a Hugging Face tokenizer: called with a batch, returns {"input_ids": [...]}."""

    name_or_path = "words"

    def __call__(self, texts: list[str], add_special_tokens: bool = True) -> dict[str, list[list[int]]]:
        assert add_special_tokens is False
        return {"input_ids": [[0] * len(t.split()) for t in texts]}


class EncodeOnlyTokenizer:
    """Like ``tokenizers.Tokenizer``: ``encode`` returns an object with ``ids``."""

    class Encoding:
        def __init__(self, n: int) -> None:
            self.ids = list(range(n))

    def encode(self, text: str) -> EncodeOnlyTokenizer.Encoding:
        return self.Encoding(len(text.split()))


def test_lengths_with_a_tokenizer() -> None:
    records = [{"prompt": "one two three", "chosen": "a b", "rejected": "c"}]
    profile = profile_feedback(pairwise(records), tokenizer=CallableTokenizer())
    assert profile.length_unit == "tokens (words)"
    assert (profile.lengths["prompt"].max, profile.lengths["chosen"].max, profile.lengths["total"].max) == (
        3,
        2,
        5,
    )
    assert count_tokens(EncodeOnlyTokenizer(), ["a b c", "d"]) == [3, 1]
    conversational = profile_feedback(load_feedback(FIXTURES / "kto.json"), tokenizer=EncodeOnlyTokenizer())
    assert (
        conversational.length_unit
        == "tokens (EncodeOnlyTokenizer); messages flattened as 'role: content' lines"
    )


def test_to_text() -> None:
    assert to_text("plain") == "plain"
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert to_text(messages) == "user: hi\nassistant: hello"
