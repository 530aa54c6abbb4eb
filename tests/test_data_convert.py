"""Conversions between feedback kinds: what they make, in which order, and when they refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alignlab.data import FeedbackData, convert_feedback, load_feedback
from alignlab.errors import UserInputError

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def binary(rows: list[tuple[str, str, bool]]) -> FeedbackData:
    records = [{"prompt": p, "completion": c, "label": label} for p, c, label in rows]
    return FeedbackData(kind="binary", format="trl-unpaired", records=records, source="b.jsonl")


def scalar(rows: list[tuple[str, str, float]]) -> FeedbackData:
    records = [{"prompt": p, "completion": c, "score": s} for p, c, s in rows]
    return FeedbackData(kind="scalar", format="scalar", records=records, source="s.csv")


def pairs(data: FeedbackData) -> list[tuple[Any, Any, Any]]:
    return [(r["prompt"], r["chosen"], r["rejected"]) for r in data.records]


def test_binary_to_pairwise_pairs_each_desirable_with_each_undesirable() -> None:
    data = load_feedback(FIXTURES / "unpaired.jsonl")
    out = convert_feedback(data, "pairwise")
    assert (out.kind, out.format, out.source) == ("pairwise", "trl-standard", data.source)
    # "The capital..." has only an undesirable completion: no pair.
    assert pairs(out) == [("2 + 2 =", " 4", " 5"), ("2 + 2 =", " four", " 5")]


def test_binary_to_pairwise_order_and_cap() -> None:
    rows = [("p", f"g{i}", True) for i in range(3)] + [("p", f"b{j}", False) for j in range(3)]
    rows += [("p", "g0", True), ("p", "g1", False)]  # a repeat (ignored) and a completion with both labels
    out = convert_feedback(binary(rows), "pairwise", max_pairs_per_prompt=5)
    # diagonal order over D = [g0, g1, g2] x U = [b0, b1, b2, g1]: by i + j, then i; g1 vs g1 is skipped.
    assert [(c, r) for _, c, r in pairs(out)] == [
        ("g0", "b0"),
        ("g0", "b1"),
        ("g1", "b0"),
        ("g0", "b2"),
        ("g1", "b1"),
    ]
    uncapped = pairs(convert_feedback(binary(rows), "pairwise", max_pairs_per_prompt=None))
    assert len(uncapped) == 11 and pairs(out) == uncapped[:5]  # a cap keeps the first pairs of that order
    assert pairs(convert_feedback(binary(rows), "pairwise")) == uncapped  # the default cap, 16, keeps all 11


def test_binary_to_pairwise_with_no_shared_prompts_explains_why() -> None:
    with pytest.raises(UserInputError) as info:
        convert_feedback(binary([("p", "a", True), ("q", "b", False), ("r", "c", False)]), "pairwise")
    assert info.value.problems == [
        "b.jsonl: no prompt has both a desirable and an undesirable completion, so no pairs can be formed "
        "(3 prompts: 1 with only desirable, 2 with only undesirable completions); "
        "train with KTO on the binary data instead"
    ]


def test_conversational_binary_to_pairwise_stays_conversational() -> None:
    kto = load_feedback(FIXTURES / "kto.json")
    out = convert_feedback(kto, "pairwise")
    assert out.format == "trl-conversational"
    assert out.records == [
        {
            "prompt": [{"role": "user", "content": "Capital of France?"}],
            "chosen": [{"role": "assistant", "content": "Paris."}],
            "rejected": [{"role": "assistant", "content": "Lyon."}],
        }
    ]


def test_pairwise_to_binary_unpairs_drops_identical_and_dedupes() -> None:
    records = [
        {"prompt": "p", "chosen": "a", "rejected": "b"},
        {"prompt": "p", "chosen": "a", "rejected": "c"},
        {"prompt": "q", "chosen": "x", "rejected": "x"},
    ]
    data = FeedbackData(kind="pairwise", format="trl-standard", records=records, source="p.jsonl")
    out = convert_feedback(data, "binary")
    assert (out.kind, out.format) == ("binary", "trl-unpaired")
    assert [(r["prompt"], r["completion"], r["label"]) for r in out.records] == [
        ("p", "a", True),
        ("p", "b", False),
        ("p", "c", False),
    ]
    only_identical = FeedbackData(
        kind="pairwise", format="trl-standard", records=records[2:], source="p.jsonl"
    )
    with pytest.raises(UserInputError, match=r"all 1 pairs have chosen == rejected"):
        convert_feedback(only_identical, "binary")


def test_scalar_to_pairwise_uses_margin_and_prefers_large_gaps() -> None:
    data = load_feedback(
        FIXTURES / "scalar.csv"
    )  # 2 + 2 =: 4 -> 9, 5 -> 2, 22 -> 1; Say "hi": hi -> 7, bye -> 6.5
    assert pairs(convert_feedback(data, "pairwise")) == [
        ("2 + 2 =", " 4", " 22"),
        ("2 + 2 =", " 4", " 5"),
        ("2 + 2 =", " 5", " 22"),
        ('Say "hi"', " hi", " bye"),
    ]
    assert pairs(convert_feedback(data, "pairwise", margin=1.0)) == [
        ("2 + 2 =", " 4", " 22"),
        ("2 + 2 =", " 4", " 5"),
    ]
    assert len(convert_feedback(data, "pairwise", max_pairs_per_prompt=1).records) == 2


def test_scalar_to_pairwise_with_nothing_to_pair_explains_why() -> None:
    with pytest.raises(UserInputError) as info:
        convert_feedback(scalar([("p", "a", 1.0), ("p", "b", 1.5), ("q", "c", 3.0)]), "pairwise", margin=0.5)
    assert info.value.problems == [
        "s.csv: no two different completions of the same prompt have scores more than margin=0.5 apart "
        "(2 prompts, 1 with two or more completions); a pair needs two scored completions of one prompt"
    ]


def test_scalar_to_binary_uses_the_median_or_the_threshold() -> None:
    data = load_feedback(FIXTURES / "scalar.csv")  # scores 9, 2, 1, 7, 6.5: median 6.5
    out = convert_feedback(data, "binary")
    assert (out.kind, out.format) == ("binary", "trl-unpaired")
    assert [r["label"] for r in out.records] == [True, False, False, True, True]
    assert [r["label"] for r in convert_feedback(data, "binary", threshold=7).records] == [
        True,
        False,
        False,
        True,
        False,
    ]


def test_any_kind_to_prompts_keeps_distinct_prompts_in_order() -> None:
    out = convert_feedback(load_feedback(FIXTURES / "pairwise_standard.jsonl"), "prompt")
    assert (out.kind, out.format) == ("prompt", "prompt-only")
    assert out.records == [{"prompt": "The capital of France is"}, {"prompt": "2 + 2 ="}]


def test_same_kind_is_unchanged() -> None:
    data = load_feedback(FIXTURES / "hh.jsonl")
    assert convert_feedback(data, "pairwise") is data


@pytest.mark.parametrize(
    ("source", "to"),
    [
        ("prompts.jsonl", "pairwise"),
        ("unpaired.jsonl", "scalar"),
        ("pairwise_standard.jsonl", "scalar"),
        ("prompts.jsonl", "binary"),
    ],
)
def test_unsupported_conversions_list_the_supported_ones(source: str, to: Any) -> None:
    data = load_feedback(FIXTURES / source)
    with pytest.raises(UserInputError) as info:
        convert_feedback(data, to)
    assert info.value.problems == [
        f"cannot convert {data.kind} feedback to {to}; supported: binary -> pairwise, pairwise -> binary, "
        "scalar -> pairwise, scalar -> binary, any -> prompt"
    ]


def test_options_that_do_not_apply_are_refused() -> None:
    data = load_feedback(FIXTURES / "unpaired.jsonl")
    with pytest.raises(UserInputError) as info:
        convert_feedback(data, "pairwise", margin=1.0, threshold=0.5, max_pairs_per_prompt=0)
    assert info.value.problems == [
        "margin applies to scalar -> pairwise only, but the conversion is binary -> pairwise",
        "threshold applies to scalar -> binary only, but the conversion is binary -> pairwise",
        "max_pairs_per_prompt must be >= 1 or None, but got max_pairs_per_prompt=0",
    ]
    with pytest.raises(UserInputError, match=r"margin must be a number >= 0, but got margin=-1"):
        convert_feedback(load_feedback(FIXTURES / "scalar.csv"), "pairwise", margin=-1)
    with pytest.raises(UserInputError, match=r"not a feedback kind"):
        convert_feedback(data, "ranking")  # type: ignore[arg-type]
