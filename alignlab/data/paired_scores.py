"""Paired scores: two responses to one prompt, each with a score; the higher score wins.

A record holds a prompt, responses A and B (named as judged pairs name them: ``response_a``/``_b``,
``response_1``/``_2``, ...) and ``score_a``/``score_b`` (a file's own names mapped to these, e.g.
WebGPT's ``--columns response_a=answer_0,response_b=answer_1,score_a=score_0,score_b=score_1``). The
better-scored response is chosen, and the gap kept on the pair as ``margin`` (chosen score − rejected
score), as UltraFeedback-binarized pairs keep theirs (TRL's RewardTrainer reads it). Equal scores are
no preference: a tie, counted (``tie (equal scores)``), never a pair.
"""

from __future__ import annotations

import math
from typing import Any

from alignlab.data.feedback import FeedbackKind, ReadReport
from alignlab.data.fields import describe
from alignlab.data.judgments import PROMPT_KEYS, looks_judged, pair_keys, pair_texts
from alignlab.data.shape import Outcome, Shape, plural

SCORES = ("score_a", "score_b")


def looks_paired(rec: dict[str, Any]) -> bool:
    """Two responses and their scores, and no votes (a vote decides a judged pair instead)."""
    return all(k in rec for k in SCORES) and pair_keys(rec) is not None and not looks_judged(rec)


class PairedScores(Shape):
    """Pairs from two scored responses (see the module docstring)."""

    kind: FeedbackKind = "pairwise"

    def __init__(self) -> None:
        self.margins = 0
        self.ties = 0

    def unused_fields(self, rec: dict[str, Any]) -> list[str]:
        used = {*(pair_keys(rec) or ()), *SCORES, *PROMPT_KEYS}
        return [k for k in rec if k not in used]

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        keys = pair_keys(rec)
        if keys is None:
            problems.append("no pair of responses (expected e.g. 'response_a' and 'response_b')")
            return None
        texts = pair_texts(rec, keys, problems)
        score_a, score_b = (_score(rec, name, problems) for name in SCORES)
        if texts is None or score_a is None or score_b is None:
            return None
        prompt, a, b = texts
        if score_a == score_b:
            self.ties += 1
            return Outcome([], "paired-scores", skip="tie (equal scores)")
        chosen, rejected = (a, b) if score_a > score_b else (b, a)
        self.margins += 1
        margin = abs(score_a - score_b)
        return Outcome([{"prompt": prompt, "chosen": chosen, "rejected": rejected, "margin": margin}], "paired-scores")

    def report(self) -> ReadReport:
        report = ReadReport()
        report.made.append(
            f"{plural(self.margins, 'pair')} from paired scores, the higher score chosen, each with its margin "
            f"(chosen score - rejected score); {plural(self.ties, 'tie')} (equal scores) not used"
        )
        return report


def _score(rec: dict[str, Any], name: str, problems: list[str]) -> float | None:
    value = rec.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    got = describe(value) if name in rec else "missing"
    problems.append(f"field '{name}' is {got} (expected a finite number: the score of response_{name[-1]})")
    return None
