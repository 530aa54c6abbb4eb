"""The column mapping: read a file whose fields have other names, in the spirit of LLaMA-Factory's
``dataset_info.json`` ``columns``.

A mapping names, for each TRL field, the file's field that holds it: on the command line
``--columns prompt=instruction,chosen=output_good,rejected=output_bad``, in a sweep or run file
``data: {path: ..., columns: {prompt: instruction, chosen: output_good, rejected: output_bad}}``. Every
record is renamed before detection, so a mapped file is then read like any accepted shape. A field
already named like a mapped target is replaced by the mapped one.

When no shape fits, :func:`suggest_mapping` guesses the mapping from the field names and values, for
the error message.
"""

from __future__ import annotations

import re
from typing import Any

from alignlab.data.fields import describe
from alignlab.errors import UserInputError

#: The fields a mapping may fill, and what each holds.
TARGETS: dict[str, str] = {
    "prompt": "the prompt: a string or a list of messages",
    "chosen": "the preferred completion",
    "rejected": "the dispreferred completion",
    "completion": "a completion with a label or a score",
    "label": "true (desirable) or false (undesirable)",
    "score": "a number",
    "messages": "a conversation: a list of {role, content} messages",
    "system": "a system prompt (with messages or alpaca-style records)",
    "response_a": "the first of two judged responses",
    "response_b": "the second of two judged responses",
    "winner": "which of response_a and response_b won (a, b or tie)",
}

_GUESSES: tuple[tuple[str, str], ...] = (
    ("prompt", r"^(prompt|question|instruction|query|input|context|post|history|request|user|source_text|text|conversation)"),
    ("chosen", r"(chosen|prefer|better|good|positive|accept|win|pos\b|pos_)"),
    ("rejected", r"(reject|worse|bad|negative|disprefer|lose|loser|neg\b|neg_)"),
    ("completion", r"(completion|response|answer|output|reply|generation|target|assistant)"),
    ("label", r"(label|thumb|feedback|liked|is_good|approved|vote|helpful|desirable)"),
    ("score", r"(score|rating|reward|grade|quality|stars)"),
)


def parse_columns(text: str, *, option: str = "--columns") -> dict[str, str]:
    """``"prompt=instruction,chosen=good"`` as a mapping; every malformed item at once."""
    problems: list[str] = []
    columns: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        target, sep, source = (s.strip() for s in item.partition("="))
        if not sep or not target or not source:
            problems.append(f"{option}: {item!r} is not TARGET=FIELD (expected e.g. prompt=instruction)")
            continue
        if target in columns:
            problems.append(f"{option}: '{target}' is mapped twice")
            continue
        columns[target] = source
    if not columns and not problems:
        problems.append(f"{option}: expected TARGET=FIELD pairs, e.g. prompt=instruction,chosen=good,rejected=bad")
    problems.extend(columns_problems(columns, option=option))
    if problems:
        raise UserInputError(problems)
    return columns


def columns_problems(columns: dict[str, Any], *, option: str = "columns") -> list[str]:
    """What is wrong with a mapping before any file is read."""
    out = []
    for target, source in columns.items():
        if target not in TARGETS:
            out.append(f"{option}: '{target}' is not a field alignlab reads (expected one of {', '.join(TARGETS)})")
        if not isinstance(source, str) or not source:
            out.append(f"{option}: {target}: expected the name of a field of the file, but got {source!r}")
    sources = [s for s in columns.values() if isinstance(s, str)]
    for source in sorted({s for s in sources if sources.count(s) > 1}):
        out.append(f"{option}: the field '{source}' is mapped to several targets")
    return out


def apply_columns(rec: dict[str, Any], columns: dict[str, str], problems: list[str]) -> dict[str, Any]:
    """``rec`` with each mapped field renamed to its target (a problem line per missing field)."""
    sources = set(columns.values())
    out = {k: v for k, v in rec.items() if k not in sources and k not in columns}
    for target, source in columns.items():
        if source in rec:
            out[target] = rec[source]
        else:
            problems.append(f"field '{source}' is missing (mapped to '{target}' by the column mapping)")
    return out


def missing_columns(columns: dict[str, str], seen: dict[str, Any], source: str) -> list[str]:
    """Mapped fields no record has, naming the fields found."""
    found = ", ".join(repr(k) for k in list(seen)[:16]) + (", ..." if len(seen) > 16 else "")
    return [
        f"{source}: column mapping {target}={field}: no record has a field '{field}' (fields found: {found})"
        for target, field in columns.items()
        if field not in seen
    ]


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and bool(value) and all(isinstance(m, dict) for m in value)
    )


def _fits(target: str, value: Any) -> bool:
    if target == "label":
        return isinstance(value, bool) or value in (0, 1) or (isinstance(value, str) and len(value) < 16)
    if target == "score":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return _is_text(value)


def suggest_mapping(seen: dict[str, Any]) -> tuple[dict[str, str], str] | None:
    """A guessed mapping for fields ``seen`` (name -> a sample value), and what it would read the file
    as; ``None`` when no prompt can be guessed."""
    picked: dict[str, str] = {}
    for target, pattern in _GUESSES:
        for name, value in seen.items():
            if name in picked.values() or not re.search(pattern, name, re.IGNORECASE):
                continue
            if _fits(target, value):
                picked.setdefault(target, name)
    if "prompt" not in picked:
        texts = [n for n, v in seen.items() if isinstance(v, str) and n not in picked.values()]
        if not texts:
            return None
        picked["prompt"] = texts[0]
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


def mapping_hint(seen: dict[str, Any], path: str) -> str | None:
    """The sentence of the unknown-shape error that shows the mapping that would read the file."""
    guess = suggest_mapping(seen)
    if guess is None:
        return None
    mapping, reads = guess
    flag = ",".join(f"{t}={s}" for t, s in mapping.items())
    yaml = ", ".join(f"{t}: {s}" for t, s in mapping.items())
    return (
        f"to read it, map its fields to TRL's names, e.g. --columns {flag} (as {reads}; in a sweep or run "
        f"file: data: {{path: {path}, columns: {{{yaml}}}}})"
    )
