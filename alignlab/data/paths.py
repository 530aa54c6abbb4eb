"""Field paths: how a column mapping names a value anywhere in a record.

The source side of a column mapping (``--columns prompt=info.post``, ``data.columns: {prompt:
info.post}``) is a path:

=========================  ===================================================================
``instruction``            a top-level field
``info.post``              a field of an object (any depth: ``a.b.c``)
``items[0].text``          an element of a list (``[-1]``: the last)
``summaries[choice].text`` the element picked by another field's value (an integer index into a
                           list, or a key of an object); the picking field is itself a path
``summaries[1-choice]``    the element at 1 minus that value (the other one of two)
``"a.b"``, ``x["a.b"]``    a name holding a dot, a bracket, a quote or a colon, quoted (double or
                           single quotes); ``a\\.b`` escapes one character
=========================  ===================================================================

A path is parsed once (:func:`parse_path`, one problem line when it is malformed) and resolved per
record (:meth:`FieldPath.resolve`: the value, or why the record holds none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from alignlab.data.fields import describe

_QUOTES = "\"'"
_STOP = ".[]"
_SAFE_NAME = re.compile(r"[^.\[\]\"'\\:]+")


class PathError(ValueError):
    """A malformed path; the message says where and what was expected."""


@dataclass(frozen=True)
class Pick:
    """``[...]``: a literal index or key, or the value of another path (``[choice]``), optionally
    subtracted from a number (``[1-choice]``)."""

    literal: int | str | None = None
    by: FieldPath | None = None
    minus_from: int | None = None

    def text(self) -> str:
        if self.by is None:
            return f"[{quote(self.literal) if isinstance(self.literal, str) else self.literal}]"
        return f"[{'' if self.minus_from is None else f'{self.minus_from}-'}{self.by.text}]"


Step = str | Pick


@dataclass(frozen=True)
class FieldPath:
    """A parsed path: a top-level name, then object keys (``str``) and picks (:class:`Pick`)."""

    text: str
    steps: tuple[Step, ...]

    @property
    def root(self) -> str:
        first = self.steps[0]
        assert isinstance(first, str)
        return first

    @property
    def is_plain(self) -> bool:
        """A top-level field, nothing more."""
        return len(self.steps) == 1

    def fields(self) -> set[str]:
        """The top-level fields it reads: its root and the roots of the paths that pick."""
        out = {self.root}
        for step in self.steps:
            if isinstance(step, Pick) and step.by is not None:
                out |= step.by.fields()
        return out

    def resolve(self, rec: dict[str, Any]) -> tuple[Any, str | None]:
        """``(value, None)``, or ``(None, why)`` where ``why`` completes "field 'PATH' ..."."""
        if self.root not in rec:
            return None, "is missing"
        value = rec[self.root]
        done = quote(self.root)
        for step in self.steps[1:]:
            if value is None:
                return None, f"cannot be read: '{done}' is null"
            key, why = _key(step, rec)
            if why is not None:
                return None, f"cannot be read: {why}"
            if isinstance(value, dict):
                if not isinstance(key, str):
                    return None, f"cannot be read: '{done}' is an object, and {_pick_name(step, key)} is not a key"
                if key not in value:
                    keys = ", ".join(repr(k) for k in list(value)[:8]) + (", ..." if len(value) > 8 else "")
                    return None, f"is missing: '{done}' has no key {key!r} (its keys: {keys or 'none'})"
                value = value[key]
            elif isinstance(value, list):
                if not isinstance(key, int):
                    return None, f"cannot be read: '{done}' is a list, and {_pick_name(step, key)} is not an index"
                computed = isinstance(step, Pick) and step.by is not None
                if not (0 <= key < len(value) if computed else -len(value) <= key < len(value)):
                    return None, f"is missing: '{done}' has {len(value)} items, and {_pick_name(step, key)} is not one of them"
                value = value[key]
            else:
                return None, f"cannot be read: '{done}' is {describe(value)}, not an object or a list"
            done += _step_text(step)
        return value, None


def quote(name: str) -> str:
    """``name`` as a path segment: bare when it holds no special character, else double-quoted."""
    if _SAFE_NAME.fullmatch(name) and name == name.strip():
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_path(text: str) -> FieldPath:
    """Parse ``text`` (see the module docstring); raise :class:`PathError` when it is malformed."""
    parser = _Parser(text)
    path = parser.path(stop="")
    if parser.pos != len(text):
        raise PathError(f"unexpected {text[parser.pos]!r} at character {parser.pos + 1}")
    return path


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def path(self, *, stop: str) -> FieldPath:
        start = self.pos
        steps: list[Step] = [self.name()]
        while self._peek() and self._peek() not in stop:
            char = self._peek()
            if char == ".":
                self.pos += 1
                steps.append(self.name())
            elif char == "[":
                self.pos += 1
                steps.append(self.pick())
            else:
                raise PathError(f"unexpected {char!r} at character {self.pos + 1} (expected '.', '[' or the end)")
        return FieldPath(self.text[start : self.pos].strip(), tuple(steps))

    def name(self) -> str:
        char = self._peek()
        if char and char in _QUOTES:
            return self.quoted(char)
        out: list[str] = []
        while (char := self._peek()) and char not in _STOP:
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    raise PathError("a '\\' at the end (expected the character it escapes)")
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            out.append(char)
            self.pos += 1
        name = "".join(out)
        if not name.strip():
            where = f"at character {self.pos + 1}" if self.pos < len(self.text) else "at the end"
            raise PathError(f"a field name is empty {where} (expected a name; quote names holding '.', '[' or ']')")
        return name

    def quoted(self, mark: str) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            char = self._peek()
            if not char:
                raise PathError(f"the quote {mark} opened is not closed")
            self.pos += 1
            if char == "\\" and self._peek():
                out.append(self._peek())
                self.pos += 1
            elif char == mark:
                return "".join(out)
            else:
                out.append(char)

    def pick(self) -> Pick:
        while self._peek() == " ":
            self.pos += 1
        rest = self.text[self.pos :]
        number = re.match(r"(-?\d+)\s*\]", rest)
        if number:
            self.pos += number.end()
            return Pick(literal=int(number.group(1)))
        if rest[:1] and rest[:1] in _QUOTES:
            key = self.quoted(rest[0])
            self._close()
            return Pick(literal=key)
        minus = re.match(r"(\d+)\s*-\s*", rest)
        if minus:
            self.pos += minus.end()
        by = self.path(stop="]")
        self._close()
        return Pick(by=by, minus_from=int(minus.group(1)) if minus else None)

    def _close(self) -> None:
        while self._peek() == " ":
            self.pos += 1
        if self._peek() != "]":
            where = f"at character {self.pos + 1}" if self._peek() else "at the end"
            raise PathError(f"a '[' is not closed by ']' ({where})")
        self.pos += 1


def _key(step: Step, rec: dict[str, Any]) -> tuple[int | str | None, str | None]:
    """The key or index a step names in ``rec``, or why it names none."""
    if isinstance(step, str):
        return step, None
    if step.by is None:
        return step.literal, None
    value, why = step.by.resolve(rec)
    if why is not None:
        return None, f"the field '{step.by.text}' that picks the element {why}"
    if step.minus_from is not None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None, f"'{step.by.text}' is {describe(value)} (expected an integer, to compute {step.text()[1:-1]})"
        return step.minus_from - value, None
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None, f"'{step.by.text}' is {describe(value)} (expected an integer index or a key)"
    return value, None


def _pick_name(step: Step, key: Any) -> str:
    if isinstance(step, Pick) and step.by is not None:
        return f"{step.text()[1:-1]} = {key!r}"
    return repr(key)


def _step_text(step: Step) -> str:
    return "." + quote(step) if isinstance(step, str) else step.text()
