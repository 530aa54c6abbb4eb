"""Ranked answers to pairs: Nectar-style ranked lists and scored candidate lists.

A ranking of K answers becomes pairs by a policy (:data:`~alignlab.data.shape.RankingPolicy`):
``all`` (every answer against every lower-ranked one, as InstructGPT did), ``best-vs-rest`` or
``adjacent``. Tied answers (equal rank or score) are never paired; the profile counts them.

- Ranked lists: a prompt (``prompt``, ``instruction`` or ``question``) and a list (``answers``,
  ``responses``, ``completions``, ``candidates``, ``outputs``, ``generations``) of items with a text
  (``answer``, ``response``, ``text``, ``completion``, ``output``, ``content``) and a ``rank``
  (1 = best; lower is better) or a score (``overall_score``, ``score``, ``rating``, ``reward``;
  higher is better); or a list of strings beside a parallel ``ranks`` / ``scores`` list.
  Nectar (``answers: [{answer, model, rank}]``) and UltraFeedback's raw release
  (``completions: [{response, overall_score, ...}]``) are of this shape.

OpenAssistant's ranked sibling replies are :mod:`alignlab.data.oasst`; the ranking helpers here
(:func:`pairs_from_levels`, :func:`levels_of`, :class:`RankingStats`) serve it and Argilla too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from alignlab.data.feedback import FeedbackKind, ReadReport
from alignlab.data.fields import check_text_or_messages, describe
from alignlab.data.shape import Outcome, RankingPolicy, Shape, plural

T = TypeVar("T")

PROMPT_KEYS = ("prompt", "instruction", "question")
LIST_KEYS = ("answers", "responses", "completions", "candidates", "outputs", "generations")
TEXT_KEYS = ("answer", "response", "text", "completion", "output", "content")
RANK_KEYS = ("rank", "ranking")
SCORE_KEYS = ("overall_score", "score", "rating", "reward")
PARALLEL_RANKS = ("ranks", "rankings")
PARALLEL_SCORES = ("scores", "ratings", "rewards")


def pairs_from_levels(levels: Sequence[Sequence[T]], policy: RankingPolicy) -> Iterator[tuple[T, T]]:
    """(better, worse) pairs from ``levels`` (best level first; items within a level are tied)."""
    for i, upper in enumerate(levels):
        if policy == "best-vs-rest" and i > 0:
            return
        lower_levels = levels[i + 1 : i + 2] if policy == "adjacent" else levels[i + 1 :]
        for better in upper:
            for lower in lower_levels:
                for worse in lower:
                    yield better, worse


def levels_of(items: list[tuple[T, float]], *, higher_is_better: bool) -> list[list[T]]:
    """Items grouped by equal value, best group first."""
    groups: dict[float, list[T]] = {}
    for item, value in items:
        groups.setdefault(value, []).append(item)
    return [groups[v] for v in sorted(groups, reverse=higher_is_better)]


def tied_pairs(levels: Sequence[Sequence[Any]]) -> int:
    return sum(len(level) * (len(level) - 1) // 2 for level in levels)


def all_pairs(levels: Sequence[Sequence[Any]]) -> int:
    sizes = [len(level) for level in levels]
    total = sum(sizes)
    return (total * total - sum(s * s for s in sizes)) // 2


class RankingStats:
    def __init__(self, policy: RankingPolicy, unit: tuple[str, str]) -> None:
        self.policy = policy
        self.unit = unit
        self.rankings = 0
        self.pairs = 0
        self.answers = 0
        self.tied = 0
        self.identical = 0
        self.unranked = 0
        self.ordered = 0  # pairs policy 'all' would make

    def add(self, levels: Sequence[Sequence[Any]], made: int) -> None:
        self.rankings += 1
        self.pairs += made
        self.answers += sum(len(level) for level in levels)
        self.tied += tied_pairs(levels)
        self.ordered += all_pairs(levels)

    def report(self, report: ReadReport) -> None:
        report.made.append(
            f"{plural(self.pairs, 'pair')} from {plural(self.rankings, *self.unit)} "
            f"(ranking policy '{self.policy}')"
        )
        report.ranking = {
            "policy": self.policy,
            "rankings": self.rankings,
            "pairs": self.pairs,
            "ranked_answers": self.answers,
            "tied_answer_pairs": self.tied,
            "identical_answer_pairs": self.identical,
            "unranked_answers": self.unranked,
        }
        if self.tied:
            report.notes.append(f"{plural(self.tied, 'answer pair')} tied in rank: not paired")
        if self.unranked:
            report.unused.append(f"{plural(self.unranked, 'answer')} without a rank or score")
        unused = self.ordered - self.pairs - self.identical
        if self.policy != "all" and unused > 0:
            report.unused.append(
                f"ranking policy '{self.policy}' uses {self.pairs:,} of the {self.ordered:,} ordered answer "
                "pairs the rankings hold (ranking policy 'all' uses every one)"
            )


# ------------------------------------------------------------------------------ ranked lists


def ranked_list_key(rec: dict[str, Any]) -> str | None:
    """The field holding the ranked answers, when ``rec`` looks like a ranked list."""
    if not any(k in rec for k in PROMPT_KEYS):
        return None
    for key in LIST_KEYS:
        value = rec.get(key)
        if not isinstance(value, list) or not value:
            continue
        if all(isinstance(item, dict) for item in value):
            if any(any(k in item for k in (*RANK_KEYS, *SCORE_KEYS)) for item in value):
                return key
        elif all(isinstance(item, str) for item in value) and any(
            k in rec for k in (*PARALLEL_RANKS, *PARALLEL_SCORES)
        ):
            return key
    return None


class RankedList(Shape):
    """Nectar-style ranked answers (see the module docstring)."""

    kind: FeedbackKind = "pairwise"

    def __init__(self, policy: RankingPolicy) -> None:
        self.policy = policy
        self.stats = RankingStats(policy, ("ranking", "rankings"))
        self.item_fields: Counter[str] = Counter()
        self.uses = frozenset({*PROMPT_KEYS, *LIST_KEYS, *PARALLEL_RANKS, *PARALLEL_SCORES})

    def unused_fields(self, rec: dict[str, Any]) -> list[str]:
        prompt_key = next((k for k in PROMPT_KEYS if k in rec), None)
        list_key = ranked_list_key(rec)
        return [k for k in rec if k not in (prompt_key, list_key) and k not in (*PARALLEL_RANKS, *PARALLEL_SCORES)]

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        before = len(problems)
        prompt_key = next((k for k in PROMPT_KEYS if k in rec), "prompt")
        prompt = check_text_or_messages(rec, prompt_key, problems)
        list_key = ranked_list_key(rec)
        if list_key is None:
            problems.append(
                f"no ranked answers (expected one of {', '.join(repr(k) for k in LIST_KEYS)}: a list of "
                "{answer, rank} or {response, score} items)"
            )
            return None
        items, higher = self._items(rec, list_key, problems)
        if len(problems) > before or prompt is None:
            return None
        tag = self._tag(rec, list_key)
        ranked = [(text, value) for text, value in items if value is not None]
        self.stats.unranked += len(items) - len(ranked)
        if len(ranked) < 2:
            return Outcome([], tag, skip="fewer than two ranked answers")
        levels = levels_of(ranked, higher_is_better=higher)
        if len(levels) < 2:
            self.stats.add(levels, 0)
            return Outcome([], tag, skip="all answers tied")
        styles = {isinstance(text, list) for text, _ in ranked} | {isinstance(prompt, list)}
        if len(styles) > 1:
            problems.append(
                f"field '{prompt_key}' and the answers in '{list_key}' mix strings and message lists "
                "(expected all strings or all message lists)"
            )
            return None
        out = []
        for better, worse in pairs_from_levels(levels, self.policy):
            if better == worse:
                self.stats.identical += 1
                continue
            out.append({"prompt": prompt, "chosen": better, "rejected": worse})
        self.stats.add(levels, len(out))
        return Outcome(out, tag) if out else Outcome([], tag, skip="only identical answers")

    def _items(
        self, rec: dict[str, Any], key: str, problems: list[str]
    ) -> tuple[list[tuple[Any, float | None]], bool]:
        value = rec[key]
        if all(isinstance(item, str) for item in value):
            parallel = next((k for k in (*PARALLEL_RANKS, *PARALLEL_SCORES) if k in rec), None)
            values = rec.get(parallel) if parallel else None
            if not isinstance(values, list) or len(values) != len(value):
                problems.append(
                    f"field '{parallel}' is {describe(values)} (expected one number per answer in '{key}', "
                    f"{len(value)} of them)"
                )
                return [], True
            numbers = [_number(v, f"field '{parallel}' item {n}", problems) for n, v in enumerate(values, 1)]
            return list(zip(value, numbers, strict=True)), parallel in PARALLEL_SCORES
        items: list[tuple[Any, float | None]] = []
        higher = True
        for n, item in enumerate(value, start=1):
            where = f"field '{key}' item {n}"
            if not isinstance(item, dict):
                problems.append(f"{where} is {describe(item)} (expected an object with the answer and its rank)")
                continue
            text_key = next((k for k in TEXT_KEYS if k in item), None)
            text = item.get(text_key) if text_key else None
            if not isinstance(text, str | list):
                problems.append(
                    f"{where}: the answer is {describe(text) if text_key else 'missing'} "
                    f"(expected a string in one of {', '.join(repr(k) for k in TEXT_KEYS)})"
                )
                continue
            rank_key = next((k for k in RANK_KEYS if k in item), None)
            score_key = None if rank_key else next((k for k in SCORE_KEYS if k in item), None)
            higher = rank_key is None
            raw = item.get(rank_key or score_key or "rank")
            self.item_fields.update(k for k in item if k not in (text_key, rank_key, score_key))
            items.append((text, None if raw is None else _number(raw, f"{where} '{rank_key or score_key}'", problems)))
        return items, higher

    @staticmethod
    def _tag(rec: dict[str, Any], key: str) -> str:
        first = rec[key][0]
        if key == "answers" and isinstance(first, dict) and "answer" in first and "rank" in first:
            return "nectar"
        if key == "completions" and isinstance(first, dict) and "overall_score" in first:
            return "ultrafeedback-raw"
        return "ranked-list"

    def report(self) -> ReadReport:
        report = ReadReport()
        self.stats.report(report)
        if self.item_fields:
            shown = ", ".join(f"'{k}'" for k, _ in self.item_fields.most_common(6))
            report.unused.append(f"answer fields {shown} (in {sum(self.item_fields.values()):,} answers)")
        return report


def _number(value: Any, where: str, problems: list[str]) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if value is None:
        return None
    problems.append(f"{where} is {describe(value)} (expected a number)")
    return None
