"""Detect which feedback format a file holds, validate every record, and normalise to TRL shapes.

Accepted shapes (the first column is the ``format`` reported):

==========================  ========  =====================================================================
format                      kind      fields
==========================  ========  =====================================================================
``trl-standard``            pairwise  ``prompt``, ``chosen``, ``rejected``: strings
``trl-conversational``      pairwise  the same as message lists (``prompt`` may be left out: it is then the
                                      leading messages ``chosen`` and ``rejected`` share)
``hh-rlhf``                 pairwise  ``chosen``, ``rejected``: ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``
                                      transcripts; prompt = their shared prefix up to and including the
                                      last ``"\\n\\nAssistant:"``, completions = the rest
``llama-factory-sharegpt``  pairwise  ``conversations`` [{from, value}], ``chosen``/``rejected`` {from,
                                      value}, optional ``system``; human->user, gpt->assistant
``trl-unpaired``            binary    ``prompt``, ``completion``, ``label`` (true/false, or 1/0)
``llama-factory-kto``       binary    ``messages`` [{role, content}], ``label``; the last (assistant)
                                      message is the completion, the rest the prompt
``scalar``                  scalar    ``prompt``, ``completion`` (or ``response``), ``score`` (or
                                      ``rating``, ``reward``): a number
``prompt-only``             prompt    ``prompt``
==========================  ========  =====================================================================

Detection votes: each record is matched by its field names, and the format most records match wins
(ties go to the earlier row above). Every record is then validated against the winner, so one bad
record is reported as a bad record, not as a different format.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from alignlab.data.feedback import KINDS, FeedbackData, FeedbackKind
from alignlab.data.readers import RawRecord, read_records
from alignlab.errors import UserInputError

#: At most this many problem lines in one error; the rest are counted.
MAX_PROBLEMS = 20

HH_ASSISTANT = "\n\nAssistant:"
_ROLES = {
    "system": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "human": "user",
    "gpt": "assistant",
}
_ROLE_LIST = "system, user, assistant, tool (or sharegpt's human, gpt)"
_STR_OR_MESSAGES = "a string or a list of messages"
_SCORE_FIELDS = ("score", "rating", "reward")
_FEEDBACK_FIELDS = frozenset(
    {"chosen", "rejected", "completion", "response", "label", "messages", "conversations", *_SCORE_FIELDS}
)

Normaliser = Callable[[dict[str, Any], list[str]], tuple[dict[str, Any], str] | None]


@dataclass(frozen=True)
class _Format:
    """One accepted source shape."""

    name: str
    """The name reported as ``FeedbackData.format`` (the pairwise TRL family refines it per record)."""
    kind: FeedbackKind
    """The kind of feedback it holds."""
    shape: str
    """Its fields, as shown in the "cannot tell the format" message."""
    matches: Callable[[set[str]], bool]
    """Whether a record with these field names looks like this format."""
    normalise: Normaliser
    """Validate one record (appending problems) and return it in TRL shape with its format tag."""


def load_feedback(
    path: str | Path, *, skip_invalid: bool = False, kind: FeedbackKind | None = None
) -> FeedbackData:
    """Load a feedback file, detect its kind and format, validate every record, normalise to TRL shapes.

    ``skip_invalid`` skips records that fail validation (listed in ``skipped``) instead of raising.
    ``kind`` restricts detection to formats of that kind and fails if the file holds another kind.
    Raises :class:`UserInputError` listing every problem (at most :data:`MAX_PROBLEMS` lines).
    """
    if kind is not None and kind not in {f.kind for f in FORMATS}:
        raise UserInputError(
            f"kind={kind!r} is not a feedback kind; expected one of pairwise, binary, scalar, prompt"
        )
    source = os.fspath(path)
    raw = read_records(path)
    return normalise_records(raw, source=source, skip_invalid=skip_invalid, kind=kind)


def normalise_records(
    raw: list[RawRecord], *, source: str, skip_invalid: bool = False, kind: FeedbackKind | None = None
) -> FeedbackData:
    """Detect, validate and normalise already-read records (see :func:`load_feedback`)."""
    bad: dict[int, list[str]] = {}
    for i, record in enumerate(raw):
        if record.error is not None:
            bad[i] = [record.error]
        elif not isinstance(record.value, dict):
            bad[i] = [f"expected a JSON object with named fields, got {_describe(record.value)}"]
    if len(bad) == len(raw):
        _fail(raw, bad, source, skip_invalid=skip_invalid)
    fmt = _detect(raw, bad, source, kind)

    normalised: dict[int, tuple[dict[str, Any], str]] = {}
    for i, record in enumerate(raw):
        if i in bad:
            continue
        problems: list[str] = []
        result = fmt.normalise(record.value, problems)
        if problems or result is None:
            bad[i] = problems or ["invalid record"]
        else:
            normalised[i] = result

    # One style per file: TRL cannot batch strings with message lists.
    styles = {i: isinstance(rec["prompt"], list) for i, (rec, _) in normalised.items()}
    if styles and len(set(styles.values())) > 1:
        majority = Counter(styles.values()).most_common(1)[0][0]
        want, got = ("message lists", "a string") if majority else ("strings", "a message list")
        for i, style in styles.items():
            if style != majority:
                bad[i] = [
                    f"field 'prompt' is {got} but most records use {want} (expected one style per file)"
                ]
                del normalised[i]

    skipped: list[str] = []
    if bad:
        if not skip_invalid or not normalised:
            _fail(raw, bad, source, skip_invalid=skip_invalid)
        skipped = [f"{raw[i].where}: {'; '.join(problems)}" for i, problems in sorted(bad.items())]
    tags = Counter(tag for _, tag in normalised.values())
    records = [rec for _, (rec, _) in sorted(normalised.items())]
    return FeedbackData(
        kind=fmt.kind, format=tags.most_common(1)[0][0], records=records, source=source, skipped=skipped
    )


def _detect(
    raw: list[RawRecord], bad: dict[int, list[str]], source: str, kind: FeedbackKind | None
) -> _Format:
    votes: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for i, record in enumerate(raw):
        if i in bad:
            continue
        keys = set(record.value)
        seen.update(list(record.value))  # a list: first-seen order breaks ties
        for fmt in FORMATS:
            if fmt.matches(keys):
                votes[fmt.name] += 1

    def best(candidates: Sequence[_Format]) -> _Format | None:
        ranked = [f for f in candidates if votes[f.name] > 0]
        return max(ranked, key=lambda f: votes[f.name], default=None)  # max keeps the first of ties

    found = best([f for f in FORMATS if kind is None or f.kind == kind])
    if found is not None:
        return found
    other = best(FORMATS)
    if kind is not None and other is not None:
        raise UserInputError(
            f"{source}: expected {kind} feedback, but the records look like {other.kind} feedback "
            f"(format {other.name}); convert them first (alignlab data convert --to {kind})"
        )
    fields = ", ".join(repr(k) for k, _ in seen.most_common(12)) + (", ..." if len(seen) > 12 else "")
    candidates = sorted(
        (f for f in FORMATS if kind is None or f.kind == kind), key=lambda f: KINDS.index(f.kind)
    )
    accepted = "; ".join(f"{f.kind} {f.shape}" for f in candidates)
    raise UserInputError(
        f"{source}: cannot tell the feedback format from the fields {{{fields}}}; accepted shapes: {accepted}"
    )


def _fail(raw: list[RawRecord], bad: dict[int, list[str]], source: str, *, skip_invalid: bool) -> NoReturn:
    lines = [f"{raw[i].where}: {problem}" for i, problems in sorted(bad.items()) for problem in problems]
    if skip_invalid:  # every record was invalid: say so, then show why
        lines.insert(0, f"{source}: no valid records ({len(bad)} invalid, all skipped)")
    raise UserInputError(cap_problems(lines))


def cap_problems(lines: list[str], limit: int = MAX_PROBLEMS) -> list[str]:
    """The first ``limit`` lines, plus ``"... and N more problems"`` when there are more."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"... and {len(lines) - limit} more problems"]


# ----------------------------------------------------------------------------------- field checks


def _describe(value: Any) -> str:
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


def _present(rec: dict[str, Any], name: str, expected: str, problems: list[str]) -> bool:
    if name not in rec:
        problems.append(f"field '{name}' is missing (expected {expected})")
        return False
    if rec[name] is None:
        problems.append(f"field '{name}' is null (expected {expected})")
        return False
    return True


def _messages(value: Any, name: str, problems: list[str]) -> list[dict[str, str]] | None:
    """Validate a message list ({role, content} or sharegpt {from, value}); return {role, content} dicts."""
    if not isinstance(value, list):
        problems.append(f"field '{name}' is {_describe(value)} (expected a list of messages)")
        return None
    if not value:
        problems.append(f"field '{name}' is an empty list (expected at least one message)")
        return None
    out: list[dict[str, str]] = []
    before = len(problems)
    for n, message in enumerate(value, start=1):
        message_out = _message(message, f"field '{name}' message {n}", problems)
        if message_out is not None:
            out.append(message_out)
    return out if len(problems) == before else None


def _message(message: Any, where: str, problems: list[str]) -> dict[str, str] | None:
    if not isinstance(message, dict):
        problems.append(f"{where} is {_describe(message)} (expected an object with 'role' and 'content')")
        return None
    role_key, content_key = (
        ("from", "value") if "from" in message or "value" in message else ("role", "content")
    )
    role, content = message.get(role_key), message.get(content_key)
    ok = True
    if not isinstance(role, str) or role.lower() not in _ROLES:
        got = "missing" if role_key not in message else _describe(role)
        problems.append(f"{where}: '{role_key}' is {got} (expected one of {_ROLE_LIST})")
        ok = False
    if not isinstance(content, str):
        got = "missing" if content_key not in message else _describe(content)
        problems.append(f"{where}: '{content_key}' is {got} (expected a string)")
        ok = False
    if not ok:
        return None
    assert isinstance(role, str) and isinstance(content, str)
    return {"role": _ROLES[role.lower()], "content": content}


def _text_or_messages(
    rec: dict[str, Any], name: str, problems: list[str]
) -> str | list[dict[str, str]] | None:
    if not _present(rec, name, _STR_OR_MESSAGES, problems):
        return None
    value = rec[name]
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _messages(value, name, problems)
    problems.append(f"field '{name}' is {_describe(value)} (expected {_STR_OR_MESSAGES})")
    return None


def _assistant_reply(messages: list[dict[str, str]], name: str, problems: list[str]) -> bool:
    if messages[0]["role"] != "assistant":
        problems.append(
            f"field '{name}' starts with a '{messages[0]['role']}' message "
            "(expected the assistant's reply: role 'assistant')"
        )
        return False
    return True


def _same_style(rec: dict[str, Any], names: tuple[str, ...], problems: list[str]) -> bool:
    """Strings everywhere or message lists everywhere, as TRL requires within a record."""
    kinds = {isinstance(rec[n], list) for n in names}
    if len(kinds) > 1:
        listed = ", ".join(f"'{n}'" for n in names)
        problems.append(
            f"fields {listed} mix strings and message lists (expected all strings or all message lists)"
        )
        return False
    return True


def _label(rec: dict[str, Any], problems: list[str]) -> bool | None:
    if not _present(rec, "label", "true or false", problems):
        return None
    value = rec["label"]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    problems.append(f"field 'label' is {_describe(value)} (expected true or false, or 1/0)")
    return None


def _score(rec: dict[str, Any], problems: list[str]) -> float | None:
    name = next((n for n in _SCORE_FIELDS if n in rec), "score")
    if not _present(rec, name, "a number; 'rating' or 'reward' are also accepted", problems):
        return None
    value = rec[name]
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    problems.append(f"field '{name}' is {_describe(value)} (expected a finite number)")
    return None


# ------------------------------------------------------------------------------------ normalisers


def _pairwise(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    if "prompt" in rec:
        prompt = _text_or_messages(rec, "prompt", problems)
        chosen = _text_or_messages(rec, "chosen", problems)
        rejected = _text_or_messages(rec, "rejected", problems)
        if len(problems) > before or not _same_style(rec, ("prompt", "chosen", "rejected"), problems):
            return None
        if isinstance(chosen, list) and isinstance(rejected, list):
            ok = _assistant_reply(chosen, "chosen", problems) & _assistant_reply(
                rejected, "rejected", problems
            )
            return (
                ({"prompt": prompt, "chosen": chosen, "rejected": rejected}, "trl-conversational")
                if ok
                else None
            )
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}, "trl-standard"

    chosen = _text_or_messages(rec, "chosen", problems)
    rejected = _text_or_messages(rec, "rejected", problems)
    if len(problems) > before or not _same_style(rec, ("chosen", "rejected"), problems):
        return None
    if isinstance(chosen, str) and isinstance(rejected, str):
        return _split_hh(chosen, rejected, problems)
    assert isinstance(chosen, list) and isinstance(rejected, list)
    return _split_conversations(chosen, rejected, problems)


def _split_hh(chosen: str, rejected: str, problems: list[str]) -> tuple[dict[str, Any], str] | None:
    shared = chosen[: _common_prefix_length(chosen, rejected)]
    cut = shared.rfind(HH_ASSISTANT)
    if cut < 0:
        if HH_ASSISTANT in chosen:
            problems.append(
                "fields 'chosen' and 'rejected' share no '\\n\\nAssistant:' turn, so the prompt cannot be "
                "inferred (expected HH-RLHF transcripts that differ only after the last shared turn)"
            )
        else:
            problems.append(
                f"field 'prompt' is missing (expected {_STR_OR_MESSAGES}; without it, 'chosen' and "
                "'rejected' must be HH-RLHF transcripts '\\n\\nHuman: ...\\n\\nAssistant: ...')"
            )
        return None
    end = cut + len(HH_ASSISTANT)
    return {"prompt": chosen[:end], "chosen": chosen[end:], "rejected": rejected[end:]}, "hh-rlhf"


def _common_prefix_length(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low] and a[:high] != b[:high]: bisect on slices (C speed)
    while high - low > 1:
        mid = (low + high) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid
    return low


def _split_conversations(
    chosen: list[dict[str, str]], rejected: list[dict[str, str]], problems: list[str]
) -> tuple[dict[str, Any], str] | None:
    limit = min(len(chosen), len(rejected)) - 1  # each side keeps at least its last message
    shared = 0
    while shared < limit and chosen[shared] == rejected[shared]:
        shared += 1
    if shared == 0:
        problems.append(
            "field 'prompt' is missing and 'chosen' and 'rejected' share no leading messages to infer it from "
            "(expected a 'prompt' field, or two conversations that start with the same prompt)"
        )
        return None
    prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    ok = _assistant_reply(chosen, "chosen", problems) & _assistant_reply(rejected, "rejected", problems)
    return ({"prompt": prompt, "chosen": chosen, "rejected": rejected}, "trl-conversational") if ok else None


def _sharegpt(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    prompt: list[dict[str, str]] | None = None
    if _present(rec, "conversations", "a list of {from, value} turns", problems):
        prompt = _messages(rec["conversations"], "conversations", problems)
    if prompt is not None and prompt[-1]["role"] != "user":
        problems.append(
            f"field 'conversations' ends with a '{prompt[-1]['role']}' turn (expected the prompt to end with a human turn)"
        )
    system = rec.get("system")
    if system is not None and not isinstance(system, str):
        problems.append(f"field 'system' is {_describe(system)} (expected a string)")
    replies = {}
    for name in ("chosen", "rejected"):
        if not _present(rec, name, "a {from, value} turn", problems):
            continue
        value = rec[name]
        message = _message(value, f"field '{name}'", problems) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            problems.append(f"field '{name}' is {_describe(value)} (expected a {{from, value}} turn)")
        elif message is not None and message["role"] != "assistant":
            problems.append(
                f"field '{name}' is from '{value.get('from', value.get('role'))}' (expected 'gpt')"
            )
        else:
            replies[name] = message
    if len(problems) > before or prompt is None:
        return None
    if system and prompt[0]["role"] != "system":
        prompt = [{"role": "system", "content": system}, *prompt]
    return {
        "prompt": prompt,
        "chosen": [replies["chosen"]],
        "rejected": [replies["rejected"]],
    }, "llama-factory-sharegpt"


def _unpaired(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    prompt = _text_or_messages(rec, "prompt", problems)
    completion = _text_or_messages(rec, "completion", problems)
    label = _label(rec, problems)
    if len(problems) > before or not _same_style(rec, ("prompt", "completion"), problems):
        return None
    if isinstance(completion, list) and not _assistant_reply(completion, "completion", problems):
        return None
    return {"prompt": prompt, "completion": completion, "label": label}, "trl-unpaired"


def _kto(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    messages: list[dict[str, str]] | None = None
    if _present(rec, "messages", "a list of {role, content} messages", problems):
        messages = _messages(rec["messages"], "messages", problems)
    label = _label(rec, problems)
    if messages is not None:
        if messages[-1]["role"] != "assistant":
            problems.append(
                f"field 'messages' ends with a '{messages[-1]['role']}' message "
                "(expected the last message to be the assistant's completion)"
            )
        elif len(messages) < 2:
            problems.append("field 'messages' holds only the completion (expected prompt messages before it)")
    if len(problems) > before or messages is None:
        return None
    return {"prompt": messages[:-1], "completion": messages[-1:], "label": label}, "llama-factory-kto"


def _scalar(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    prompt = _text_or_messages(rec, "prompt", problems)
    name = "completion" if "completion" in rec or "response" not in rec else "response"
    completion: str | list[dict[str, str]] | None
    if name not in rec:
        problems.append(
            f"field 'completion' is missing (expected {_STR_OR_MESSAGES}; 'response' is also accepted)"
        )
        completion = None
    else:
        completion = _text_or_messages(rec, name, problems)
    score = _score(rec, problems)
    if len(problems) > before or not _same_style(rec, ("prompt", name), problems):
        return None
    if isinstance(completion, list) and not _assistant_reply(completion, name, problems):
        return None
    return {"prompt": prompt, "completion": completion, "score": score}, "scalar"


def _prompt_only(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    prompt = _text_or_messages(rec, "prompt", problems)
    return None if prompt is None else ({"prompt": prompt}, "prompt-only")


FORMATS: tuple[_Format, ...] = (
    _Format(
        "llama-factory-sharegpt",
        "pairwise",
        "LLaMA-Factory {conversations: [{from, value}], chosen: {from, value}, rejected: {from, value}}",
        lambda k: "conversations" in k and bool(k & {"chosen", "rejected"}),
        _sharegpt,
    ),
    _Format(
        "llama-factory-kto",
        "binary",
        "LLaMA-Factory {messages: [{role, content}], label: bool}",
        lambda k: "messages" in k and "label" in k,
        _kto,
    ),
    _Format(
        "trl-standard",
        "pairwise",
        "{prompt, chosen, rejected} as strings or message lists, or HH-RLHF {chosen, rejected} transcripts",
        lambda k: bool(k & {"chosen", "rejected"}) and "conversations" not in k,
        _pairwise,
    ),
    _Format(
        "trl-unpaired",
        "binary",
        "{prompt, completion, label: bool}",
        lambda k: "label" in k and "messages" not in k and bool(k & {"prompt", "completion"}),
        _unpaired,
    ),
    _Format(
        "scalar",
        "scalar",
        "{prompt, completion or response, score or rating or reward: number}",
        lambda k: bool(k & set(_SCORE_FIELDS)) and bool(k & {"prompt", "completion", "response"}),
        _scalar,
    ),
    _Format(
        "prompt-only",
        "prompt",
        "{prompt}",
        lambda k: "prompt" in k and not k & _FEEDBACK_FIELDS,
        _prompt_only,
    ),
)
"""The accepted formats, in tie-breaking order."""
