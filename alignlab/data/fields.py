"""How a feedback record's fields are checked: strings, message lists, roles, labels, scores.

Each check appends a problem line (naming the field and what was expected) and returns None when the
value is unusable, so every problem of a record is reported at once.
"""

from __future__ import annotations

import math
from typing import Any

HH_ASSISTANT = "\n\nAssistant:"
ROLES = {
    "system": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "human": "user",
    "gpt": "assistant",
}
ROLE_LIST = "system, user, assistant, tool (or sharegpt's human, gpt)"
STR_OR_MESSAGES = "a string or a list of messages"
SCORE_FIELDS = ("score", "rating", "reward")
FEEDBACK_FIELDS = frozenset(
    {"chosen", "rejected", "completion", "response", "label", "messages", "conversations", *SCORE_FIELDS}
)


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object with keys {" + ", ".join(repr(k) for k in list(value)[:6]) + "}"
    return f"a {type(value).__name__}"


def check_present(rec: dict[str, Any], name: str, expected: str, problems: list[str]) -> bool:
    if name not in rec:
        problems.append(f"field '{name}' is missing (expected {expected})")
        return False
    if rec[name] is None:
        problems.append(f"field '{name}' is null (expected {expected})")
        return False
    return True


def check_messages(value: Any, name: str, problems: list[str]) -> list[dict[str, str]] | None:
    """Validate a message list ({role, content} or sharegpt {from, value}); return {role, content} dicts."""
    if not isinstance(value, list):
        problems.append(f"field '{name}' is {describe(value)} (expected a list of messages)")
        return None
    if not value:
        problems.append(f"field '{name}' is an empty list (expected at least one message)")
        return None
    out: list[dict[str, str]] = []
    before = len(problems)
    for n, message in enumerate(value, start=1):
        message_out = check_message(message, f"field '{name}' message {n}", problems)
        if message_out is not None:
            out.append(message_out)
    return out if len(problems) == before else None


def check_message(message: Any, where: str, problems: list[str]) -> dict[str, str] | None:
    if not isinstance(message, dict):
        problems.append(f"{where} is {describe(message)} (expected an object with 'role' and 'content')")
        return None
    role_key, content_key = (
        ("from", "value") if "from" in message or "value" in message else ("role", "content")
    )
    role, content = message.get(role_key), message.get(content_key)
    ok = True
    if not isinstance(role, str) or role.lower() not in ROLES:
        got = "missing" if role_key not in message else describe(role)
        problems.append(f"{where}: '{role_key}' is {got} (expected one of {ROLE_LIST})")
        ok = False
    if not isinstance(content, str):
        got = "missing" if content_key not in message else describe(content)
        problems.append(f"{where}: '{content_key}' is {got} (expected a string)")
        ok = False
    if not ok:
        return None
    assert isinstance(role, str) and isinstance(content, str)
    return {"role": ROLES[role.lower()], "content": content}


def check_text_or_messages(
    rec: dict[str, Any], name: str, problems: list[str]
) -> str | list[dict[str, str]] | None:
    if not check_present(rec, name, STR_OR_MESSAGES, problems):
        return None
    value = rec[name]
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return check_messages(value, name, problems)
    problems.append(f"field '{name}' is {describe(value)} (expected {STR_OR_MESSAGES})")
    return None


def check_assistant_reply(messages: list[dict[str, str]], name: str, problems: list[str]) -> bool:
    if messages[0]["role"] != "assistant":
        problems.append(
            f"field '{name}' starts with a '{messages[0]['role']}' message "
            "(expected the assistant's reply: role 'assistant')"
        )
        return False
    return True


def check_same_style(rec: dict[str, Any], names: tuple[str, ...], problems: list[str]) -> bool:
    """Strings everywhere or message lists everywhere, as TRL requires within a record."""
    kinds = {isinstance(rec[n], list) for n in names}
    if len(kinds) > 1:
        listed = ", ".join(f"'{n}'" for n in names)
        problems.append(
            f"fields {listed} mix strings and message lists (expected all strings or all message lists)"
        )
        return False
    return True


def check_label(rec: dict[str, Any], problems: list[str]) -> bool | None:
    if not check_present(rec, "label", "true or false", problems):
        return None
    value = rec["label"]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    problems.append(f"field 'label' is {describe(value)} (expected true or false, or 1/0)")
    return None


def check_score(rec: dict[str, Any], problems: list[str]) -> float | None:
    name = next((n for n in SCORE_FIELDS if n in rec), "score")
    if not check_present(rec, name, "a number; 'rating' or 'reward' are also accepted", problems):
        return None
    value = rec[name]
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    problems.append(f"field '{name}' is {describe(value)} (expected a finite number)")
    return None
