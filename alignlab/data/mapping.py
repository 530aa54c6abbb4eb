"""The column mapping: read a file whose fields have other names or sit deeper, in the spirit of
LLaMA-Factory's ``dataset_info.json`` ``columns``.

A mapping names, for each TRL field (a *target*), where the file holds it: on the command line
``--columns prompt=instruction,chosen=output_good,rejected=output_bad``, in a sweep or run file
``data: {path: ..., columns: {prompt: instruction, chosen: output_good, rejected: output_bad}}``. Each
source is a field path (:mod:`alignlab.data.paths`: ``info.post``, ``items[0].text``,
``summaries[choice].text``, ``summaries[1-choice].text``, ``"a.b"``); a ``winner`` source states what
its numbers mean after a colon (:mod:`alignlab.data.winners`: ``winner=w:index``); ``score_a`` and
``score_b`` name two responses' scores, the higher one winning (equal: a tie). Every record is mapped
before detection, so a mapped file is then read like any accepted shape; the top-level fields a
mapping reads are dropped, and a field already named like a mapped target is replaced by the mapped one.

When no shape fits, :mod:`alignlab.data.suggest` guesses the mapping for the error message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from alignlab.data.fields import describe
from alignlab.data.judgments import parse_vote
from alignlab.data.paths import FieldPath, PathError, parse_path
from alignlab.data.winners import MEANINGS, READS, Meaning, Value, number_like, problem, split_meaning, vote
from alignlab.errors import UserInputError

#: The fields a mapping may fill, and what each holds.
TARGETS: dict[str, str] = {
    "prompt": "the prompt: a string or a list of messages",
    "chosen": "the preferred completion",
    "rejected": "the dispreferred completion",
    "completion": "a completion with a label or a score",
    "label": "true (desirable) or false (undesirable)",
    "score": "a number",
    "messages": "a conversation: a list of {role, content} messages",
    "system": "a system prompt (with messages or alpaca-style records)",
    "response_a": "the first of two judged responses",
    "response_b": "the second of two judged responses",
    "winner": "which of response_a and response_b won: a, b or tie; numbers need their meaning (winner=w:index)",
    "score_a": "the score of response_a (with score_b: the higher score wins, equal scores are a tie)",
    "score_b": "the score of response_b",
}

_VOTES = {"a": "response_a", "b": "response_b", "tie": "tie"}


@dataclass(frozen=True)
class Column:
    """One parsed entry of a mapping: ``target=path`` (``:meaning`` for a winner)."""

    target: str
    path: FieldPath
    meaning: Meaning | None = None


def parse_columns(text: str, *, option: str = "--columns") -> dict[str, str]:
    """``"prompt=instruction,chosen=good"`` as a mapping; every malformed item at once."""
    problems: list[str] = []
    columns: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        target, sep, source = (s.strip() for s in item.partition("="))
        if not sep or not target or not source:
            problems.append(f"{option}: {item!r} is not TARGET=FIELD (expected e.g. prompt=instruction)")
            continue
        if target in columns:
            problems.append(f"{option}: '{target}' is mapped twice")
            continue
        columns[target] = source
    if not columns and not problems:
        problems.append(f"{option}: expected TARGET=FIELD pairs, e.g. prompt=instruction,chosen=good,rejected=bad")
    problems.extend(columns_problems(columns, option=option))
    if problems:
        raise UserInputError(problems)
    return columns


def parse_column(target: str, source: str) -> Column:
    """One entry parsed; raises :class:`ValueError` (a :class:`PathError`) saying what is wrong."""
    meaning: str | None = None
    if target == "winner":
        source, meaning = split_meaning(source)
        if meaning is not None and meaning not in MEANINGS:
            raise ValueError(
                f"'{meaning}' is no meaning of a winner's values (expected one of {', '.join(MEANINGS)}: "
                + "; ".join(f"{m}: {READS[m]}" for m in MEANINGS)
                + "; quote a field name holding a colon)"
            )
    return Column(target, parse_path(source), cast("Meaning | None", meaning))


def columns_problems(columns: dict[str, Any], *, option: str = "columns") -> list[str]:
    """What is wrong with a mapping before any file is read."""
    out = []
    texts: list[str] = []
    for target, source in columns.items():
        if target not in TARGETS:
            out.append(f"{option}: '{target}' is not a field alignlab reads (expected one of {', '.join(TARGETS)})")
        if not isinstance(source, str) or not source.strip():
            out.append(f"{option}: {target}: expected the name of a field of the file, but got {source!r}")
            continue
        try:
            texts.append(parse_column(target, source).path.text)
        except PathError as exc:
            out.append(
                f"{option}: {target}={source}: {exc} (expected a field path such as info.post, items[0].text or "
                "summaries[choice].text; docs/data-formats.md)"
            )
        except ValueError as exc:
            out.append(f"{option}: {target}={source}: {exc}")
    for text in sorted({s for s in texts if texts.count(s) > 1}):
        out.append(f"{option}: the field '{text}' is mapped to several targets")
    if ("score_a" in columns) != ("score_b" in columns):
        given, other = ("score_a", "score_b") if "score_a" in columns else ("score_b", "score_a")
        out.append(f"{option}: '{given}' is mapped without '{other}' (expected both: the two responses' scores)")
    if "winner" in columns and ("score_a" in columns or "score_b" in columns):
        out.append(
            f"{option}: 'winner' and 'score_a'/'score_b' both say which response won (expected one of them)"
        )
    return out


class ColumnMapping:
    """A checked mapping, compiled once, applied to every record (:meth:`apply`). It remembers which
    targets no record had and the winner values its meaning does not read, for :meth:`problems`."""

    def __init__(self, columns: dict[str, str]) -> None:
        self.columns = [parse_column(t, s) for t, s in columns.items()]
        self.targets = {c.target for c in self.columns}
        self.reads: set[str] = set().union(*(c.path.fields() for c in self.columns))
        self._found: set[str] = set()
        self._why: dict[str, str] = {}
        self._values: dict[Value, Any] = {}  # the winner's distinct values (but tie words), at most 64
        self._off = False

    def apply(self, rec: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        """``rec`` with each mapped value under its target (a problem line per value it cannot read)."""
        out = {k: v for k, v in rec.items() if k not in self.reads and k not in self.targets}
        for column in self.columns:
            value, why = column.path.resolve(rec)
            if why is not None:
                self._why.setdefault(column.target, why)
                problems.append(f"field '{column.path.text}' {why} (mapped to '{column.target}' by the column mapping)")
                continue
            self._found.add(column.target)
            if column.meaning is not None:
                value = self._winner(column, value, problems)
            out[column.target] = value
        return out

    def _winner(self, column: Column, value: Any, problems: list[str]) -> Any:
        """A winner value read by its stated meaning: ``response_a``, ``response_b`` or the tie word."""
        assert column.meaning is not None
        if value is None:
            return None
        number = number_like(value)
        if number is None and isinstance(value, str) and parse_vote(value) in ("tie", "bothbad"):
            return value
        key: Value = number or ("text", value if isinstance(value, str) else describe(value))
        if len(self._values) < 64:
            self._values.setdefault(key, value)
        decided = None if number is None else vote(number, column.meaning)
        if decided is not None:
            return _VOTES[decided]
        self._off = True
        problems.append(
            f"field '{column.path.text}' is {describe(value)} (expected {READS[column.meaning]}, as "
            f"winner={column.path.text}:{column.meaning} says, or a tie word such as 'tie')"
        )
        return value

    def problems(self, source: str, seen: dict[str, Any]) -> list[str]:
        """After the first records: mapped fields none of them had, and a winner column whose values its
        stated meaning does not read (one line each)."""
        found = ", ".join(repr(k) for k in list(seen)[:16]) + (", ..." if len(seen) > 16 else "")
        out = []
        for column in self.columns:
            if column.target in self._found:
                continue
            text = column.path.text
            why = self._why.get(column.target, "is missing")
            if why == "is missing":
                hint = ""
                if not column.path.is_plain and text in seen:
                    hint = f"; the field named '{text}' is written quoted: {column.target}=\"{text}\""
                out.append(
                    f"{source}: column mapping {column.target}={text}: no record has a field '{text}' "
                    f"(fields found: {found}){hint}"
                )
            else:
                out.append(f"{source}: column mapping {column.target}={text}: in no record can it be read: field '{text}' {why}")
        winner = next((c for c in self.columns if c.meaning is not None), None)
        if winner is not None and self._off:
            text = winner.path.text
            line = problem(text, self._values, winner.meaning, lambda m: f"winner={text}:{m}")
            if line is not None:
                out.append(f"{source}: {line}")
        return out
