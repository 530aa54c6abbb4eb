"""Profile a feedback data set: size, balance, lengths, what became of every record, and the defects
that waste a training run.

The profile is computed in one pass over the records (a :class:`~alignlab.data.loading.FeedbackStream`
or a loaded :class:`~alignlab.data.feedback.FeedbackData`), keeping per record only a few numbers:
lengths, and hashes of prompts and rows for the distinct-prompt, duplicate and pair counts.
"""

from __future__ import annotations

import math
import statistics
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any

from alignlab.data.convert import MAX_PAIRS_PER_PROMPT
from alignlab.data.feedback import TEXT_FIELDS, Accounting, FeedbackData, FeedbackKind, to_text
from alignlab.data.tokens import count_tokens, load_tokenizer

if TYPE_CHECKING:
    from alignlab.data.loading import FeedbackStream

__all__ = ["DataProfile", "LengthStats", "PairsPerPrompt", "ScoreStats", "count_pairs", "count_tokens",
           "load_tokenizer", "profile_feedback"]

#: Characters per token assumed when no tokenizer is given (a common rule of thumb for English BPE).
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class LengthStats:
    """Length percentiles of one field over all rows (nearest-rank), in the profile's ``length_unit``."""

    p50: int
    """Median length."""
    p90: int
    """90th percentile."""
    p99: int
    """99th percentile."""
    max: int
    """Longest."""


@dataclass(frozen=True)
class PairsPerPrompt:
    """How many pairs share one prompt."""

    mean: float
    """Rows divided by unique prompts."""
    max: int
    """The most pairs any one prompt has."""


@dataclass(frozen=True)
class ScoreStats:
    """Summary of the scalar scores."""

    min: float
    """Lowest score."""
    median: float
    """Median score (the default threshold of a scalar -> binary conversion)."""
    mean: float
    """Mean score."""
    max: float
    """Highest score."""


@dataclass(frozen=True)
class DataProfile:
    """What :func:`profile_feedback` measured. Fields that do not apply to the kind are ``None``."""

    source: str
    """Where the data came from."""
    kind: FeedbackKind
    """The kind of feedback."""
    format: str
    """The detected source format."""
    rows: int
    """Records of the data (pairs, labels, scores or prompts): what a trainer gets."""
    skipped_rows: int
    """Invalid records skipped while loading (``skip_invalid``)."""
    unique_prompts: int
    """Distinct prompts."""
    pairs: int
    """Pairs the data yields as pairwise feedback: its rows when pairwise; for binary and scalar data, the
    pairs ``alignlab data convert --to pairwise`` forms with its defaults (0 when none can be formed);
    0 for prompts."""
    length_unit: str
    """The unit of ``lengths``: tokens of the given tokenizer, or an estimate from characters."""
    lengths: dict[str, LengthStats]
    """Length percentiles per text field (``prompt``, then ``chosen``/``rejected`` or ``completion``),
    and ``total``: the prompt plus its (longest) completion, what a trainer's ``max_length`` must hold."""
    duplicates: int
    """Rows identical to an earlier row."""
    empty_fields: dict[str, int]
    """Per text field, rows where it is empty or whitespace (every message's content, for messages)."""
    pairs_per_prompt: PairsPerPrompt | None = None
    """Pairwise only: pairs per prompt."""
    identical_pairs: int | None = None
    """Pairwise only: pairs whose chosen equals rejected (no preference signal)."""
    desirable: int | None = None
    """Binary only: rows labelled true."""
    undesirable: int | None = None
    """Binary only: rows labelled false."""
    desirable_fraction: float | None = None
    """Binary only: desirable / rows."""
    score: ScoreStats | None = None
    """Scalar only: score summary."""
    notes: list[str] = field(default_factory=list)
    """Plain-language findings worth acting on (duplicates, identical pairs, label balance, ties)."""
    records: dict[str, Any] = field(default_factory=dict)
    """What became of every record read: ``read``, ``used`` (became data), ``made`` (records of the data,
    equal to ``rows``), ``skipped`` (by reason: ``invalid``, ``tie``, ...); read = used + skipped."""
    made: list[str] = field(default_factory=list)
    """How the records were made from the source (pairs from rankings, majority votes, margins)."""
    unused: list[str] = field(default_factory=list)
    """Information the source holds that alignlab does not use (extra ranks, per-rater votes, fields)."""
    unused_fields: dict[str, int] = field(default_factory=dict)
    """Source fields that were not read, with how many records hold each."""
    raters: dict[str, Any] | None = None
    """Multi-rater sources: judged pairs, votes, votes per pair, pairs with several votes, tie votes,
    ties (pairs without a majority: never pairs), agreement (for pairs with 2+ votes, the mean fraction
    of rater pairs that voted the same)."""
    ranking: dict[str, Any] | None = None
    """Ranked sources: the policy, rankings, pairs made, ranked answers, tied answer pairs."""

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-safe nested dicts."""
        return asdict(self)


def profile_feedback(data: FeedbackData | FeedbackStream, *, tokenizer: Any | None = None) -> DataProfile:
    """Profile ``data`` in one pass (a stream is consumed). Lengths are in ``tokenizer``'s tokens when
    given (anything callable like a Hugging Face tokenizer, or with ``encode``), else estimated as
    characters / 4."""
    stats = _Stats(data.kind, tokenizer)
    records: Iterable[dict[str, Any]] = data.records if isinstance(data, FeedbackData) else data
    for rec in records:
        stats.add(rec)
    stats.flush()
    accounting = data.accounting or Accounting(
        read=stats.rows + len(data.skipped),
        used=stats.rows,
        made=stats.rows,
        skipped={"invalid": len(data.skipped)} if data.skipped else {},
    )
    report = data.report
    invalid = accounting.skipped.get("invalid", 0) if data.accounting else len(data.skipped)
    notes: list[str] = []
    extra: dict[str, Any] = {}
    rows = stats.rows
    if data.kind == "pairwise":
        extra["identical_pairs"] = stats.identical
        extra["pairs_per_prompt"] = PairsPerPrompt(
            mean=round(rows / len(stats.prompts), 3) if stats.prompts else 0.0,
            max=max(stats.prompts.values(), default=0),
        )
        if stats.identical:
            notes.append(f"{stats.identical} pairs have chosen == rejected: they carry no preference signal")
    elif data.kind == "binary":
        extra.update(
            desirable=stats.desirable,
            undesirable=rows - stats.desirable,
            desirable_fraction=round(stats.desirable / rows, 4) if rows else 0.0,
        )
        notes.extend(_kto_balance(stats.desirable, rows - stats.desirable))
    elif data.kind == "scalar" and stats.scores:
        extra["score"] = ScoreStats(
            min=min(stats.scores),
            median=statistics.median(stats.scores),
            mean=statistics.fmean(stats.scores),
            max=max(stats.scores),
        )
    duplicates = rows - len(stats.rows_seen)
    if duplicates:
        notes.append(f"{duplicates} rows repeat an earlier row exactly")
    for name, n in stats.empty.items():
        if n:
            notes.append(f"{n} rows have an empty '{name}'")
    if invalid:
        notes.append(f"{invalid} invalid records were skipped")
    for reason, n in accounting.skipped.items():
        if reason != "invalid":
            notes.append(f"{n:,} record{'s' if n != 1 else ''} not used: {reason}")
    if report is not None:
        notes.extend(report.notes)
    unit = (
        f"tokens (estimated: characters / {CHARS_PER_TOKEN})"
        if tokenizer is None
        else f"tokens ({getattr(tokenizer, 'name_or_path', None) or type(tokenizer).__name__})"
        + ("; messages flattened as 'role: content' lines" if stats.conversational else "")
    )
    return DataProfile(
        source=data.source,
        kind=data.kind,
        format=data.format,
        rows=rows,
        skipped_rows=invalid,
        unique_prompts=len(stats.prompts),
        pairs=stats.pairs(),
        length_unit=unit,
        lengths={name: _percentiles(values) for name, values in stats.lengths.items()},
        duplicates=duplicates,
        empty_fields=dict(stats.empty),
        notes=notes,
        records={"read": accounting.read, "used": accounting.used, "made": accounting.made,
                 "skipped": dict(accounting.skipped)},
        made=list(report.made) if report else [],
        unused=list(report.unused) if report else [],
        unused_fields=dict(report.unused_fields) if report else {},
        raters=report.raters if report else None,
        ranking=report.ranking if report else None,
        **extra,
    )


def count_pairs(data: FeedbackData) -> int:
    """Pairs ``data`` yields as pairwise feedback (see :attr:`DataProfile.pairs`)."""
    stats = _Stats(data.kind, None)
    for rec in data.records:
        stats.add(rec)
    return stats.pairs()


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


class _Stats:
    """What the profile keeps per record: lengths (arrays of ints) and hashes (sets and dicts of ints)."""

    _BATCH = 256

    def __init__(self, kind: FeedbackKind, tokenizer: Any | None) -> None:
        self.kind = kind
        self.fields = TEXT_FIELDS[kind]
        self.tokenizer = tokenizer
        self.rows = 0
        self.conversational = False
        self.prompts: dict[int, int] = {}
        self.rows_seen: set[int] = set()
        self.empty = {name: 0 for name in self.fields}
        self.lengths: dict[str, array[int]] = {name: array("l") for name in self.fields}
        if len(self.fields) > 1:
            self.lengths["total"] = array("l")
        self.identical = 0
        self.desirable = 0
        self.scores: array[float] = array("d")
        # binary and scalar: per record, its prompt's hash and its completion's (binary: label in bit 0)
        self.pair_prompts: array[int] = array("q")
        self.pair_items: array[int] = array("q")
        self._texts: list[list[str]] = []

    def add(self, rec: dict[str, Any]) -> None:
        self.rows += 1
        texts = [to_text(rec[name]) for name in self.fields]
        if self.rows == 1:
            self.conversational = isinstance(rec.get("prompt"), list)
        prompt = hash(texts[0])
        self.prompts[prompt] = self.prompts.get(prompt, 0) + 1
        self.rows_seen.add(hash(_freeze(rec)))
        for name, text in zip(self.fields, texts, strict=True):
            if not text.strip() if isinstance(rec[name], str) else _empty_messages(rec[name]):
                self.empty[name] += 1
        if self.tokenizer is None:
            self._lengths([math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts])
        else:
            self._texts.append(texts)
            if len(self._texts) >= self._BATCH:
                self.flush()
        if self.kind == "pairwise":
            self.identical += rec["chosen"] == rec["rejected"]
        elif self.kind in ("binary", "scalar"):
            self.pair_prompts.append(hash(_freeze(rec["prompt"])))
            completion = hash(_freeze(rec["completion"]))
            if self.kind == "binary":
                self.desirable += bool(rec["label"])
                self.pair_items.append((completion & ~1) | bool(rec["label"]))
            else:
                self.scores.append(rec["score"])
                self.pair_items.append(completion)

    def _lengths(self, counts: list[int]) -> None:
        for name, n in zip(self.fields, counts, strict=True):
            self.lengths[name].append(n)
        if len(self.fields) > 1:
            self.lengths["total"].append(counts[0] + max(counts[1:]))

    def flush(self) -> None:
        if not self._texts:
            return
        columns = [count_tokens(self.tokenizer, [t[i] for t in self._texts]) for i in range(len(self.fields))]
        for counts in zip(*columns, strict=True):
            self._lengths(list(counts))
        self._texts = []

    def pairs(self) -> int:
        """Pairs as ``alignlab data convert --to pairwise`` forms them with its defaults."""
        if self.kind == "pairwise":
            return self.rows
        if self.kind not in ("binary", "scalar"):
            return 0
        cap = MAX_PAIRS_PER_PROMPT
        total = 0
        prompts, items, scores = self.pair_prompts, self.pair_items, self.scores
        order = sorted(range(len(prompts)), key=prompts.__getitem__)  # stable: file order within a prompt
        for _, group in groupby(order, key=prompts.__getitem__):
            rows = list(group)
            if self.kind == "binary":
                good = {items[i] >> 1 for i in rows if items[i] & 1}
                bad = {items[i] >> 1 for i in rows if not items[i] & 1}
                total += min(cap, len(good) * len(bad) - len(good & bad))
                continue
            n = 0
            for x, a in enumerate(rows):
                for b in rows[x + 1 :]:
                    if scores[a] != scores[b] and items[a] != items[b]:
                        n += 1
            total += min(cap, n)
        return total


def _empty_messages(value: Any) -> bool:
    return all(not str(m.get("content", "")).strip() for m in value)


def _percentiles(values: Sequence[int]) -> LengthStats:
    if not values:
        return LengthStats(0, 0, 0, 0)
    ordered = sorted(values)

    def rank(q: float) -> int:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return LengthStats(p50=rank(0.5), p90=rank(0.9), p99=rank(0.99), max=ordered[-1])


def _kto_balance(desirable: int, undesirable: int) -> list[str]:
    """The KTO paper keeps (desirable_weight * n_D) / (undesirable_weight * n_U) within [1, 4/3]."""
    if not desirable or not undesirable:
        missing = "undesirable" if desirable else "desirable"
        return [f"no {missing} examples: KTO needs both labels"]
    ratio = desirable / undesirable
    if 1.0 <= ratio <= 4 / 3:
        return []
    low, high = desirable / (4 / 3 * undesirable), ratio
    return [
        f"desirable:undesirable is {ratio:.2f}:1; the KTO paper keeps (desirable_weight * n_D) / "
        f"(undesirable_weight * n_U) in [1, 4/3]: with desirable_weight=1, use undesirable_weight "
        f"in [{low:.2f}, {high:.2f}]"
    ]
