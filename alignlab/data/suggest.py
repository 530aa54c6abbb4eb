"""The column mapping that would read a file no shape fits, guessed for the error message.

From the field names and the values of the first records it recognises:

- TRL's fields under other names (``instruction``, ``output_good``, ``output_bad``);
- a prompt inside an object (``info.post``, ``question.full_text``);
- two responses named alike, ``response_0``/``response_1`` (or ``r0``/``r1``, ``answer_a``/``answer_b``),
  with two scores named alike (``score_0``/``score_1``: ``score_a``/``score_b``) or an integer field
  holding 0/1 or 1/2 (the winner's index: ``winner=better_response_id:index``);
- a list of two responses and an integer field picking the better one
  (``chosen=summaries[choice].text,rejected=summaries[1-choice].text``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from alignlab.data.fields import describe
from alignlab.data.paths import quote

_GUESSES: tuple[tuple[str, str], ...] = (
    ("prompt", r"^(prompt|question|instruction|query|input|context|post|history|request|user|source_text|text|conversation)"),
    ("chosen", r"(chosen|prefer|better|good|positive|accept|win|pos\b|pos_)"),
    ("rejected", r"(reject|worse|bad|negative|disprefer|lose|loser|neg\b|neg_)"),
    ("completion", r"(completion|response|answer|output|reply|generation|target|assistant)"),
    ("label", r"(label|thumb|feedback|liked|is_good|approved|vote|helpful|desirable)"),
    ("score", r"(score|rating|reward|grade|quality|stars)"),
)
#: Keys of an object that hold its text, best first (``info.post``, ``question.full_text``).
_TEXT_KEYS = (
    "full_text", "post", "article", "text", "content", "question", "prompt", "query", "instruction", "body", "value"
)
#: Names of a field holding the better response's index.
_WINNER = re.compile(r"(better|prefer|winner|choice|chosen|label|pick|best|win)", re.IGNORECASE)
#: Two names alike but for their ends: the suffixes of a pair of responses, first and second.
_SUFFIXES = (("0", "1"), ("1", "2"), ("a", "b"), ("A", "B"))


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and bool(value) and all(isinstance(m, dict) for m in value)
    )


def _fits(target: str, value: Any) -> bool:
    if target == "label":
        return isinstance(value, bool) or value in (0, 1) or (isinstance(value, str) and len(value) < 16)
    if target == "score":
        return _is_number(value)
    return _is_text(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ints(records: Sequence[dict[str, Any]], name: str) -> set[int] | None:
    """The distinct values of field ``name`` when every record holds an integer there."""
    values = [rec.get(name) for rec in records]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return set(values)  # type: ignore[arg-type]


def _pairs(seen: dict[str, Any], fits: Any) -> list[tuple[str, str]]:
    """Fields named alike but for their ends (``answer_0``/``answer_1``) whose values pass ``fits``."""
    out = []
    for name, value in seen.items():
        for first, second in _SUFFIXES:
            if name.endswith(first) and len(name) > len(first):
                other = name[: -len(first)] + second
                if other in seen and fits(value) and fits(seen[other]):
                    out.append((name, other))
    return out


def _nested_prompt(seen: dict[str, Any]) -> str | None:
    """``info.post``: a text inside an object, the object named like a prompt first."""
    objects = [n for n, v in seen.items() if isinstance(v, dict)]
    objects.sort(key=lambda n: not re.search(_GUESSES[0][1], n, re.IGNORECASE))
    for name in objects:
        for key in _TEXT_KEYS:
            if isinstance(seen[name].get(key), str):
                return f"{quote(name)}.{quote(key)}"
    return None


def _judged(seen: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, str] | None:
    """Two responses named alike, and two scores named alike or an index of the better one."""
    pairs = _pairs(seen, _is_text)
    if not pairs:
        return None
    pairs.sort(key=lambda p: not re.search(_GUESSES[3][1], p[0], re.IGNORECASE))
    a, b = pairs[0]
    picked = {"response_a": quote(a), "response_b": quote(b)}
    scores = [p for p in _pairs(seen, _is_number) if re.search(_GUESSES[5][1], p[0], re.IGNORECASE)]
    if scores:
        return {**picked, "score_a": quote(scores[0][0]), "score_b": quote(scores[0][1])}
    indexes = []
    for name in seen:
        values = _ints(records, name)
        if values is not None and name not in (a, b) and (values <= {0, 1} or values <= {1, 2}):
            indexes.append((name, "index" if values <= {0, 1} else "number"))
    named = [i for i in indexes if _WINNER.search(i[0])]
    if named or len(indexes) == 1:
        name, meaning = (named or indexes)[0]
        return {**picked, "winner": f"{quote(name)}:{meaning}"}
    return None


def _picked(seen: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, str] | None:
    """A list of two responses and an integer field (0/1) naming the better one."""
    for name, value in seen.items():
        if not isinstance(value, list) or len(value) != 2:
            continue
        if all(isinstance(v, str) for v in value):
            tail = ""
        elif all(isinstance(v, dict) for v in value):
            key = next((k for k in ("text", "content", "response", "answer", "output", "completion", "summary")
                        if all(isinstance(v.get(k), str) for v in value)), None)
            if key is None:
                continue
            tail = "." + quote(key)
        else:
            continue
        for index in seen:
            values = _ints(records, index)
            if values is not None and values <= {0, 1} and index != name:
                n, i = quote(name), quote(index)
                return {"chosen": f"{n}[{i}]{tail}", "rejected": f"{n}[1-{i}]{tail}"}
    return None


def suggest_mapping(
    seen: dict[str, Any], records: Sequence[dict[str, Any]] = ()
) -> tuple[dict[str, str], str] | None:
    """A guessed mapping for fields ``seen`` (name -> a sample value) of ``records``, and what it would
    read the file as; ``None`` when no prompt can be guessed."""
    records = records or [seen]
    picked: dict[str, str] = {}
    judged = _judged(seen, records) or _picked(seen, records)
    taken = {n for s in (judged or {}).values() for n in re.findall(r"[\w-]+", s)}
    for target, pattern in _GUESSES:
        for name, value in seen.items():
            if name in picked.values() or name in taken or not re.search(pattern, name, re.IGNORECASE):
                continue
            if _fits(target, value):
                picked.setdefault(target, name)
    if "prompt" not in picked:
        nested = _nested_prompt(seen)
        texts = [n for n, v in seen.items() if isinstance(v, str) and n not in picked.values() and n not in taken]
        if nested is None and not texts:
            return None
        picked["prompt"] = nested or texts[0]
    if judged is not None:
        reads = "paired scores" if "score_a" in judged else (
            "judged pairs" if "winner" in judged else "pairwise feedback"
        )
        return {"prompt": picked["prompt"], **judged}, reads
    keep: tuple[str, ...]
    if "chosen" in picked and "rejected" in picked:
        keep, reads = ("prompt", "chosen", "rejected"), "pairwise feedback"
    elif "completion" in picked and "label" in picked:
        keep, reads = ("prompt", "completion", "label"), "binary feedback"
    elif "completion" in picked and "score" in picked:
        keep, reads = ("prompt", "completion", "score"), "scalar feedback"
    elif "completion" in picked:
        keep, reads = ("prompt", "completion"), "prompts (the completions are demonstrations, not feedback)"
    else:
        keep, reads = ("prompt",), "prompts only"
    return {t: picked[t] for t in keep}, reads


def describe_seen(seen: dict[str, Any], limit: int = 12) -> str:
    """``'question' (a string), 'good' (a string)``."""
    shown = [f"'{k}' ({describe(v).split(' (')[0]})" for k, v in list(seen.items())[:limit]]
    return ", ".join(shown) + (", ..." if len(seen) > limit else "")


def mapping_hint(seen: dict[str, Any], path: str, records: Sequence[dict[str, Any]] = ()) -> str | None:
    """The sentence of the unknown-shape error that shows the mapping that would read the file."""
    guess = suggest_mapping(seen, records)
    if guess is None:
        return None
    mapping, reads = guess
    flag = ",".join(f"{t}={s}" for t, s in mapping.items())
    if not re.fullmatch(r"[\w=,.:-]+", flag):
        flag = "'" + flag.replace("'", "'\\''") + "'"
    yaml = ", ".join(f"{t}: {_yaml_value(s)}" for t, s in mapping.items())
    return (
        f"to read it, map its fields to TRL's names, e.g. --columns {flag} (as {reads}; in a sweep or run "
        f"file: data: {{path: {path}, columns: {{{yaml}}}}})"
    )


def _yaml_value(text: str) -> str:
    """``text`` as a YAML flow value: bare when plain, else single-quoted."""
    return text if re.fullmatch(r"[\w.-]+", text) else "'" + text.replace("'", "''") + "'"
