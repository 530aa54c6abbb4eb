"""Argilla exports (``push_to_huggingface`` of a FeedbackDataset, Argilla 1.x; ``to_hub`` / ``to_disk``
of a Dataset, Argilla 2.x): records with the annotated fields and each question's responses.

- Argilla 1.x: a question is a column holding ``[{user_id, value, status}]``; ``<question>-suggestion``
  and ``<question>-suggestion-metadata`` hold the model suggestion.
- Argilla 2.x: ``<question>.responses`` (one value per user), ``<question>.responses.users``,
  ``<question>.responses.status``, ``<question>.suggestion`` (+ ``.score``, ``.agent``); ``id``,
  ``status``, ``_server_id``, ``metadata.*``.

Only submitted human responses count (drafts and discarded ones are skipped; suggestions are model
predictions, reported as unused). The question read, by its answers:

- a **ranking** (``[{value: field, rank}]`` or the field names in order), or a label naming the
  better response field ("which is better?"; other answers such as "tie" are no preference): the
  fields' texts become pairs (ranking policy as for ranked lists), several users combined by mean
  rank; the prompt is the other text field;
- a **label** with good/bad-like values (good/bad, yes/no, positive/negative, accept/reject, 👍/👎):
  binary feedback on the response field, several users by majority (ties skipped);
- a **rating** (a number): scalar feedback on the response field, several users averaged.

The first question of these kinds decides the kind of the file; the other questions are unused.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from alignlab.data.chat import thumb
from alignlab.data.feedback import FeedbackKind, ReadReport
from alignlab.data.ranked import RankingStats, levels_of, pairs_from_levels
from alignlab.data.shape import Outcome, RankingPolicy, Shape, plural

META_KEYS = {"id", "status", "_server_id", "external_id", "metadata", "inserted_at", "updated_at", "vectors"}
PROMPT_NAMES = ("prompt", "instruction", "question", "input", "query", "text", "context", "conversation", "chat")
RESPONSE_NAMES = ("response", "completion", "output", "answer", "generation", "reply")
_LABEL_WORDS = {"accept": True, "accepted": True, "reject": False, "rejected": False, "correct": True, "incorrect": False}


def questions(rec: dict[str, Any]) -> dict[str, list[tuple[str, Any]]]:
    """Each question's submitted responses, as (user, value), in the record's column order."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for key, value in rec.items():
        if key.endswith(".responses"):
            name = key[: -len(".responses")]
            values = value if isinstance(value, list) else []
            users = rec.get(f"{key}.users") or [str(i) for i in range(len(values))]
            status = rec.get(f"{key}.status") or ["submitted"] * len(values)
            out[name] = [(str(u), v) for u, v, s in zip(users, values, status, strict=False) if s == "submitted" and v is not None]
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "user_id" in v and "value" in v for v in value):
            out[key] = [(str(v["user_id"]), v["value"]) for v in value if v.get("status", "submitted") == "submitted" and v["value"] is not None]
    return out


def looks_argilla(rec: dict[str, Any]) -> bool:
    return any(k.endswith((".responses", "-suggestion", "-suggestion-metadata", ".suggestion")) for k in rec) or bool(
        questions(rec)
    )


def _is_question_key(key: str, names: set[str]) -> bool:
    base = key.split(".", 1)[0]
    for suffix in ("-suggestion-metadata", "-suggestion"):
        if key.endswith(suffix):
            base = key[: -len(suffix)]
    return base in names


def text_fields(rec: dict[str, Any], names: set[str]) -> list[str]:
    return [
        k
        for k, v in rec.items()
        if k not in META_KEYS and not k.startswith(("metadata.", "vector")) and not _is_question_key(k, names)
        and (isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(m, dict) and "content" in m for m in v)))
    ]


def question_kind(values: list[Any], fields: list[str]) -> FeedbackKind | None:
    """pairwise (a ranking of fields), binary (good/bad labels), scalar (ratings), or None."""
    first = values[0]
    if isinstance(first, str) and first in fields:
        return "pairwise"  # "which response is better?": a label naming a field
    if isinstance(first, list) and first:
        names = [v.get("value") if isinstance(v, dict) else v for v in first]
        if all(isinstance(n, str) and n in fields for n in names):
            return "pairwise"
        return None
    if isinstance(first, int | float) and not isinstance(first, bool):
        return "scalar"
    if _label(first) is not None:
        return "binary"
    return None


def _label(value: Any) -> bool | None:
    if isinstance(value, str) and value.strip().lower() in _LABEL_WORDS:
        return _LABEL_WORDS[value.strip().lower()]
    return thumb(value) if isinstance(value, str | bool) else None


def choose_question(buffer: list[dict[str, Any]]) -> tuple[str, FeedbackKind] | None:
    """The first question (by kind: ranking, then label, then rating) that the records answer."""
    found: dict[str, FeedbackKind] = {}
    for rec in buffer:
        asked = questions(rec)
        fields = text_fields(rec, set(asked))
        for name, answers in asked.items():
            if name not in found and answers:
                kind = question_kind([v for _, v in answers], fields)
                if kind is not None:
                    found[name] = kind
    for wanted in ("pairwise", "binary", "scalar"):
        for name, kind in found.items():
            if kind == wanted:
                return name, kind
    return None


class Argilla(Shape):
    """Argilla exports (see the module docstring)."""

    def __init__(self, question: str, kind: FeedbackKind, policy: RankingPolicy) -> None:
        self.question = question
        self.kind = kind
        self.policy = policy
        self.stats = RankingStats(policy, ("ranking", "rankings"))
        self.other_questions: Counter[str] = Counter()
        self.suggestions = 0
        self.several = 0
        self.ties = 0

    def unused_fields(self, rec: dict[str, Any]) -> list[str]:
        return []  # the report names what is unused: other questions, suggestions

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        asked = questions(rec)
        answers = [v for _, v in asked.get(self.question, [])]
        self.other_questions.update(q for q, a in asked.items() if q != self.question and a)
        if any(rec.get(f"{self.question}{sep}suggestion") is not None for sep in ("-", ".")):
            self.suggestions += 1
        fields = text_fields(rec, set(asked))
        if not answers:
            return Outcome([], "argilla", skip="no submitted responses")
        if len(answers) > 1:
            self.several += 1
        if self.kind == "pairwise":
            return self._ranking(rec, answers, fields, problems)
        prompt_key = next((f for f in fields if f.lower() in PROMPT_NAMES), None)
        response_key = next((f for f in fields if any(n in f.lower() for n in RESPONSE_NAMES) and f != prompt_key), None)
        if prompt_key is None or response_key is None:
            problems.append(
                f"cannot tell the prompt and the response among the fields {', '.join(repr(f) for f in fields)} "
                "(expected a field named like 'prompt' or 'instruction' and one like 'response')"
            )
            return None
        prompt, response = rec[prompt_key], rec[response_key]
        if self.kind == "binary":
            labels = Counter(_label(v) for v in answers)
            if labels[True] == labels[False]:
                self.ties += 1
                return Outcome([], "argilla", skip="tie")
            return Outcome([{"prompt": prompt, "completion": _like(response, prompt), "label": labels[True] > labels[False]}], "argilla")
        scores = [float(v) for v in answers if isinstance(v, int | float) and not isinstance(v, bool)]
        if not scores:
            problems.append(f"question '{self.question}': the responses are not numbers (expected ratings)")
            return None
        return Outcome([{"prompt": prompt, "completion": _like(response, prompt), "score": statistics.fmean(scores)}], "argilla")

    def _ranking(self, rec: dict[str, Any], answers: list[Any], fields: list[str], problems: list[str]) -> Outcome | None:
        ranks: dict[str, list[float]] = {}
        responses = [f for f in fields if any(n in f.lower() for n in RESPONSE_NAMES)]
        ties = 0
        for answer in answers:
            if isinstance(answer, str) and answer in responses:  # a choice: that response above the others
                answer = [answer, *(f for f in responses if f != answer)]
                ranks.setdefault(answer[0], []).append(1.0)
                for other in answer[1:]:
                    ranks.setdefault(other, []).append(2.0)
                continue
            if isinstance(answer, str):  # "tie", "both", "none": no preference
                ties += 1
                continue
            if not isinstance(answer, list):
                problems.append(f"question '{self.question}': a response is not a ranking")
                return None
            for position, item in enumerate(answer, start=1):
                name = item.get("value") if isinstance(item, dict) else item
                rank = item.get("rank", position) if isinstance(item, dict) else position
                if name not in rec or not isinstance(rank, int | float):
                    problems.append(f"question '{self.question}': ranks {item!r}, which is not a field of the record")
                    return None
                ranks.setdefault(name, []).append(float(rank))
        if not ranks:
            return Outcome([], "argilla", skip="tie")
        prompt_key = next((f for f in fields if f not in ranks and f.lower() in PROMPT_NAMES), None)
        prompt_key = prompt_key or next((f for f in fields if f not in ranks), None)
        if prompt_key is None:
            problems.append(f"question '{self.question}' ranks every text field: none is left for the prompt")
            return None
        prompt = rec[prompt_key]
        mean = [(name, statistics.fmean(values)) for name, values in ranks.items()]
        levels = levels_of(mean, higher_is_better=False)
        if len(levels) < 2:
            return Outcome([], "argilla", skip="all answers tied" if len(mean) > 1 else "fewer than two ranked answers")
        out = []
        for better, worse in pairs_from_levels(levels, self.policy):
            if rec[better] == rec[worse]:
                self.stats.identical += 1
                continue
            out.append({"prompt": prompt, "chosen": _like(rec[better], prompt), "rejected": _like(rec[worse], prompt)})
        self.stats.add(levels, len(out))
        return Outcome(out, "argilla") if out else Outcome([], "argilla", skip="only identical answers")

    def report(self) -> ReadReport:
        report = ReadReport()
        if self.kind == "pairwise":
            self.stats.report(report)
        report.made.append(f"read the answers to the question '{self.question}'")
        if self.several:
            how = {"pairwise": "by mean rank", "binary": "by majority", "scalar": "by their mean"}[self.kind]
            report.unused.append(
                f"individual users' responses on {plural(self.several, 'record')} with several: combined {how}"
            )
        for name, n in self.other_questions.items():
            report.unused.append(f"the responses to question '{name}' ({plural(n, 'record')})")
        if self.suggestions:
            report.unused.append(f"model suggestions for '{self.question}' on {plural(self.suggestions, 'record')}")
        return report


def _like(text: Any, prompt: Any) -> Any:
    if isinstance(prompt, list) and isinstance(text, str):
        return [{"role": "assistant", "content": text}]
    return text
