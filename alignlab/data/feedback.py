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


@dataclass(frozen=True)
class FeedbackData:
    """A loaded, validated, normalised feedback data set."""

    kind: FeedbackKind
    """Which kind of feedback the records hold (decides their shape, see the module docstring)."""
    format: str
    """The detected source format: ``trl-standard``, ``trl-conversational``, ``hh-rlhf``,
    ``llama-factory-sharegpt``, ``llama-factory-kto``, ``trl-unpaired``, ``scalar`` or
    ``prompt-only``; after a conversion, the format of the converted records."""
    records: list[dict[str, Any]]
    """The records in TRL's shape for ``kind``, in file order."""
    source: str
    """The path the records came from, or a description of where they came from."""
    skipped: list[str] = field(default_factory=list)
    """One message per invalid record skipped under ``skip_invalid`` (where, then what was wrong)."""

    @property
    def conversational(self) -> bool:
        """Whether the records hold message lists (True) or plain strings (False)."""
        return bool(self.records) and isinstance(self.records[0].get("prompt"), list)


def to_text(value: str | list[dict[str, Any]]) -> str:
    """Flatten a prompt or completion to text: a string as is, messages as ``role: content`` lines."""
    if isinstance(value, str):
        return value
    return "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in value)
