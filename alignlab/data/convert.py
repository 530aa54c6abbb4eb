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

pairwise -> binary, any -> prompt and scalar -> binary with a ``threshold`` stream (memory: a hash per
distinct row); binary -> pairwise, scalar -> pairwise and scalar -> binary at the median hold the
records, grouped by prompt, since a pair needs both of its completions.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from alignlab.data.feedback import KINDS, FeedbackData, FeedbackKind
from alignlab.errors import UserInputError

if TYPE_CHECKING:
    from alignlab.data.loading import FeedbackStream

#: Default cap on pairs formed from one prompt (binary -> pairwise, scalar -> pairwise).
MAX_PAIRS_PER_PROMPT = 16

_PAIRS = {("binary", "pairwise"), ("pairwise", "binary"), ("scalar", "pairwise"), ("scalar", "binary")}
SUPPORTED = "binary -> pairwise, pairwise -> binary, scalar -> pairwise, scalar -> binary, any -> prompt"


class Converted:
    """Converted records, made lazily as they are iterated (once); ``format`` and ``count`` are final
    after the iteration."""

    def __init__(self, kind: FeedbackKind, fmt: str, source: str, records: Iterator[dict[str, Any]]) -> None:
        self.kind = kind
        self.format = fmt
        self.source = source
        self.count = 0
        self._records = records

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for rec in self._records:
            if self.count == 0 and self.format == "trl-standard" and isinstance(rec.get("prompt"), list):
                self.format = "trl-conversational"
            self.count += 1
            yield rec


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
    if to == data.kind and _problems(data.kind, to, margin, threshold, max_pairs_per_prompt) == []:
        return data
    out = convert_stream(
        data, to, margin=margin, threshold=threshold, max_pairs_per_prompt=max_pairs_per_prompt
    )
    records = list(out)
    return FeedbackData(kind=out.kind, format=out.format, records=records, source=data.source, skipped=list(data.skipped))


def convert_stream(
    data: FeedbackData | FeedbackStream,
    to: FeedbackKind,
    *,
    margin: float = 0.0,
    threshold: float | None = None,
    max_pairs_per_prompt: int | None = MAX_PAIRS_PER_PROMPT,
) -> Converted:
    """:func:`convert_feedback` as lazily made records (a stream is consumed as they are iterated).
    Option problems raise here; "no records" problems at the end of the iteration."""
    problems = _problems(data.kind, to, margin, threshold, max_pairs_per_prompt)
    if problems:
        raise UserInputError(problems)
    source = data.source
    records: Iterable[dict[str, Any]] = data.records if isinstance(data, FeedbackData) else data
    pairwise_format = "trl-standard"
    if to == data.kind:  # written as TRL's shape of the kind
        written = {"pairwise": pairwise_format, "binary": "trl-unpaired", "scalar": "scalar", "prompt": "prompt-only"}
        return Converted(data.kind, written[data.kind], source, iter(records))
    if to == "prompt":
        return Converted("prompt", "prompt-only", source, _prompts(records, source))
    conversion = f"{data.kind} -> {to}"
    if conversion == "binary -> pairwise":
        return Converted("pairwise", pairwise_format, source, _binary_to_pairwise(records, source, max_pairs_per_prompt))
    if conversion == "pairwise -> binary":
        return Converted("binary", "trl-unpaired", source, _pairwise_to_binary(records, source))
    if conversion == "scalar -> pairwise":
        return Converted("pairwise", pairwise_format, source, _scalar_to_pairwise(records, source, margin, max_pairs_per_prompt))
    return Converted("binary", "trl-unpaired", source, _scalar_to_binary(records, source, threshold))


def _problems(
    kind: FeedbackKind, to: FeedbackKind, margin: float, threshold: float | None, cap: int | None
) -> list[str]:
    conversion = f"{kind} -> {to}"
    problems: list[str] = []
    if to not in KINDS:
        problems.append(f"cannot convert to {to!r}: not a feedback kind (expected one of {', '.join(KINDS)})")
    elif to != kind and to != "prompt" and (kind, to) not in _PAIRS:
        problems.append(f"cannot convert {kind} feedback to {to}; supported: {SUPPORTED}")
    if not math.isfinite(margin) or margin < 0:
        problems.append(f"margin must be a number >= 0, but got margin={margin}")
    elif margin and conversion != "scalar -> pairwise":
        problems.append(f"margin applies to scalar -> pairwise only, but the conversion is {conversion}")
    if threshold is not None and not math.isfinite(threshold):
        problems.append(f"threshold must be a finite number, but got threshold={threshold}")
    elif threshold is not None and conversion != "scalar -> binary":
        problems.append(f"threshold applies to scalar -> binary only, but the conversion is {conversion}")
    if cap is not None and cap < 1:
        problems.append(f"max_pairs_per_prompt must be >= 1 or None, but got max_pairs_per_prompt={cap}")
    return problems


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _group(records: Iterable[dict[str, Any]], fields: tuple[str, str]) -> dict[str, tuple[Any, list[tuple[Any, Any]]]]:
    """``fields`` of the records by prompt, in first-seen order: key -> (prompt, [(field values)]).
    Each prompt is held once (its first copy), not once per record."""
    groups: dict[str, tuple[Any, list[tuple[Any, Any]]]] = {}
    first, second = fields
    for rec in records:
        prompt = rec["prompt"]
        key = prompt if isinstance(prompt, str) else _key(prompt)
        entry = groups.get(key)
        if entry is None:
            groups[key] = entry = (prompt, [])
        entry[1].append((rec[first], rec[second]))
    return groups


def _prompts(records: Iterable[dict[str, Any]], source: str) -> Iterator[dict[str, Any]]:
    seen: set[int] = set()
    for rec in records:
        key = hash(_key(rec["prompt"]))
        if key not in seen:
            seen.add(key)
            yield {"prompt": rec["prompt"]}
    if not seen:
        raise UserInputError(f"{source}: no records to convert")


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


def _binary_to_pairwise(records: Iterable[dict[str, Any]], source: str, cap: int | None) -> Iterator[dict[str, Any]]:
    made = 0
    only_good = only_bad = 0
    for prompt, recs in _group(records, ("completion", "label")).values():
        good = _distinct([c for c, label in recs if label])
        bad = _distinct([c for c, label in recs if not label])
        if not bad:
            only_good += 1
        elif not good:
            only_bad += 1
        here = 0
        for i, j in _diagonal(len(good), len(bad)):
            if cap is not None and here >= cap:
                break
            if good[i] == bad[j]:
                continue
            yield {"prompt": prompt, "chosen": good[i], "rejected": bad[j]}
            here += 1
        made += here
    if not made:
        raise UserInputError(
            f"{source}: no prompt has both a desirable and an undesirable completion, so no pairs can be "
            f"formed ({only_good + only_bad} prompts: {only_good} with only desirable, {only_bad} with only "
            "undesirable completions); train with KTO on the binary data instead"
        )


def _pairwise_to_binary(records: Iterable[dict[str, Any]], source: str) -> Iterator[dict[str, Any]]:
    seen: set[int] = set()
    pairs = 0
    for rec in records:
        pairs += 1
        if rec["chosen"] == rec["rejected"]:
            continue
        for completion, label in ((rec["chosen"], True), (rec["rejected"], False)):
            row = {"prompt": rec["prompt"], "completion": completion, "label": label}
            key = hash(_key(row))
            if key not in seen:
                seen.add(key)
                yield row
    if not seen:
        raise UserInputError(
            f"{source}: all {pairs} pairs have chosen == rejected, so no labelled completions can be formed"
        )


def _scalar_to_pairwise(
    records: Iterable[dict[str, Any]], source: str, margin: float, cap: int | None
) -> Iterator[dict[str, Any]]:
    made = 0
    groups = _group(records, ("completion", "score"))
    for prompt, recs in groups.values():
        candidates = []
        for a in range(len(recs)):
            for b in range(a + 1, len(recs)):
                gap = abs(recs[a][1] - recs[b][1])
                if gap > margin and recs[a][0] != recs[b][0]:
                    candidates.append((-gap, a, b))
        candidates.sort()
        for _, a, b in candidates[:cap]:
            high, low = (recs[a], recs[b]) if recs[a][1] > recs[b][1] else (recs[b], recs[a])
            made += 1
            yield {"prompt": prompt, "chosen": high[0], "rejected": low[0]}
    if not made:
        several = sum(1 for _, recs in groups.values() if len(recs) > 1)
        raise UserInputError(
            f"{source}: no two different completions of the same prompt have scores more than "
            f"margin={margin} apart ({len(groups)} prompts, {several} with two or more completions); "
            "a pair needs two scored completions of one prompt"
        )


def _scalar_to_binary(records: Iterable[dict[str, Any]], source: str, threshold: float | None) -> Iterator[dict[str, Any]]:
    if threshold is None:
        records = list(records)
        if not records:
            raise UserInputError(f"{source}: no records to convert")
        threshold = statistics.median(r["score"] for r in records)
    made = 0
    for r in records:
        made += 1
        yield {"prompt": r["prompt"], "completion": r["completion"], "label": r["score"] >= threshold}
    if not made:
        raise UserInputError(f"{source}: no records to convert")
