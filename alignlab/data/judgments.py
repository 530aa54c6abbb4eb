"""Judged pairs: two responses to one prompt and who preferred which (arena battles, rater columns, SHP).

A judged pair holds a prompt, responses A and B (``response_a``/``response_b``, ``response_1``/``_2``,
``response1``/``2``, ``output_1``/``_2``, ``completion_a``/``_b``, ``answer_a``/``_b``, or Chatbot
Arena's ``conversation_a``/``_b`` message lists, whose shared leading messages are the prompt) and one or
more votes:

- ``winner`` (Chatbot Arena: ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``), ``preference``
  (AlpacaFarm: 1 or 2), ``choice``, ``label``, ``vote``, ``judgment``; numbers and booleans there are
  read only when they can mean one thing (1 and 2) or their meaning is stated in the column mapping
  (``winner=w:index``): 0/1 is an error naming the column, never a guess (:mod:`alignlab.data.winners`);
- one-hot ``winner_model_a`` / ``winner_model_b`` / ``winner_tie`` (the LMSYS arena Kaggle release);
- ``overall_preference`` (HelpSteer3: -3..3, negative means response 1, 0 a tie) and its per-rater
  ``individual_preference`` list;
- several rater columns (``annotator_1``, ``rater2``, ``human_3``, ...) or a list of votes
  (``votes``, ``annotations``, ``judgments``).

Rows that judge the same prompt and responses (in either order: MT-Bench's human judgments, one row
per judge) are one pair with all their votes. **Majority rule**: A wins when it has more votes than B
and more than the tie votes together (likewise B); anything else is a tie. Ties, whether voted or
undecided, never become pairs: they are counted (``tie``, and ``tie (both bad)`` for Arena's
``tie (bothbad)``) and reported. The profile gives the votes per pair and the raters' agreement: for
pairs with two or more votes, the mean over pairs of the fraction of rater pairs that voted the same.

SHP (``history``, ``human_ref_A``, ``human_ref_B``, ``labels``: 1 when A is preferred) is read by
:class:`Shp`; its ``score_ratio`` is kept on each pair.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from alignlab.data.feedback import FeedbackKind, ReadReport
from alignlab.data.fields import check_assistant_reply, check_messages, check_text_or_messages, describe
from alignlab.data.normalise import split_conversations
from alignlab.data.shape import Outcome, Shape, plural
from alignlab.data.winners import Meaning, Value, fitting, number_like, problem, restated, vote, winner_column
from alignlab.errors import UserInputError

RESPONSE_PAIRS: tuple[tuple[str, str], ...] = (
    ("conversation_a", "conversation_b"),
    ("response_a", "response_b"),
    ("response_1", "response_2"),
    ("response1", "response2"),
    ("responseA", "responseB"),
    ("output_1", "output_2"),
    ("output_a", "output_b"),
    ("completion_a", "completion_b"),
    ("completion_1", "completion_2"),
    ("answer_a", "answer_b"),
    ("answer_1", "answer_2"),
    ("answer1", "answer2"),
    ("output1", "output2"),
    ("completion1", "completion2"),
    ("generation_a", "generation_b"),
    ("generation_1", "generation_2"),
)
PROMPT_KEYS = ("prompt", "question", "instruction", "context", "query", "input", "user_prompt")
VOTE_KEYS = ("winner", "preference", "choice", "label", "vote", "judgment", "judgement", "human_preference")
SIGNED_KEYS = ("overall_preference",)
LIST_VOTE_KEYS = ("votes", "annotations", "judgments", "judgements", "preferences", "individual_preference")
ONE_HOT = ("winner_model_a", "winner_model_b", "winner_tie")
RATER_COLUMN = re.compile(
    r"(annotator|annotation|rater|judge|judgment|judgement|human|labeler|labeller|worker|vote|preference|"
    r"winner|label|choice)s?[ _-]?\d+$",
    re.IGNORECASE,
)
_A = {"a", "model_a", "response_a", "output_a", "answer_a", "completion_a", "assistant_a", "left", "first"}
_B = {"b", "model_b", "response_b", "output_b", "answer_b", "completion_b", "assistant_b", "right", "second"}
_TIE = {"tie", "draw", "equal", "same", "both", "both_good", "tie_(both_good)"}
_BAD = {"tie_(bothbad)", "tie(bothbad)", "tie_bothbad", "bothbad", "both_bad", "neither", "tie_(both_bad)"}


def pair_keys(rec: dict[str, Any]) -> tuple[str, str] | None:
    """The two response fields of a judged pair (their names matched without regard to case)."""
    lower = {k.lower(): k for k in rec if isinstance(k, str)}
    return next(((lower[a.lower()], lower[b.lower()]) for a, b in RESPONSE_PAIRS if a.lower() in lower and b.lower() in lower), None)


def vote_fields(rec: dict[str, Any]) -> list[str]:
    """The fields of ``rec`` that hold votes on its two responses."""
    keys = [k for k in (*VOTE_KEYS, *SIGNED_KEYS, *LIST_VOTE_KEYS) if k in rec]
    keys += [k for k in rec if RATER_COLUMN.search(k) and k not in keys]
    if any(k in rec for k in ONE_HOT):
        keys.append("winner_model_a")
    return keys


def looks_judged(rec: dict[str, Any]) -> bool:
    return pair_keys(rec) is not None and bool(vote_fields(rec))


def parse_vote(value: Any, *, signed: bool = False) -> str | None:
    """``"a"``, ``"b"``, ``"tie"`` or ``"bothbad"`` for a vote word (or, ``signed``, a number below, at or
    above 0); ``None`` when ``value`` is no vote. Other numbers and booleans need their meaning
    (:mod:`alignlab.data.winners`)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if signed:
            return "a" if value < 0 else "b" if value > 0 else "tie"
        return None
    if isinstance(value, str):
        word = re.sub(r"[\s-]+", "_", value.strip().lower())
        if word in {"response_1", "response1", "output_1", "answer_1", "completion_1"}:
            return "a"
        if word in {"response_2", "response2", "output_2", "answer_2", "completion_2"}:
            return "b"
        for vote, words in (("a", _A), ("b", _B), ("tie", _TIE), ("bothbad", _BAD)):
            if word in words:
                return vote
        compared = re.fullmatch(r"([ab12])_?(>+|<+|=+)_?([ab12])", word)  # "A>B", "B>>A", "A=B"
        if compared:
            left, sign, right = compared.groups()
            first = {"a": "a", "1": "a", "b": "b", "2": "b"}
            if sign[0] == "=":
                return "tie"
            better = left if sign[0] == ">" else right
            if first[left] != first[right]:
                return first[better]
    return None


def _vote_items(key: str, value: Any) -> Iterator[Any]:
    """The votes a vote field holds: itself, or each item of a list (the vote inside a dict item)."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            item = next((item[k] for k in ("score", "vote", "winner", "preference", "label", "value") if k in item), None)
        if item is not None:
            yield item


def _meanings(buffer: list[dict[str, Any]], columns: dict[str, str] | None) -> dict[str, Meaning | None]:
    """The meaning of each unsigned vote field's numbers, from the first records: ``number`` where they
    are AlpacaFarm's 1/2, else none; a field whose numbers or booleans could mean several things is an
    error naming it, its values, and the mapping that states their meaning (see
    :mod:`alignlab.data.winners`)."""
    values: dict[str, dict[Value, Any]] = {}
    for rec in buffer:
        if not looks_judged(rec) or any(k in rec for k in ONE_HOT):
            continue
        for key in vote_fields(rec):
            if key in SIGNED_KEYS or key == "individual_preference":
                continue
            found = values.setdefault(key, {})
            for item in _vote_items(key, rec[key]):
                number = number_like(item)
                if number is not None:
                    found.setdefault(number, item)
    mapped = winner_column(columns)
    problems = []
    for key, found in values.items():
        column = mapped if key == "winner" and mapped is not None else key
        line = problem(column, found, None, _stating(column))
        if line is not None:
            first = (fitting(found) or ["index"])[0]
            problems.append(
                f"{line} (e.g. --columns {restated(columns, column, first)}; in a run or sweep file: "
                f"columns: {{winner: \"{column}:{first}\"}})"
            )
    if problems:
        raise UserInputError(problems)
    return {key: ("number" if found else None) for key, found in values.items()}


def _stating(column: str) -> Callable[[Meaning], str]:
    return lambda meaning: f"winner={column}:{meaning}"


def majority(votes: Counter[str]) -> str:
    """``"a"`` or ``"b"`` when that side has more votes than the other and than the ties; else a tie
    (``"bothbad"`` when most tie votes said both were bad)."""
    a, b, ties = votes["a"], votes["b"], votes["tie"] + votes["bothbad"]
    if a > b and a > ties:
        return "a"
    if b > a and b > ties:
        return "b"
    return "bothbad" if votes["bothbad"] > votes["tie"] else "tie"


def agreement(votes: Counter[str]) -> float | None:
    """The fraction of rater pairs that voted the same (both tie kinds count as one), for 2+ votes."""
    counts = [votes["a"], votes["b"], votes["tie"] + votes["bothbad"]]
    n = sum(counts)
    if n < 2:
        return None
    return sum(c * (c - 1) for c in counts) / (n * (n - 1))


class JudgedPairs(Shape):
    """Pairs judged by one or more votes, several rows of one pair merged (see the module docstring)."""

    kind: FeedbackKind = "pairwise"

    def __init__(self, buffer: list[dict[str, Any]] | None = None, columns: dict[str, str] | None = None) -> None:
        self.meanings = _meanings(buffer or [], columns)
        self.items: dict[str, list[Any]] = {}  # key -> [prompt, a, b, votes, rows, tag]
        self.magnitudes = 0
        self.stats: Counter[str] = Counter()
        self.agreement: float | None = None

    def unused_fields(self, rec: dict[str, Any]) -> list[str]:
        keys = pair_keys(rec) or ("", "")
        used = {*keys, *vote_fields(rec), *ONE_HOT, *PROMPT_KEYS, "input"}
        return [k for k in rec if k not in used]

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        keys = pair_keys(rec)
        if keys is None:
            problems.append("no pair of responses (expected e.g. 'response_a' and 'response_b')")
            return None
        before = len(problems)
        parsed = pair_texts(rec, keys, problems)
        votes = self._votes(rec, problems)
        if len(problems) > before or parsed is None:
            return None
        prompt, a, b = parsed
        tag = "arena" if "model_a" in rec or "winner_model_a" in rec else (
            "helpsteer3-preference" if "overall_preference" in rec else "judged-pairs"
        )
        ka, kb = _key(a), _key(b)
        swap = kb < ka
        key = _key(prompt) + "\x00" + (kb + "\x00" + ka if swap else ka + "\x00" + kb)
        if "turn" in rec:
            key += f"\x00{rec['turn']}"
        if swap:
            votes = Counter({"a": votes["b"], "b": votes["a"], "tie": votes["tie"], "bothbad": votes["bothbad"]})
            a, b = b, a
        item = self.items.get(key)
        if item is None:
            self.items[key] = [prompt, a, b, votes, 1, tag]
        else:
            item[3].update(votes)
            item[4] += 1
        return Outcome([], tag, inputs=0)

    def _votes(self, rec: dict[str, Any], problems: list[str]) -> Counter[str]:
        votes: Counter[str] = Counter()
        if any(k in rec for k in ONE_HOT):
            hot = [k for k in ONE_HOT if rec.get(k) in (1, True)]
            if len(hot) != 1:
                problems.append(
                    "fields 'winner_model_a', 'winner_model_b', 'winner_tie': expected exactly one of them "
                    f"to be 1, but got {', '.join(f'{k}={rec.get(k)!r}' for k in ONE_HOT)}"
                )
            else:
                votes[{"winner_model_a": "a", "winner_model_b": "b", "winner_tie": "tie"}[hot[0]]] += 1
            return votes
        individual = rec.get("individual_preference")
        for key in vote_fields(rec):
            if key == "overall_preference" and isinstance(individual, list) and individual:
                continue  # the per-rater votes below count instead of their summary
            signed = key in SIGNED_KEYS or key == "individual_preference"
            for item in _vote_items(key, rec[key]):
                number = None if signed else number_like(item)
                meaning = self.meanings.get(key)
                if number is not None:
                    decided = None if meaning is None else vote(number, meaning)
                    if decided is None:
                        problems.append(
                            f"field '{key}' is {describe(item)} (expected a vote: A/B, model_a/model_b, tie"
                            + (f"; {key} held 1 and 2 in the first records, read as 1 = A, 2 = B" if meaning else
                               f"; a number or a boolean needs its meaning stated, e.g. --columns winner={key}:index")
                            + ")"
                        )
                        continue
                    vote_ = decided
                else:
                    parsed = parse_vote(item, signed=signed)
                    if parsed is None:
                        problems.append(
                            f"field '{key}' is {describe(item)} (expected a vote: A/B, model_a/model_b, tie"
                            + (", or a number below, at or above 0" if signed else "")
                            + ")"
                        )
                        continue
                    vote_ = parsed
                if signed and isinstance(item, int | float) and abs(item) > 1:
                    self.magnitudes += 1
                votes[vote_] += 1
        if not votes and not problems:
            problems.append(f"no votes: fields {', '.join(repr(k) for k in vote_fields(rec))} are all empty")
        return votes

    def finish(self) -> Iterator[Outcome]:
        shares: list[float] = []
        for prompt, a, b, votes, rows, tag in self.items.values():
            self.stats["pairs"] += 1
            self.stats["votes"] += sum(votes.values())
            self.stats["tie_votes"] += votes["tie"] + votes["bothbad"]
            share = agreement(votes)
            if share is not None:
                shares.append(share)
            decision = majority(votes)
            if decision in ("tie", "bothbad"):
                self.stats["ties"] += 1
                yield Outcome([], tag, skip="tie (both bad)" if decision == "bothbad" else "tie", inputs=rows)
                continue
            chosen, rejected = (a, b) if decision == "a" else (b, a)
            yield Outcome([{"prompt": prompt, "chosen": chosen, "rejected": rejected}], tag, inputs=rows)
        self.stats["several"] = len(shares)
        self.agreement = round(sum(shares) / len(shares), 4) if shares else None
        self.items = {}

    def report(self) -> ReadReport:
        stats = self.stats
        report = ReadReport()
        pairs, votes = stats["pairs"], stats["votes"]
        report.raters = {
            "judged_pairs": pairs,
            "votes": votes,
            "votes_per_pair": round(votes / pairs, 3) if pairs else 0.0,
            "pairs_with_several_votes": stats["several"],
            "tie_votes": stats["tie_votes"],
            "ties": stats["ties"],
            "agreement": self.agreement,
        }
        report.made.append(
            f"{plural(pairs - stats['ties'], 'pair')} by majority vote from {plural(pairs, 'judged pair')} "
            f"({plural(votes, 'vote')}); {plural(stats['ties'], 'tie')} not used"
        )
        if stats["several"]:
            report.unused.append(
                f"the individual votes on {plural(stats['several'], 'pair')} with several: each pair keeps only "
                "its majority decision, not how many agreed"
            )
        if self.magnitudes:
            report.unused.append(f"preference strengths (beyond which side won) of {plural(self.magnitudes, 'vote')}")
        return report


class Shp(Shape):
    """Stanford Human Preferences: ``history``, ``human_ref_A``/``B``, ``labels`` (1: A preferred)."""

    kind: FeedbackKind = "pairwise"
    uses = frozenset({"history", "human_ref_A", "human_ref_B", "labels", "score_ratio", "score_A", "score_B"})

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        before = len(problems)
        prompt = check_text_or_messages(rec, "history", problems)
        a = check_text_or_messages(rec, "human_ref_A", problems)
        b = check_text_or_messages(rec, "human_ref_B", problems)
        label = rec.get("labels")
        if isinstance(label, bool) or label not in (0, 1):
            problems.append(f"field 'labels' is {describe(label)} (expected 1 when A is preferred, 0 when B is)")
        ratio = rec.get("score_ratio")
        if ratio is None and isinstance(rec.get("score_A"), int | float) and isinstance(rec.get("score_B"), int | float):
            high, low = sorted((rec["score_A"], rec["score_B"]), reverse=True)
            ratio = high / low if low else None
        if ratio is not None and (not isinstance(ratio, int | float) or isinstance(ratio, bool)):
            problems.append(f"field 'score_ratio' is {describe(ratio)} (expected a number)")
        if len(problems) > before:
            return None
        chosen, rejected = (a, b) if label == 1 else (b, a)
        out: dict[str, Any] = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        if ratio is not None:
            out["score_ratio"] = float(ratio)
        return Outcome([out], "shp")


def pair_texts(rec: dict[str, Any], keys: tuple[str, str], problems: list[str]) -> tuple[Any, Any, Any] | None:
    """The prompt and the two responses of a judged pair (Arena conversations split at their shared start)."""
    a_key, b_key = keys
    if a_key.lower() == "conversation_a":
        conv_a = check_messages(rec.get(a_key), a_key, problems)
        conv_b = check_messages(rec.get(b_key), b_key, problems)
        if conv_a is None or conv_b is None:
            return None
        turn = rec.get("turn")
        if isinstance(turn, int) and not isinstance(turn, bool) and turn >= 1:
            conv_a, conv_b = _up_to_turn(conv_a, turn), _up_to_turn(conv_b, turn)  # MT-Bench judges one turn
        split = split_conversations(conv_a, conv_b, problems)
        return None if split is None else (split[0]["prompt"], split[0]["chosen"], split[0]["rejected"])
    prompt_key = next((k for k in PROMPT_KEYS if k in rec), None)
    if prompt_key is None:
        problems.append(f"no prompt (expected one of {', '.join(repr(k) for k in PROMPT_KEYS)})")
        return None
    decoded = _json_turns(rec, prompt_key, a_key, b_key)
    if decoded is not None:
        return decoded
    prompt = check_text_or_messages(rec, prompt_key, problems)
    a = check_text_or_messages(rec, a_key, problems)
    b = check_text_or_messages(rec, b_key, problems)
    if prompt is None or a is None or b is None:
        return None
    if prompt_key == "instruction" and isinstance(rec.get("input"), str) and rec["input"].strip():
        prompt = f"{prompt}\n{rec['input']}"
    if isinstance(prompt, list):
        a, b = (_as_reply(x) for x in (a, b))
        ok = check_assistant_reply(a, a_key, problems) & check_assistant_reply(b, b_key, problems)
        return (prompt, a, b) if ok else None
    if isinstance(a, list) or isinstance(b, list):
        problems.append(
            f"fields '{prompt_key}', '{a_key}', '{b_key}' mix strings and message lists "
            "(expected all strings, or a message-list prompt)"
        )
        return None
    return prompt, a, b


def _up_to_turn(messages: list[dict[str, str]], turn: int) -> list[dict[str, str]]:
    """The conversation up to its ``turn``-th assistant reply (all of it when it has fewer)."""
    seen = 0
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            seen += 1
            if seen == turn:
                return messages[: i + 1]
    return messages


def _key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _as_reply(value: Any) -> list[dict[str, str]]:
    return value if isinstance(value, list) else [{"role": "assistant", "content": value}]


def _json_turns(rec: dict[str, Any], prompt_key: str, a_key: str, b_key: str) -> tuple[Any, Any, Any] | None:
    """The LMSYS Kaggle release stores each side as a JSON-encoded list of turns; decode it."""
    decoded = []
    for key in (prompt_key, a_key, b_key):
        value = rec.get(key)
        if not isinstance(value, str) or not value.startswith("["):
            return None
        try:
            turns = json.loads(value)
        except json.JSONDecodeError:
            return None
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            return None
        decoded.append(turns)
    prompts, a, b = decoded
    if not prompts or len(a) != len(prompts) or len(b) != len(prompts):
        return None
    if len(prompts) == 1:
        return prompts[0], a[0], b[0]

    def side(replies: list[str]) -> list[dict[str, str]]:
        messages = [{"role": "assistant", "content": replies[0]}]
        for question, reply in zip(prompts[1:], replies[1:], strict=True):
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
        return messages

    return [{"role": "user", "content": prompts[0]}], side(a), side(b)
