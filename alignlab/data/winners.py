"""What the values of a winner column mean, stated or unambiguous, never guessed.

A winner column says which of two responses won. Words say it themselves (``model_a``, ``B``,
``tie``, ``A>B``: :func:`alignlab.data.judgments.parse_vote`); numbers and booleans do not: ``0``/``1``
is an index (0 = the first response) in some datasets, a yes/no flag in others. Their meaning is
stated in the column mapping, after a colon: ``winner=w:index``. The meanings:

==========  ==========================================================
``index``   0 = response_a, 1 = response_b
``number``  1 = response_a, 2 = response_b, 1.5 = a tie (AlpacaFarm's ``preference``)
``a-wins``  true or 1 = response_a, false or 0 = response_b
``b-wins``  true or 1 = response_b, false or 0 = response_a
``signed``  below 0 = response_a, 0 = a tie, above 0 = response_b (HelpSteer3)
==========  ==========================================================

Under every meaning a tie word (``tie``, ``draw``, ``tie (bothbad)``) stays a tie; nothing else is a
tie. Without a stated meaning, numbers are read only when they can mean one thing: both ``1`` and ``2``
present (and nothing but 1, 1.5 and 2), AlpacaFarm's convention; any other numbers or booleans are one
error naming the column, its values and the meanings that would fit them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal, get_args

from alignlab.data.paths import parse_path

Meaning = Literal["index", "number", "a-wins", "b-wins", "signed"]

MEANINGS: tuple[Meaning, ...] = get_args(Meaning)

#: What each meaning reads its values as.
READS: dict[Meaning, str] = {
    "index": "0 = response_a, 1 = response_b",
    "number": "1 = response_a, 2 = response_b, 1.5 = a tie",
    "a-wins": "true or 1 = response_a, false or 0 = response_b",
    "b-wins": "true or 1 = response_b, false or 0 = response_a",
    "signed": "below 0 = response_a, 0 = a tie, above 0 = response_b",
}

_NUMBER = re.compile(r"\s*-?\d+(\.\d+)?\s*")

Value = tuple[str, float | str]
"""A winner value, comparable across files: ``("bool", 1.0)`` for true, ``("number", 2.0)`` for 2 or
"2", ``("text", "model_a")`` for other strings."""


def number_like(value: Any) -> Value | None:
    """A boolean, a number or a numeric string as a :data:`Value`; ``None`` for anything else."""
    if isinstance(value, bool):
        return "bool", float(value)
    if isinstance(value, int | float):
        return "number", float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return "number", float(value)
    return None


def vote(value: Value, meaning: Meaning) -> str | None:
    """``"a"``, ``"b"`` or ``"tie"`` for a number-like value read by ``meaning``; ``None`` when the
    meaning has no such value."""
    kind, x = value
    if kind == "text" or isinstance(x, str):
        return None
    if meaning == "index":
        return {0.0: "a", 1.0: "b"}.get(x) if kind == "number" else None
    if meaning == "number":
        return {1.0: "a", 2.0: "b", 1.5: "tie"}.get(x) if kind == "number" else None
    if meaning in ("a-wins", "b-wins"):
        if x not in (0.0, 1.0):
            return None
        first = (x == 1.0) == (meaning == "a-wins")
        return "a" if first else "b"
    if kind == "bool":  # signed
        return None
    return "a" if x < 0 else "b" if x > 0 else "tie"


def fitting(values: Iterable[Value]) -> list[Meaning]:
    """The meanings that read every one of ``values`` (``signed`` only where one is below 0: it reads
    any number, so it is no answer for 0/1)."""
    values = list(values)
    negative = any(isinstance(x, float) and x < 0 for _, x in values)
    return [m for m in MEANINGS if all(vote(v, m) is not None for v in values) and (negative or m != "signed")]


def unambiguous(values: Iterable[Value]) -> bool:
    """Whether numbers without a stated meaning can be read: 1 and 2 both present, nothing but 1, 1.5, 2."""
    numbers = {x for kind, x in values if kind == "number"}
    kinds = {kind for kind, _ in values}
    return kinds <= {"number"} and {1.0, 2.0} <= numbers <= {1.0, 1.5, 2.0}


def show(value: Any) -> str:
    """A value as the file holds it: ``0``, ``true``, ``"1"``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


def problem(
    column: str, values: dict[Value, Any], meaning: Meaning | None, stating: Callable[[Meaning], str]
) -> str | None:
    """The one line for a winner ``column`` whose number-like ``values`` (value -> as the file shows it)
    do not fit the stated ``meaning`` or, with none stated, could mean more than one thing.
    ``stating(m)`` is how the user states meaning ``m`` (``winner=w:index``)."""
    if not values:
        return None
    order = sorted(values.items(), key=lambda kv: (kv[0][0], kv[0][1] if isinstance(kv[0][1], float) else 0.0, str(kv[0][1])))
    shown = ", ".join(show(v) for _, v in order[:12])
    if len(values) > 12:
        shown += f", ... ({len(values)} distinct)"
    fits = fitting(values)
    listed = [f"{stating(m)} ({READS[m]})" for m in (fits or MEANINGS)]
    choices = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]
    if meaning is not None:
        bad = {k: v for k, v in values.items() if vote(k, meaning) is None}
        if not bad:
            return None
        return (
            f"the winner column '{column}' holds {shown}, but {stating(meaning)} reads only {READS[meaning]} "
            f"(or a tie word such as 'tie'); " + (f"the values fit {choices}" if fits else "no meaning reads them all")
        )
    if unambiguous(values):
        return None
    why = "" if fits else "; no meaning reads them all"
    return (
        f"the winner column '{column}' holds {shown}, which is ambiguous (numbers and booleans do not say which "
        f"response won{why}); state their meaning in the column mapping: {choices}"
    )


_STATED = re.compile(r"^(.*):\s*([A-Za-z][\w-]*)\s*$", re.DOTALL)


def split_meaning(source: str) -> tuple[str, str | None]:
    """``"w:index"`` -> ``("w", "index")``; ``"w"`` -> ``("w", None)``. A field name holding a colon is
    quoted (``'"a:b"'``), so a colon outside quotes always states a meaning."""
    stated = _STATED.match(source)
    if stated is None or stated.group(1).count('"') % 2 or stated.group(1).count("'") % 2:
        return source, None
    return stated.group(1).strip(), stated.group(2)


def restated(columns: dict[str, str] | None, column: str, meaning: Meaning) -> str:
    """The ``--columns`` value that states ``meaning`` for the winner ``column`` (the user's own mapping,
    its winner replaced), shell-quoted where it needs to be."""
    mapping = dict(columns or {})
    mapping["winner"] = f"{column}:{meaning}"
    flag = ",".join(f"{t}={s}" for t, s in mapping.items())
    return flag if re.fullmatch(r"[\w=,.:-]+", flag) else "'" + flag.replace("'", "'\\''") + "'"


def winner_column(columns: dict[str, str] | None) -> str | None:
    """The field a mapping reads the winner from when it states no meaning (else ``None``)."""
    if not columns or "winner" not in columns:
        return None
    source, meaning = split_meaning(columns["winner"])
    return None if meaning is not None else parse_path(source).text
