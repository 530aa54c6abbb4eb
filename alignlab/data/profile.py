"""Profile a feedback data set: size, balance, lengths and the defects that waste a training run."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alignlab.data.convert import convert_feedback
from alignlab.data.feedback import TEXT_FIELDS, FeedbackData, FeedbackKind, to_text
from alignlab.errors import UserInputError

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
    """Valid records."""
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
    """Plain-language findings worth acting on (duplicates, identical pairs, label balance)."""

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-safe nested dicts."""
        return asdict(self)


def profile_feedback(data: FeedbackData, *, tokenizer: Any | None = None) -> DataProfile:
    """Profile ``data``. Lengths are in ``tokenizer``'s tokens when given (anything callable like a
    Hugging Face tokenizer, or with ``encode``), else estimated as characters / 4."""
    records = data.records
    fields = TEXT_FIELDS[data.kind]
    texts = {name: [to_text(rec[name]) for rec in records] for name in fields}
    if tokenizer is None:
        counts = {
            name: [math.ceil(len(t) / CHARS_PER_TOKEN) for t in values] for name, values in texts.items()
        }
        unit = f"tokens (estimated: characters / {CHARS_PER_TOKEN})"
    else:
        counts = {name: count_tokens(tokenizer, values) for name, values in texts.items()}
        name = getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
        unit = f"tokens ({name})" + (
            "; messages flattened as 'role: content' lines" if data.conversational else ""
        )
    if len(fields) > 1:
        completions = [counts[name] for name in fields[1:]]
        counts["total"] = [p + max(c) for p, *c in zip(counts["prompt"], *completions, strict=True)]

    prompts = Counter(texts["prompt"])
    duplicates = len(records) - len({json.dumps(rec, sort_keys=True, ensure_ascii=False) for rec in records})
    empty = {name: sum(1 for rec in records if _is_empty(rec[name])) for name in fields}
    notes: list[str] = []
    extra: dict[str, Any] = {}

    if data.kind == "pairwise":
        identical = sum(1 for rec in records if rec["chosen"] == rec["rejected"])
        extra["identical_pairs"] = identical
        extra["pairs_per_prompt"] = PairsPerPrompt(
            mean=round(len(records) / len(prompts), 3) if prompts else 0.0,
            max=max(prompts.values(), default=0),
        )
        if identical:
            notes.append(f"{identical} pairs have chosen == rejected: they carry no preference signal")
    elif data.kind == "binary":
        desirable = sum(1 for rec in records if rec["label"])
        undesirable = len(records) - desirable
        extra.update(
            desirable=desirable,
            undesirable=undesirable,
            desirable_fraction=round(desirable / len(records), 4) if records else 0.0,
        )
        notes.extend(_kto_balance(desirable, undesirable))
    elif data.kind == "scalar":
        scores = [rec["score"] for rec in records]
        if scores:
            extra["score"] = ScoreStats(
                min=min(scores),
                median=statistics.median(scores),
                mean=statistics.fmean(scores),
                max=max(scores),
            )
    if duplicates:
        notes.append(f"{duplicates} rows repeat an earlier row exactly")
    for name, n in empty.items():
        if n:
            notes.append(f"{n} rows have an empty '{name}'")
    if data.skipped:
        notes.append(f"{len(data.skipped)} invalid records were skipped")

    return DataProfile(
        source=data.source,
        kind=data.kind,
        format=data.format,
        rows=len(records),
        skipped_rows=len(data.skipped),
        unique_prompts=len(prompts),
        pairs=count_pairs(data),
        length_unit=unit,
        lengths={name: _percentiles(values) for name, values in counts.items()},
        duplicates=duplicates,
        empty_fields=empty,
        notes=notes,
        **extra,
    )


def count_pairs(data: FeedbackData) -> int:
    """Pairs ``data`` yields as pairwise feedback (see :attr:`DataProfile.pairs`)."""
    if data.kind == "pairwise":
        return len(data.records)
    if data.kind not in ("binary", "scalar") or not data.records:
        return 0
    try:
        return len(convert_feedback(data, "pairwise").records)
    except UserInputError:  # the conversion's only failure with default options: no pair can be formed
        return 0


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Token counts of ``texts`` without special tokens: one batched call where the tokenizer is
    callable (Hugging Face), else ``encode`` per text (``tokenizers.Tokenizer``, tiktoken...)."""
    if not texts:
        return []
    if callable(tokenizer):
        try:
            output = tokenizer(list(texts), add_special_tokens=False)
        except TypeError:
            output = tokenizer(list(texts))
        ids = output["input_ids"] if _has_key(output, "input_ids") else output
        return [len(x) for x in ids]
    if hasattr(tokenizer, "encode"):
        counts = []
        for text in texts:
            encoded = tokenizer.encode(text)
            counts.append(len(encoded.ids) if hasattr(encoded, "ids") else len(encoded))
        return counts
    raise TypeError(f"tokenizer must be callable or have encode(), got {type(tokenizer).__name__}")


def load_tokenizer(path: str | Path) -> Any:
    """Load a Hugging Face tokenizer from a local folder (no hub access)."""
    folder = Path(path)
    if not folder.is_dir():
        raise UserInputError(
            f"{path}: no such tokenizer folder (expected a local folder saved with save_pretrained)"
        )
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{path}: cannot load a tokenizer from this folder ({first})") from None


def _has_key(output: Any, key: str) -> bool:
    try:
        return key in output
    except TypeError:
        return False


def _is_empty(value: str | list[dict[str, Any]]) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return all(not str(m.get("content", "")).strip() for m in value)


def _percentiles(values: list[int]) -> LengthStats:
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
