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

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from alignlab.data.feedback import KINDS, FeedbackData, FeedbackKind
from alignlab.data.fields import FEEDBACK_FIELDS, SCORE_FIELDS, describe
from alignlab.data.normalise import (
    normalise_kto,
    normalise_pairwise,
    normalise_prompt_only,
    normalise_scalar,
    normalise_sharegpt,
    normalise_unpaired,
)
from alignlab.data.readers import RawRecord, read_records
from alignlab.errors import UserInputError

#: At most this many problem lines in one error; the rest are counted.
MAX_PROBLEMS = 20

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
            bad[i] = [f"expected a JSON object with named fields, got {describe(record.value)}"]
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


FORMATS: tuple[_Format, ...] = (
    _Format(
        "llama-factory-sharegpt",
        "pairwise",
        "LLaMA-Factory {conversations: [{from, value}], chosen: {from, value}, rejected: {from, value}}",
        lambda k: "conversations" in k and bool(k & {"chosen", "rejected"}),
        normalise_sharegpt,
    ),
    _Format(
        "llama-factory-kto",
        "binary",
        "LLaMA-Factory {messages: [{role, content}], label: bool}",
        lambda k: "messages" in k and "label" in k,
        normalise_kto,
    ),
    _Format(
        "trl-standard",
        "pairwise",
        "{prompt, chosen, rejected} as strings or message lists, or HH-RLHF {chosen, rejected} transcripts",
        lambda k: bool(k & {"chosen", "rejected"}) and "conversations" not in k,
        normalise_pairwise,
    ),
    _Format(
        "trl-unpaired",
        "binary",
        "{prompt, completion, label: bool}",
        lambda k: "label" in k and "messages" not in k and bool(k & {"prompt", "completion"}),
        normalise_unpaired,
    ),
    _Format(
        "scalar",
        "scalar",
        "{prompt, completion or response, score or rating or reward: number}",
        lambda k: bool(k & set(SCORE_FIELDS)) and bool(k & {"prompt", "completion", "response"}),
        normalise_scalar,
    ),
    _Format(
        "prompt-only",
        "prompt",
        "{prompt}",
        lambda k: "prompt" in k and not k & FEEDBACK_FIELDS,
        normalise_prompt_only,
    ),
)
"""The accepted formats, in tie-breaking order."""
