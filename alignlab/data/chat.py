"""Chat logs with feedback, OpenAI's preference fine-tuning format, and alpaca-style instruction records.

- Chat messages with a thumbs or rating field: ``messages`` (``[{role, content}]``, the last
  assistant message is the completion, the rest the prompt) and, on the record or on that last
  message (or in a ``metadata`` object), ``thumbs`` / ``thumb`` / ``thumbs_up`` / ``feedback`` /
  ``liked`` / ``vote`` (binary: up/down, 👍/👎, +1/-1, true/false, good/bad, like/dislike; also a
  ``label`` with such words: a boolean ``label`` is LLaMA-Factory's KTO format) or ``rating`` /
  ``score`` / ``stars`` / ``reward`` (scalar: a number). ``feedback`` may be an object holding one.
- OpenAI preference fine-tuning: ``input: {messages}``, ``preferred_output`` and
  ``non_preferred_output`` (one assistant message each).
- Alpaca-style (LLaMA-Factory's alpaca format): ``instruction``, optional ``input`` (the prompt is
  ``instruction`` and ``input`` joined by a newline, as LLaMA-Factory does), optional ``system`` and
  ``history`` (``[[query, reply], ...]``; either makes the prompt a message list), then
  ``chosen``/``rejected`` (DPO; or LLaMA-Factory's older ``output: [chosen, rejected]``), ``output`` with ``kto_tag`` or ``label`` (KTO), or ``output`` alone
  (a demonstration: the prompt is kept, the output is not feedback).
"""

from __future__ import annotations

import math
from typing import Any

from alignlab.data.feedback import FeedbackKind, ReadReport
from alignlab.data.fields import check_label, check_messages, check_present, describe
from alignlab.data.shape import Outcome, Shape, plural

THUMB_KEYS = ("thumbs", "thumb", "thumbs_up", "feedback", "liked", "vote", "label")
RATING_KEYS = ("rating", "score", "stars", "reward")
_UP = {"up", "thumbs_up", "thumbsup", "👍", "+1", "1", "true", "yes", "good", "positive", "like", "liked", "helpful"}
_DOWN = {"down", "thumbs_down", "thumbsdown", "👎", "-1", "0", "false", "no", "bad", "negative", "dislike", "disliked", "unhelpful"}
THUMB_VALUES = "up/down, 👍/👎, +1/-1, true/false, good/bad or like/dislike"


def feedback_value(rec: dict[str, Any]) -> tuple[str, Any] | None:
    """The (key, value) of a chat record's feedback, on the record or on its last message."""
    places: list[dict[str, Any]] = [rec]
    if isinstance(rec.get("metadata"), dict):
        places.append(rec["metadata"])
    messages = rec.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        places.append(messages[-1])
    for place in places:
        for key in (*THUMB_KEYS, *RATING_KEYS):
            if key in place and place[key] is not None:
                value = place[key]
                if isinstance(value, dict):
                    inner = next(((k, v) for k, v in value.items() if k in (*THUMB_KEYS, *RATING_KEYS)), None)
                    if inner is not None:
                        return inner
                return key, value
    return None


def feedback_kind(rec: dict[str, Any]) -> FeedbackKind | None:
    """binary for thumbs, scalar for ratings (a rating of 1 stays a rating)."""
    found = feedback_value(rec)
    if found is None:
        return None
    key, value = found
    if key in RATING_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
        return "scalar"
    return "binary"


def thumb(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return True if value in (1,) else False if value in (0, -1) else None
    if isinstance(value, str):
        word = value.strip().lower().replace(" ", "_")
        return True if word in _UP else False if word in _DOWN else None
    return None


def split_chat(messages: Any, problems: list[str]) -> tuple[list[dict[str, str]], list[dict[str, str]]] | None:
    """(prompt messages, [the last assistant message])."""
    checked = check_messages(messages, "messages", problems)
    if checked is None:
        return None
    if checked[-1]["role"] != "assistant":
        problems.append(
            f"field 'messages' ends with a '{checked[-1]['role']}' message "
            "(expected the last message to be the assistant's completion)"
        )
        return None
    if len(checked) < 2:
        problems.append("field 'messages' holds only the completion (expected prompt messages before it)")
        return None
    return checked[:-1], checked[-1:]


class ChatFeedback(Shape):
    """Chat messages with a thumbs (binary) or rating (scalar) field."""

    uses = frozenset({"messages", *THUMB_KEYS, *RATING_KEYS})

    def __init__(self, kind: FeedbackKind) -> None:
        self.kind = kind

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        before = len(problems)
        found = feedback_value(rec)
        split = split_chat(rec.get("messages"), problems) if check_present(rec, "messages", "a list of messages", problems) else None
        if found is None:
            names = ", ".join(repr(k) for k in (THUMB_KEYS if self.kind == "binary" else RATING_KEYS))
            problems.append(f"no feedback (expected one of {names} on the record or on the last message)")
            return None
        key, value = found
        if self.kind == "binary":
            label = thumb(value)
            if label is None:
                problems.append(f"field '{key}' is {describe(value)} (expected {THUMB_VALUES})")
        else:
            score = float(value) if _finite(value) else None
            if score is None:
                problems.append(f"field '{key}' is {describe(value)} (expected a finite number: a rating)")
        if len(problems) > before or split is None:
            return None
        prompt, completion = split
        if self.kind == "binary":
            return Outcome([{"prompt": prompt, "completion": completion, "label": label}], "chat-thumbs")
        return Outcome([{"prompt": prompt, "completion": completion, "score": score}], "chat-rating")


def _content_parts(messages: Any) -> Any:
    """OpenAI content may be a list of parts ``[{type: text, text}]``: join the texts."""
    if not isinstance(messages, list):
        return messages
    out = []
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), list):
            parts = message["content"]
            text = "".join(p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") in ("text", "input_text", "output_text"))
            message = {**message, "content": text}
        out.append(message)
    return out


class OpenAIPreference(Shape):
    """OpenAI's preference fine-tuning records."""

    kind: FeedbackKind = "pairwise"
    uses = frozenset({"input", "preferred_output", "non_preferred_output"})

    def __init__(self) -> None:
        self.tools = 0

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        before = len(problems)
        source = rec.get("input")
        if not isinstance(source, dict):
            problems.append(f"field 'input' is {describe(source)} (expected an object with 'messages')")
            return None
        if source.get("tools"):
            self.tools += 1
        prompt = check_messages(_content_parts(source.get("messages")), "input.messages", problems)
        sides = {}
        for name in ("preferred_output", "non_preferred_output"):
            side = check_messages(_content_parts(rec.get(name)), name, problems)
            if side is not None and side[0]["role"] != "assistant":
                problems.append(f"field '{name}' starts with a '{side[0]['role']}' message (expected the assistant's reply)")
            sides[name] = side
        if len(problems) > before or prompt is None:
            return None
        return Outcome(
            [{"prompt": prompt, "chosen": sides["preferred_output"], "rejected": sides["non_preferred_output"]}],
            "openai-preference",
        )

    def report(self) -> ReadReport:
        report = ReadReport()
        if self.tools:
            report.unused.append(f"tool definitions in {plural(self.tools, 'record')}")
        return report


class Alpaca(Shape):
    """Alpaca-style records (see the module docstring); ``kind`` picks DPO, KTO or demonstrations."""

    uses = frozenset({"instruction", "input", "system", "history", "chosen", "rejected", "output", "kto_tag", "label"})

    def __init__(self, kind: FeedbackKind) -> None:
        self.kind = kind

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        before = len(problems)
        prompt = alpaca_prompt(rec, problems)
        if self.kind == "pairwise":
            output = rec.get("output")
            if "chosen" not in rec and isinstance(output, list) and len(output) == 2:
                sides = list(output)  # LLaMA-Factory's older ranking records: output = [chosen, rejected]
                for side in sides:
                    if not isinstance(side, str):
                        problems.append(f"field 'output' holds {describe(side)} (expected [chosen, rejected] strings)")
            else:
                sides = [self._text(rec, name, problems) for name in ("chosen", "rejected")]
            if len(problems) > before or prompt is None:
                return None
            chosen, rejected = (_reply(s, prompt) for s in sides)
            return Outcome([{"prompt": prompt, "chosen": chosen, "rejected": rejected}], "alpaca-dpo")
        output = self._text(rec, "output", problems)
        if self.kind == "binary":
            tag_key = "kto_tag" if "kto_tag" in rec else "label"
            label = check_label({"label": rec.get(tag_key)}, problems) if tag_key in rec else None
            if tag_key not in rec:
                problems.append("field 'kto_tag' is missing (expected true or false; 'label' is also accepted)")
            if len(problems) > before or prompt is None:
                return None
            return Outcome([{"prompt": prompt, "completion": _reply(output, prompt), "label": label}], "alpaca-kto")
        if len(problems) > before or prompt is None:
            return None
        return Outcome([{"prompt": prompt}], "alpaca")

    @staticmethod
    def _text(rec: dict[str, Any], name: str, problems: list[str]) -> str | None:
        value = rec.get(name)
        if isinstance(value, dict) and isinstance(value.get("value", value.get("content")), str):
            value = value.get("value", value.get("content"))  # LLaMA-Factory sometimes wraps a reply
        if not isinstance(value, str):
            problems.append(f"field '{name}' is {describe(value) if name in rec else 'missing'} (expected a string)")
            return None
        return value

    def report(self) -> ReadReport:
        report = ReadReport()
        if self.kind == "prompt":
            report.unused.append("the 'output' demonstrations (SFT data, not feedback): only the prompts are read")
        return report


def alpaca_prompt(rec: dict[str, Any], problems: list[str]) -> str | list[dict[str, str]] | None:
    instruction = rec.get("instruction")
    if not isinstance(instruction, str):
        problems.append(f"field 'instruction' is {describe(instruction) if 'instruction' in rec else 'missing'} (expected a string)")
        return None
    extra = rec.get("input")
    if extra is not None and not isinstance(extra, str):
        problems.append(f"field 'input' is {describe(extra)} (expected a string)")
        return None
    query = f"{instruction}\n{extra}" if extra else instruction
    if "system" not in rec and "history" not in rec:
        return query
    messages: list[dict[str, str]] = []
    system = rec.get("system")
    if system:
        if not isinstance(system, str):
            problems.append(f"field 'system' is {describe(system)} (expected a string)")
            return None
        messages.append({"role": "system", "content": system})
    for n, turn in enumerate(rec.get("history") or [], start=1):
        if not (isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn)):
            problems.append(f"field 'history' turn {n} is {describe(turn)} (expected [query, reply])")
            return None
        messages += [{"role": "user", "content": turn[0]}, {"role": "assistant", "content": turn[1]}]
    return [*messages, {"role": "user", "content": query}]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _reply(text: Any, prompt: Any) -> Any:
    return [{"role": "assistant", "content": text}] if isinstance(prompt, list) else text
