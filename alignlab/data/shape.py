"""What every source shape's reader gives the loader: the options it reads with, and its outcomes.

A *shape* reads the records of one accepted source format (see :mod:`alignlab.data.formats`). The
loader feeds it one record at a time; it answers with an :class:`Outcome`: the TRL-shaped records the
input record became (none, one, or many: a ranking gives several pairs), or why it gave none. Shapes
that need every record first (a judged pair spread over several rows, an OpenAssistant message table)
hold them and answer from :meth:`Shape.finish`. What a shape reads but does not use, and the figures
only it knows (ties, rater agreement, pairs per ranking), it reports through :meth:`Shape.report`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

from alignlab.data.feedback import FeedbackKind, ReadReport

RankingPolicy = Literal["all", "best-vs-rest", "adjacent"]
"""How a ranking of K answers becomes pairs (:func:`alignlab.data.ranked.pairs_from_levels`):
``all``: every answer against every lower-ranked one, K(K-1)/2 pairs, as InstructGPT did
(Ouyang et al. 2022); ``best-vs-rest``: the best against each other answer, K-1 pairs;
``adjacent``: each answer against the next one down, K-1 pairs. Tied answers are never paired."""

RANKING_POLICIES: tuple[RankingPolicy, ...] = get_args(RankingPolicy)

#: The ranking policy when none is given.
DEFAULT_RANKING: RankingPolicy = "all"


@dataclass(frozen=True)
class ReadOptions:
    """How to read a source, beyond detecting it. Every field has a default that reads common files."""

    columns: dict[str, str] | None = None
    """A column mapping, TRL name -> where the file holds it (``{"prompt": "instruction", "chosen":
    "summaries[choice].text", "winner": "w:index"}``), applied to every record before detection
    (:mod:`alignlab.data.mapping`; the path language: :mod:`alignlab.data.paths`)."""
    split: str | None = None
    """The split of a Hugging Face dataset folder (a saved DatasetDict or a downloaded snapshot)."""
    ranking: RankingPolicy = DEFAULT_RANKING
    """How rankings become pairs (:data:`RankingPolicy`)."""
    attributes: dict[str, float] | None = None
    """Multi-attribute scores (HelpSteer-style): the weight of each attribute in the score; ``None``:
    ``helpfulness`` alone (:mod:`alignlab.data.attributes`)."""

    def problems(self) -> list[str]:
        """What is wrong with the options themselves (the mapping is checked against the file later)."""
        out: list[str] = []
        if self.ranking not in RANKING_POLICIES:
            out.append(f"ranking: expected one of {', '.join(RANKING_POLICIES)}, but got {self.ranking!r}")
        for name, weight in (self.attributes or {}).items():
            if not isinstance(weight, int | float) or isinstance(weight, bool) or not math.isfinite(weight):
                out.append(f"attributes: the weight of {name!r} must be a finite number, but got {weight!r}")
        if self.attributes is not None and not self.attributes:
            out.append("attributes: expected at least one attribute")
        return out


@dataclass
class Outcome:
    """What one input record (or, from :meth:`Shape.finish`, a group of them) became."""

    records: list[dict[str, Any]]
    """The TRL-shaped records made from it, in order (may be empty)."""
    tag: str
    """The format it was read as (reported as ``FeedbackData.format``; the most common tag wins)."""
    skip: str | None = None
    """Why it gave no records although it was valid (``"tie"``, ``"fewer than two ranked answers"``)."""
    inputs: int = 1
    """How many input records it accounts for (a judged pair from three rows: 3)."""


class Shape:
    """The reader of one source format. Subclasses set ``kind`` and implement :meth:`feed`."""

    kind: FeedbackKind
    """The kind of the records it makes."""
    uses: frozenset[str] = frozenset()
    """The record fields it reads; the loader counts the others as unused."""

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        """Read one record: its outcome, or ``None`` (after appending a problem line per defect) when it
        is invalid. Shapes that hold records until :meth:`finish` return ``Outcome([], tag, inputs=0)``."""
        raise NotImplementedError

    def finish(self) -> Iterator[Outcome]:
        """Outcomes of the records held back, after the last record (most shapes hold none)."""
        return iter(())

    def report(self) -> ReadReport:
        """What the profile should say beyond the records (after :meth:`finish`)."""
        return ReadReport()

    def unused_fields(self, rec: dict[str, Any]) -> list[str]:
        """The fields of ``rec`` this shape does not read."""
        return [k for k in rec if k not in self.uses]


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 pair"``, ``"2,100 pairs"``."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


class PerRecord(Shape):
    """A shape whose every valid record becomes exactly one record (a plain normaliser function)."""

    def __init__(self, kind: FeedbackKind, normalise: Any, uses: frozenset[str] | set[str]) -> None:
        self.kind = kind
        self._normalise = normalise
        self.uses = frozenset(uses)

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        result = self._normalise(rec, problems)
        if result is None:
            return None
        out, tag = result
        return Outcome([out], tag)
