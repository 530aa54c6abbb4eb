"""The normalised feedback data set: what every loader returns and every trainer consumes.

Records follow TRL's dataset shapes, one per kind:

- ``pairwise``: ``{"prompt", "chosen", "rejected"}``, all strings ("standard"), or conversational:
  ``prompt`` a list of ``{"role", "content"}`` messages, ``chosen``/``rejected`` lists of assistant
  messages.
- ``binary`` (TRL "unpaired preference", KTO): ``{"prompt", "completion", "label": bool}``.
- ``scalar``: ``{"prompt", "completion", "score": float}``.
- ``prompt``: ``{"prompt"}`` (PPO, RLOO, GRPO, online DPO).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

FeedbackKind = Literal["pairwise", "binary", "scalar", "prompt"]
"""The four kinds of feedback, named for what a person gave: a preference between two completions,
a good/bad verdict on one, a number for one, or nothing yet (prompts to generate from)."""

KINDS: tuple[FeedbackKind, ...] = get_args(FeedbackKind)

#: The text fields of each kind's records, prompt first.
TEXT_FIELDS: dict[FeedbackKind, tuple[str, ...]] = {
    "pairwise": ("prompt", "chosen", "rejected"),
    "binary": ("prompt", "completion"),
    "scalar": ("prompt", "completion"),
    "prompt": ("prompt",),
}


@dataclass
class Accounting:
    """What became of every record read: nothing is dropped without being counted here."""

    read: int = 0
    """Records read from the source (lines, rows, array items; one OpenAssistant tree per record)."""
    used: int = 0
    """Records read that became at least one record of the data."""
    made: int = 0
    """Records of the data (pairs, labels, scores or prompts) made from them."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Records read but not used, by reason: ``invalid`` (failed validation, under ``skip_invalid``),
    ``tie``, ``fewer than two ranked answers``, ..."""

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


@dataclass
class ReadReport:
    """What reading found beyond the records: how they were made and what was left unused."""

    made: list[str] = field(default_factory=list)
    """How records were made, e.g. ``"2,100 pairs from 300 rankings (ranking policy 'all')"``."""
    unused: list[str] = field(default_factory=list)
    """Information the source carries that alignlab does not use (per-rater votes, extra ranks)."""
    notes: list[str] = field(default_factory=list)
    """Other findings worth acting on."""
    raters: dict[str, Any] | None = None
    """Multi-rater figures: judged pairs, votes, votes per pair, ties, agreement."""
    ranking: dict[str, Any] | None = None
    """Ranking figures: policy, rankings, pairs, ranked answers, tied answer pairs."""
    unused_fields: dict[str, int] = field(default_factory=dict)
    """Fields of the source records that were not read, with the number of records holding each."""


@dataclass(frozen=True)
class FeedbackData:
    """A loaded, validated, normalised feedback data set."""

    kind: FeedbackKind
    """Which kind of feedback the records hold (decides their shape, see the module docstring)."""
    format: str
    """The detected source format (the ``format`` column of :mod:`alignlab.data.formats`, e.g.
    ``trl-standard``, ``hh-rlhf``, ``nectar``); after a conversion, the format of the converted records."""
    records: list[dict[str, Any]]
    """The records in TRL's shape for ``kind``, in file order."""
    source: str
    """The path the records came from, or a description of where they came from."""
    skipped: list[str] = field(default_factory=list)
    """One message per invalid record skipped under ``skip_invalid`` (where, then what was wrong; the
    first thousand, the rest are counted in ``accounting``)."""
    accounting: Accounting | None = None
    """What became of every record read (``None`` for data made in memory)."""
    report: ReadReport | None = None
    """How the records were made and what the source held that is unused (``None``: nothing to say)."""

    @property
    def conversational(self) -> bool:
        """Whether the records hold message lists (True) or plain strings (False)."""
        return bool(self.records) and isinstance(self.records[0].get("prompt"), list)


def to_text(value: str | list[dict[str, Any]]) -> str:
    """Flatten a prompt or completion to text: a string as is, messages as ``role: content`` lines."""
    if isinstance(value, str):
        return value
    return "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in value)
