"""Convert feedback from one kind to another, for the algorithm that needs it.

Supported (every conversion is deterministic: it depends on the records and their order only):

- binary -> pairwise: for each prompt, its distinct desirable completions D and undesirable U (file
  order) are paired as the cartesian product D x U, taken in order of i + j (then i) so that every
  completion is used before any is reused, at most ``max_pairs_per_prompt`` pairs per prompt.
- pairwise -> binary (TRL's "unpaired"): chosen -> label true, rejected -> label false; pairs with
  chosen == rejected are dropped, repeated (prompt, completion, label) rows kept once.
- scalar -> pairwise: for each prompt, every two different completions whose scores differ by more
  than ``margin``; the higher score is chosen. Largest score gaps first, at most
  ``max_pairs_per_prompt`` pairs per prompt.
- scalar -> binary: label = score >= ``threshold`` (default: the median score).
- any kind -> prompt: the distinct prompts, in first-seen order.
- a kind to itself: the data unchanged.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterator
from typing import Any

from alignlab.data.feedback import KINDS, FeedbackData, FeedbackKind
from alignlab.errors import UserInputError

#: Default cap on pairs formed from one prompt (binary -> pairwise, scalar -> pairwise).
MAX_PAIRS_PER_PROMPT = 16

_PAIRS = {("binary", "pairwise"), ("pairwise", "binary"), ("scalar", "pairwise"), ("scalar", "binary")}
SUPPORTED = "binary -> pairwise, pairwise -> binary, scalar -> pairwise, scalar -> binary, any -> prompt"


def convert_feedback(
    data: FeedbackData,
    to: FeedbackKind,
    *,
    margin: float = 0.0,
    threshold: float | None = None,
    max_pairs_per_prompt: int | None = MAX_PAIRS_PER_PROMPT,
) -> FeedbackData:
    """Convert ``data`` to kind ``to`` (see the module docstring for how each conversion works).

    ``margin`` (scalar -> pairwise): the score gap a pair must exceed. ``threshold`` (scalar ->
    binary): the lowest desirable score. ``max_pairs_per_prompt``: the cap on pairs per prompt
    (``None``: no cap). Raises :class:`UserInputError` for an unsupported conversion, an option that
    does not apply to it, or a conversion that yields no records.
    """
    source = data.source
    conversion = f"{data.kind} -> {to}"
    problems: list[str] = []
    if to not in KINDS:
        problems.append(f"cannot convert to {to!r}: not a feedback kind (expected one of {', '.join(KINDS)})")
    elif to != data.kind and to != "prompt" and (data.kind, to) not in _PAIRS:
        problems.append(f"cannot convert {data.kind} feedback to {to}; supported: {SUPPORTED}")
    if not math.isfinite(margin) or margin < 0:
        problems.append(f"margin must be a number >= 0, but got margin={margin}")
    elif margin and conversion != "scalar -> pairwise":
        problems.append(f"margin applies to scalar -> pairwise only, but the conversion is {conversion}")
    if threshold is not None and not math.isfinite(threshold):
        problems.append(f"threshold must be a finite number, but got threshold={threshold}")
    elif threshold is not None and conversion != "scalar -> binary":
        problems.append(f"threshold applies to scalar -> binary only, but the conversion is {conversion}")
    if max_pairs_per_prompt is not None and max_pairs_per_prompt < 1:
        problems.append(f"max_pairs_per_prompt must be >= 1 or None, but got {max_pairs_per_prompt=}")
    if problems:
        raise UserInputError(problems)

    if to == data.kind:
        return data
    if to == "prompt":
        records = _prompts(data)
        return _result(data, "prompt", "prompt-only", records)
    if conversion == "binary -> pairwise":
        records = _binary_to_pairwise(data, max_pairs_per_prompt)
        return _result(data, "pairwise", _pairwise_format(data), records)
    if conversion == "pairwise -> binary":
        records = _pairwise_to_binary(data)
        return _result(data, "binary", "trl-unpaired", records)
    if conversion == "scalar -> pairwise":
        records = _scalar_to_pairwise(data, margin, max_pairs_per_prompt)
        return _result(data, "pairwise", _pairwise_format(data), records)
    cut = statistics.median(r["score"] for r in data.records) if threshold is None else threshold
    records = [
        {"prompt": r["prompt"], "completion": r["completion"], "label": r["score"] >= cut}
        for r in data.records
    ]
    if not records:
        raise UserInputError(f"{source}: no records to convert")
    return _result(data, "binary", "trl-unpaired", records)


def _result(data: FeedbackData, kind: FeedbackKind, fmt: str, records: list[dict[str, Any]]) -> FeedbackData:
    return FeedbackData(
        kind=kind, format=fmt, records=records, source=data.source, skipped=list(data.skipped)
    )


def _pairwise_format(data: FeedbackData) -> str:
    return "trl-conversational" if data.conversational else "trl-standard"


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _group(records: list[dict[str, Any]]) -> dict[str, tuple[Any, list[dict[str, Any]]]]:
    """Records by prompt, in first-seen order: key -> (prompt, records)."""
    groups: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
    for rec in records:
        groups.setdefault(_key(rec["prompt"]), (rec["prompt"], []))[1].append(rec)
    return groups


def _prompts(data: FeedbackData) -> list[dict[str, Any]]:
    records = [{"prompt": prompt} for prompt, _ in _group(data.records).values()]
    if not records:
        raise UserInputError(f"{data.source}: no records to convert")
    return records


def _distinct(values: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(_key(value), value)
    return list(seen.values())


def _diagonal(n: int, m: int) -> Iterator[tuple[int, int]]:
    """All (i, j) with i < n, j < m, ordered by i + j, then i."""
    for total in range(n + m - 1):
        for i in range(max(0, total - m + 1), min(n, total + 1)):
            yield i, total - i


def _binary_to_pairwise(data: FeedbackData, cap: int | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    only_good = only_bad = 0
    for prompt, recs in _group(data.records).values():
        good = _distinct([r["completion"] for r in recs if r["label"]])
        bad = _distinct([r["completion"] for r in recs if not r["label"]])
        if not bad:
            only_good += 1
        elif not good:
            only_bad += 1
        made = 0
        for i, j in _diagonal(len(good), len(bad)):
            if cap is not None and made >= cap:
                break
            if good[i] == bad[j]:
                continue
            out.append({"prompt": prompt, "chosen": good[i], "rejected": bad[j]})
            made += 1
    if not out:
        raise UserInputError(
            f"{data.source}: no prompt has both a desirable and an undesirable completion, so no pairs can be "
            f"formed ({only_good + only_bad} prompts: {only_good} with only desirable, {only_bad} with only "
            "undesirable completions); train with KTO on the binary data instead"
        )
    return out


def _pairwise_to_binary(data: FeedbackData) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for rec in data.records:
        if rec["chosen"] == rec["rejected"]:
            continue
        for completion, label in ((rec["chosen"], True), (rec["rejected"], False)):
            row = {"prompt": rec["prompt"], "completion": completion, "label": label}
            rows.setdefault(_key(row), row)
    if not rows:
        raise UserInputError(
            f"{data.source}: all {len(data.records)} pairs have chosen == rejected, so no labelled "
            "completions can be formed"
        )
    return list(rows.values())


def _scalar_to_pairwise(data: FeedbackData, margin: float, cap: int | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    groups = _group(data.records)
    for prompt, recs in groups.values():
        candidates = []
        for a in range(len(recs)):
            for b in range(a + 1, len(recs)):
                gap = abs(recs[a]["score"] - recs[b]["score"])
                if gap > margin and recs[a]["completion"] != recs[b]["completion"]:
                    candidates.append((-gap, a, b))
        candidates.sort()
        for _, a, b in candidates[:cap]:
            high, low = (recs[a], recs[b]) if recs[a]["score"] > recs[b]["score"] else (recs[b], recs[a])
            out.append({"prompt": prompt, "chosen": high["completion"], "rejected": low["completion"]})
    if not out:
        several = sum(1 for _, recs in groups.values() if len(recs) > 1)
        raise UserInputError(
            f"{data.source}: no two different completions of the same prompt have scores more than "
            f"margin={margin} apart ({len(groups)} prompts, {several} with two or more completions); "
            "a pair needs two scored completions of one prompt"
        )
    return out
