"""Load feedback: open a source, detect its shape, read every record through that shape's reader.

:func:`open_feedback` streams: it reads the first records to detect the format, then hands out TRL
records one input record at a time, so profiling or converting a file of millions of rows holds only
what its statistics need (readers that must see every record first, such as judged pairs spread over
rows, hold those). :func:`load_feedback` is the same, materialised as a :class:`FeedbackData`.

Every problem is reported at once, at the end of the read: invalid records make it raise
:class:`UserInputError` (at most :data:`MAX_PROBLEMS` lines) unless ``skip_invalid``; a consumer writing
output must therefore commit it only once the stream is exhausted (:func:`alignlab.data.write_records`
does). Every record read is accounted for (:class:`~alignlab.data.feedback.Accounting`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alignlab.data.feedback import KINDS, Accounting, FeedbackData, FeedbackKind, ReadReport
from alignlab.data.fields import describe
from alignlab.data.formats import DETECT_RECORDS, Format, detect
from alignlab.data.mapping import ColumnMapping, columns_problems
from alignlab.data.readers import RawRecord, Source
from alignlab.data.shape import Outcome, ReadOptions, Shape
from alignlab.data.sources import open_source
from alignlab.errors import UserInputError

#: At most this many problem lines in one error; the rest are counted.
MAX_PROBLEMS = 20
#: Skipped-record messages kept (the rest are counted in the accounting).
MAX_SKIPPED_MESSAGES = 1000
#: How often (in records) the progress callback is called.
PROGRESS_EVERY = 4096

Progress = Callable[[int, int | None, str], None]
"""``progress(done, total, unit)``: how far reading has got (bytes or rows; ``total`` may be None)."""


def load_feedback(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    kind: FeedbackKind | None = None,
    options: ReadOptions | None = None,
    **option_fields: Any,
) -> FeedbackData:
    """Load a feedback file or dataset folder, detect its format, validate and normalise every record.

    ``skip_invalid`` skips records that fail validation (listed in ``skipped``) instead of raising.
    ``kind`` restricts detection to formats that can be read as that kind, and fails if the file holds
    another kind. ``options`` (or its fields as keywords: ``columns``, ``split``, ``ranking``,
    ``attributes``) say how to read it. Raises :class:`UserInputError` listing every problem.
    """
    stream = open_feedback(path, skip_invalid=skip_invalid, kind=kind, options=options, **option_fields)
    return stream.materialise()


def open_feedback(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    kind: FeedbackKind | None = None,
    prefer: FeedbackKind | None = None,
    options: ReadOptions | None = None,
    progress: Progress | None = None,
    **option_fields: Any,
) -> FeedbackStream:
    """:func:`load_feedback` as a stream read once (see the module docstring). ``prefer`` reads the
    file as that kind when its format offers it (OpenAssistant votes as binary labels), else as its
    default kind. Detection problems raise here; record problems at the end of the iteration."""
    if kind is not None and kind not in KINDS:
        raise UserInputError(
            f"kind={kind!r} is not a feedback kind; expected one of pairwise, binary, scalar, prompt"
        )
    if options is None:
        options = ReadOptions(**option_fields)
    elif option_fields:
        raise TypeError("give options or its fields, not both")
    problems = options.problems() + columns_problems(options.columns or {})
    if problems:
        raise UserInputError(problems)
    source = open_source(path, split=options.split)
    return FeedbackStream(
        source, os.fspath(path), options, skip_invalid=skip_invalid, kind=kind, prefer=prefer, progress=progress
    )


class FeedbackStream:
    """Normalised feedback records read from a source, once, in file order (see :func:`open_feedback`).

    ``kind``, ``source`` and the detected ``format`` are known on opening; ``format`` is final, and
    ``skipped``, ``accounting`` and ``report`` complete, once the iteration has ended."""

    def __init__(
        self,
        source: Source,
        name: str,
        options: ReadOptions,
        *,
        skip_invalid: bool,
        kind: FeedbackKind | None,
        prefer: FeedbackKind | None,
        progress: Progress | None,
    ) -> None:
        self.source = name
        self.skipped: list[str] = []
        self.accounting = Accounting()
        self.report = ReadReport()
        self._raw = source
        self._options = options
        self._skip_invalid = skip_invalid
        self._progress = progress
        self._problems: list[str] = []
        self._problem_count = 0
        self._unused: Counter[str] = Counter()
        self._tags: Counter[str] = Counter()
        self._style: bool | None = None
        self._started = False
        self._records = iter(source)
        self._mapping = ColumnMapping(options.columns) if options.columns else None
        self._buffer = self._fill_buffer()
        good = [r.value for r in self._buffer if r.error is None and isinstance(r.value, dict)]
        if not good:  # nothing readable at all: report every record's problem
            list(self._feed(iter(self._buffer), None))
            self._finish()
            raise AssertionError("unreachable: _finish raises when there are no records")  # pragma: no cover
        fmt, read_kind = detect(good, name, options, kind)
        if prefer is not None and prefer in fmt.kinds and fmt.kind_of is None:
            read_kind = prefer
        self.format_spec: Format = fmt
        self.kind: FeedbackKind = read_kind
        try:
            self._shape: Shape = fmt.make(read_kind, options, good)
        except UserInputError as exc:
            raise UserInputError([f"{name}: {p}" for p in exc.problems]) from None
        if kind is not None and self._shape.kind != kind:
            raise UserInputError(
                f"{name}: expected {kind} feedback, but the records look like {self._shape.kind} feedback "
                f"(format {fmt.name}); convert them first (alignlab data convert --to {kind})"
            )
        self.kind = self._shape.kind
        self.format = fmt.name

    # ------------------------------------------------------------------ reading

    def _fill_buffer(self) -> list[RawRecord]:
        """The first records, mapped: enough to detect the format (and to check the mapping)."""
        buffer: list[RawRecord] = []
        good = 0
        seen: dict[str, Any] = {}
        for raw in self._records:
            if self._mapping is not None and raw.error is None and isinstance(raw.value, dict):
                seen.update(dict.fromkeys(raw.value))
            raw = self._map(raw)
            buffer.append(raw)
            if raw.error is None and isinstance(raw.value, dict):
                good += 1
            if good >= DETECT_RECORDS or len(buffer) >= 100 * DETECT_RECORDS:
                break
        if self._mapping is not None:
            problems = self._mapping.problems(self.source, seen)
            if problems:
                raise UserInputError(problems)
        return buffer

    def _map(self, raw: RawRecord) -> RawRecord:
        """The record with the column mapping applied (an invalid record when it cannot be)."""
        if self._mapping is None or raw.error is not None or not isinstance(raw.value, dict):
            return raw
        problems: list[str] = []
        mapped = self._mapping.apply(raw.value, problems)
        return RawRecord(raw.where, None, "; ".join(problems)) if problems else RawRecord(raw.where, mapped)

    def _mapped(self) -> Iterator[RawRecord]:
        for raw in self._records:
            yield self._map(raw)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._started:
            raise RuntimeError("a FeedbackStream is read once; open the file again to read it again")
        self._started = True
        held = list(self._feed(iter(self._buffer), self._shape))
        self._buffer = []
        styles = Counter(isinstance(o.records[0].get("prompt"), list) for _, o in held if o.records)
        if styles:
            self._style = styles.most_common(1)[0][0]
        for where, outcome in held:
            yield from self._accept(where, outcome)
        del held
        for where, outcome in self._feed(self._mapped(), self._shape):
            yield from self._accept(where, outcome)
        for outcome in self._shape.finish():
            yield from self._accept(self.source, outcome)
        self._finish()

    def _feed(self, raws: Iterator[RawRecord], shape: Shape | None) -> Iterator[tuple[str, Outcome]]:
        """(where, outcome) of every valid record read; invalid ones are reported and counted."""
        for raw in raws:
            self.accounting.read += 1
            if self._progress is not None and self.accounting.read % PROGRESS_EVERY == 0:
                self._progress(self._raw.position(), self._raw.total, self._raw.unit)
            if raw.error is not None:
                self._bad(raw.where, [raw.error])
                continue
            if not isinstance(raw.value, dict):
                self._bad(raw.where, [f"expected a JSON object with named fields, got {describe(raw.value)}"])
                continue
            if shape is None:
                continue
            problems: list[str] = []
            outcome = shape.feed(raw.value, problems)
            if outcome is None or problems:
                self._bad(raw.where, problems or ["invalid record"])
                continue
            self._unused.update(shape.unused_fields(raw.value))
            yield raw.where, outcome

    def _accept(self, where: str, outcome: Outcome) -> list[dict[str, Any]]:
        """The outcome's records, counted; none (and a problem) when their style is not the file's:
        TRL cannot batch strings with message lists."""
        if outcome.records:
            style = isinstance(outcome.records[0].get("prompt"), list)
            if self._style is None:
                self._style = style
            if style != self._style:
                want, got = ("message lists", "a string") if self._style else ("strings", "a message list")
                self._bad(
                    where,
                    [f"field 'prompt' is {got} but most records use {want} (expected one style per file)"],
                    n=outcome.inputs,
                )
                return []
            self.accounting.used += outcome.inputs
            self.accounting.made += len(outcome.records)
            self._tags[outcome.tag] += len(outcome.records)
        elif outcome.skip is not None:
            self.accounting.skip(outcome.skip, outcome.inputs)
        return outcome.records

    def _bad(self, where: str, problems: list[str], *, n: int = 1) -> None:
        self.accounting.skip("invalid", n)
        lines = [f"{where}: {p}" for p in problems]
        self._problem_count += len(lines)
        room = MAX_PROBLEMS - len(self._problems)
        self._problems.extend(lines[: max(room, 0)])
        if len(self.skipped) < MAX_SKIPPED_MESSAGES:
            self.skipped.append(f"{where}: {'; '.join(problems)}")

    def _finish(self) -> None:
        invalid = self.accounting.skipped.get("invalid", 0)
        made = self.accounting.made
        if invalid and (not self._skip_invalid or not made):
            lines = list(self._problems)
            more = self._problem_count - len(lines)
            if self._skip_invalid:
                lines.insert(0, f"{self.source}: no valid records ({invalid} invalid, all skipped)")
                if len(lines) > MAX_PROBLEMS:
                    more += len(lines) - MAX_PROBLEMS
                    lines = lines[:MAX_PROBLEMS]
            if more > 0:
                lines.append(f"... and {more} more problems")
            raise UserInputError(lines)
        if not made:
            reasons = ", ".join(f"{reason} {n:,}" for reason, n in self.accounting.skipped.items())
            raise UserInputError(
                f"{self.source}: no {self.kind} records could be made from the {self.accounting.read:,} "
                f"records read ({reasons or 'none usable'})"
            )
        if self._tags:
            self.format = self._tags.most_common(1)[0][0]
        report = self._shape.report()
        report.unused_fields = dict(self._unused.most_common())
        if self._unused:
            shown = ", ".join(f"'{k}' ({n:,})" for k, n in self._unused.most_common(8))
            more_fields = len(self._unused) - 8
            report.unused.append(
                f"fields not read: {shown}" + (f" and {more_fields} more" if more_fields > 0 else "")
            )
        self.report = report

    def materialise(self) -> FeedbackData:
        """Read the whole stream into a :class:`FeedbackData`."""
        records = list(self)
        return FeedbackData(
            kind=self.kind,
            format=self.format,
            records=records,
            source=self.source,
            skipped=self.skipped,
            accounting=self.accounting,
            report=self.report,
        )

