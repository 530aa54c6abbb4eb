"""Multi-attribute scores (HelpSteer-style): one response rated on several attributes, made one score.

HelpSteer and HelpSteer2 rate each ``response`` to a ``prompt`` 0-4 on ``helpfulness``,
``correctness``, ``coherence``, ``complexity`` and ``verbosity``; UltraFeedback-style files use
``helpfulness``, ``honesty``, ``instruction_following``, ``truthfulness``. The score is one attribute or
a weighted sum (``attributes={"helpfulness": 0.65, "correctness": 0.8}``, or on the command line
``--attributes helpfulness=0.65,correctness=0.8``; ``--attributes correctness`` picks one).

**Default: helpfulness alone**: the one attribute that rates the response as a whole (the others rate
one aspect each, and more verbosity or complexity is not better by itself); the other attributes are
reported as unused.
The scores then pair up like any scalar feedback (``alignlab data convert --to pairwise``).
"""

from __future__ import annotations

import math
from typing import Any

from alignlab.data.feedback import FeedbackKind, ReadReport
from alignlab.data.fields import check_text_or_messages, describe
from alignlab.data.shape import Outcome, Shape

#: Attribute names recognised without ``attributes`` (HelpSteer, HelpSteer2, UltraFeedback).
KNOWN_ATTRIBUTES = (
    "helpfulness",
    "correctness",
    "coherence",
    "complexity",
    "verbosity",
    "honesty",
    "instruction_following",
    "truthfulness",
    "harmlessness",
)
#: The default score: helpfulness alone.
DEFAULT_ATTRIBUTES: dict[str, float] = {"helpfulness": 1.0}
RESPONSE_KEYS = ("response", "completion")


def attribute_columns(rec: dict[str, Any]) -> list[str]:
    """The known attribute fields of ``rec`` that hold numbers."""
    return [k for k in KNOWN_ATTRIBUTES if _number(rec.get(k))]


def looks_multi_attribute(rec: dict[str, Any], attributes: dict[str, float] | None) -> bool:
    if "prompt" not in rec or not any(k in rec for k in RESPONSE_KEYS):
        return False
    if attributes:
        return all(k in rec for k in attributes)
    return len(attribute_columns(rec)) >= 2


class MultiAttribute(Shape):
    """A scalar score from weighted attributes (see the module docstring)."""

    kind: FeedbackKind = "scalar"

    def __init__(self, attributes: dict[str, float] | None) -> None:
        self.weights = dict(attributes or DEFAULT_ATTRIBUTES)
        self.default = attributes is None
        self.seen: dict[str, int] = {}
        self.uses = frozenset({"prompt", *RESPONSE_KEYS, *self.weights, *KNOWN_ATTRIBUTES})  # the report names the rest

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        before = len(problems)
        prompt = check_text_or_messages(rec, "prompt", problems)
        name = next((k for k in RESPONSE_KEYS if k in rec), "response")
        completion = check_text_or_messages(rec, name, problems)
        score = 0.0
        for attribute, weight in self.weights.items():
            value = rec.get(attribute)
            if not _number(value):
                found = ", ".join(attribute_columns(rec)) or "none"
                hint = " (the default; pick others with --attributes, e.g. --attributes correctness)" if self.default else ""
                problems.append(
                    f"field '{attribute}'{hint} is {describe(value) if attribute in rec else 'missing'} "
                    f"(expected a number; numeric attributes found: {found})"
                )
                continue
            score += weight * float(value)  # type: ignore[arg-type]  # _number checked it
        for other in attribute_columns(rec):
            if other not in self.weights:
                self.seen[other] = self.seen.get(other, 0) + 1
        if len(problems) > before or prompt is None or completion is None:
            return None
        if isinstance(prompt, str) != isinstance(completion, str):
            problems.append(f"fields 'prompt', '{name}' mix strings and message lists (expected one style)")
            return None
        return Outcome([{"prompt": prompt, "completion": completion, "score": score}], "multi-attribute")

    def report(self) -> ReadReport:
        report = ReadReport()
        formula = " + ".join(f"{w:g} * {a}" for a, w in self.weights.items())
        report.made.append(
            f"score = {formula}" + (" (the default: helpfulness alone; --attributes picks others)" if self.default else "")
        )
        if self.seen:
            report.unused.append(
                "attributes " + ", ".join(f"'{a}'" for a in self.seen) + " (not in the score; --attributes "
                "weighs them in, e.g. --attributes helpfulness=0.65,correctness=0.8)"
            )
        return report


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_attributes(text: str, *, option: str = "--attributes") -> dict[str, float]:
    """``"helpfulness"`` (one attribute, weight 1) or ``"helpfulness=0.65,correctness=0.8"``."""
    problems: list[str] = []
    weights: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, weight = (s.strip() for s in item.partition("="))
        if not name:
            problems.append(f"{option}: {item!r} names no attribute (expected NAME or NAME=WEIGHT)")
            continue
        try:
            value = float(weight) if sep else 1.0
        except ValueError:
            problems.append(f"{option}: the weight of '{name}' must be a number, but got {weight!r}")
            continue
        if not math.isfinite(value):
            problems.append(f"{option}: the weight of '{name}' must be finite, but got {weight!r}")
            continue
        weights[name] = value
    if not weights and not problems:
        problems.append(f"{option}: expected NAME or NAME=WEIGHT,..., e.g. helpfulness=0.65,correctness=0.8")
    if problems:
        from alignlab.errors import UserInputError

        raise UserInputError(problems)
    return weights
