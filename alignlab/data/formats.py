"""The accepted source shapes, how a file's shape is detected, and the error when none fits.

Each row of :data:`FORMATS` is one shape (docs/data-formats.md shows a record of each); the reader of
each lives in its own module (:mod:`~alignlab.data.normalise`: TRL's own types and LLaMA-Factory,
:mod:`~alignlab.data.ranked`, :mod:`~alignlab.data.judgments`, :mod:`~alignlab.data.chat`,
:mod:`~alignlab.data.attributes`, :mod:`~alignlab.data.argilla`). The ``format`` reported is the
format's name or, where one reader serves several, the tag of most records (``hh-rlhf``,
``trl-conversational``, ``ultrafeedback-binarized``, ``nectar``, ``arena``...).

**Detection votes**: each of the first :data:`DETECT_RECORDS` records is matched against every
format, and the format most records match wins (ties go to the earlier row). Every record is then
read by the winner, so one bad record is reported as a bad record, not as a different format. A file
no format fits, or whose feedback-like fields no format reads, gets one error naming its fields and a
column mapping (:mod:`~alignlab.data.mapping`) that would read it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alignlab.data import argilla, attributes, chat, judgments, normalise, oasst, paired_scores, ranked
from alignlab.data.feedback import KINDS, FeedbackKind
from alignlab.data.fields import FEEDBACK_FIELDS, SCORE_FIELDS
from alignlab.data.shape import PerRecord, ReadOptions, Shape
from alignlab.data.suggest import describe_seen, mapping_hint
from alignlab.errors import UserInputError

#: Records read to detect the format (the whole file when it is shorter).
DETECT_RECORDS = 1000

#: Field names that look like feedback: a file holding one that no shape reads is not "prompts only".
FEEDBACK_LIKE = re.compile(
    r"(chosen|rejected|completion|response|answer|output|label|score|rating|reward|rank|prefer|winner|vote|"
    r"thumb|feedback|judg|annotat|messages|conversation)",
    re.IGNORECASE,
)

Maker = Callable[[FeedbackKind, ReadOptions, list[dict[str, Any]]], Shape]


@dataclass(frozen=True)
class Format:
    """One accepted source shape."""

    name: str
    """The name reported as ``FeedbackData.format`` (readers that serve several refine it per record)."""
    kinds: tuple[FeedbackKind, ...]
    """The kinds it can be read as; the first is the default (OpenAssistant: pairwise, or binary)."""
    shape: str
    """Its fields, as shown in the "cannot tell the format" message."""
    matches: Callable[[dict[str, Any], ReadOptions], bool]
    """Whether a record looks like this format."""
    make: Maker
    """The reader for a file of this format, read as one of ``kinds``."""
    kind_of: Callable[[list[dict[str, Any]]], FeedbackKind] | None = None
    """The default kind from the first records, where it depends on them (Argilla: the question)."""
    listed: bool = False
    """Whether the "cannot tell the format" message spells out its fields (TRL's and LLaMA-Factory's
    shapes); the others are named there, and shown in docs/data-formats.md."""


def _per_record(kind: FeedbackKind, fn: Any, uses: set[str]) -> Maker:
    return lambda _k, _o, _b: PerRecord(kind, fn, uses)


def _argilla(kind: FeedbackKind, options: ReadOptions, buffer: list[dict[str, Any]]) -> Shape:
    chosen = argilla.choose_question(buffer)
    if chosen is None:
        names = sorted({q for rec in buffer for q in argilla.questions(rec)})
        raise UserInputError(
            "an Argilla export, but none of its questions "
            f"({', '.join(repr(n) for n in names) or 'none with responses'}) is a ranking, a good/bad label or "
            "a rating with submitted responses (expected one of these to read feedback from)"
        )
    return argilla.Argilla(chosen[0], chosen[1], options.ranking)  # the question decides the kind


def _argilla_kind(buffer: list[dict[str, Any]]) -> FeedbackKind:
    chosen = argilla.choose_question(buffer)
    return chosen[1] if chosen else "pairwise"


def _keys_match(needed: set[str]) -> Callable[[dict[str, Any], ReadOptions], bool]:
    return lambda rec, _o: needed <= rec.keys()


def _prompt_only(rec: dict[str, Any], _o: ReadOptions) -> bool:
    return "prompt" in rec and not rec.keys() & FEEDBACK_FIELDS and not any(
        FEEDBACK_LIKE.search(k) for k in rec if k != "prompt"
    )


def _language_modeling(kind: FeedbackKind, options: ReadOptions, buffer: list[dict[str, Any]]) -> Shape:
    raise UserInputError(
        "a TRL language-modeling dataset (a 'text' field): text to fine-tune on (SFT), with no prompt and no "
        "feedback; alignlab reads preference, label, score or prompt data (to use the texts as prompts: "
        "--columns prompt=text)"
    )


FORMATS: tuple[Format, ...] = (
    Format(
        "openassistant-trees",
        ("pairwise", "binary"),
        "OpenAssistant message trees {message_tree_id, prompt: {text, role, replies: [{..., rank}]}}",
        lambda r, _o: "message_tree_id" in r and isinstance(r.get("prompt"), dict),
        lambda k, o, _b: oasst.OasstTrees(k, o.ranking),
    ),
    Format(
        "openassistant-nested",
        ("pairwise", "binary"),
        "OpenAssistant root messages with nested replies {message_id, parent_id, text, role, rank, replies: [...]}",
        lambda r, _o: {"message_id", "text", "role"} <= r.keys() and isinstance(r.get("replies"), list),
        lambda k, o, _b: oasst.OasstNested(k, o.ranking),
    ),
    Format(
        "openassistant-messages",
        ("pairwise", "binary"),
        "OpenAssistant messages {message_id, parent_id, text, role, rank}",
        _keys_match({"message_id", "parent_id", "text", "role"}),
        lambda k, o, _b: oasst.OasstMessages(k, o.ranking),
    ),
    Format(
        "argilla",
        ("pairwise", "binary", "scalar"),
        "Argilla exports (fields, and questions as [{user_id, value, status}] or <question>.responses)",
        lambda r, _o: argilla.looks_argilla(r),
        _argilla,
        _argilla_kind,
    ),
    Format(
        "llama-factory-sharegpt",
        ("pairwise",),
        "LLaMA-Factory {conversations: [{from, value}], chosen: {from, value}, rejected: {from, value}}",
        lambda r, _o: "conversations" in r and bool(r.keys() & {"chosen", "rejected"}),
        _per_record("pairwise", normalise.normalise_sharegpt, {"conversations", "chosen", "rejected", "system"}),
        listed=True,
    ),
    Format(
        "llama-factory-kto",
        ("binary",),
        "LLaMA-Factory {messages: [{role, content}], label: bool}",
        lambda r, _o: "messages" in r and "label" in r and not isinstance(r["label"], str),
        _per_record("binary", normalise.normalise_kto, {"messages", "label"}),
        listed=True,
    ),
    Format(
        "openai-preference",
        ("pairwise",),
        "OpenAI preference {input: {messages}, preferred_output, non_preferred_output}",
        _keys_match({"input", "preferred_output", "non_preferred_output"}),
        lambda _k, _o, _b: chat.OpenAIPreference(),
    ),
    Format(
        "shp",
        ("pairwise",),
        "SHP {history, human_ref_A, human_ref_B, labels}",
        _keys_match({"human_ref_A", "human_ref_B"}),
        lambda _k, _o, _b: judgments.Shp(),
    ),
    Format(
        "paired-scores",
        ("pairwise",),
        "paired scores {prompt, response_a, response_b, score_a, score_b}",
        lambda r, _o: paired_scores.looks_paired(r),
        lambda _k, _o, _b: paired_scores.PairedScores(),
    ),
    Format(
        "judged-pairs",
        ("pairwise",),
        "judged pairs {prompt, response_a, response_b, winner or annotator columns} (Chatbot Arena "
        "{conversation_a, conversation_b, winner})",
        lambda r, _o: judgments.looks_judged(r),
        lambda _k, o, b: judgments.JudgedPairs(b, o.columns),
    ),
    Format(
        "alpaca-dpo",
        ("pairwise",),
        "alpaca {instruction, input, chosen, rejected}",
        lambda r, _o: "instruction" in r and "prompt" not in r and (
            bool(r.keys() & {"chosen", "rejected"}) or (isinstance(r.get("output"), list) and len(r["output"]) == 2)
        ),
        lambda _k, _o, _b: chat.Alpaca("pairwise"),
    ),
    Format(
        "trl-standard",
        ("pairwise",),
        "{prompt, chosen, rejected} as strings or message lists (or without prompt: the shared start), "
        "HH-RLHF {chosen, rejected} transcripts",
        lambda r, _o: bool(r.keys() & {"chosen", "rejected"}) and "conversations" not in r,
        lambda _k, _o, _b: normalise.Pairwise(),
        listed=True,
    ),
    Format(
        "ranked-list",
        ("pairwise",),
        "ranked answers {prompt, answers: [{answer, rank}]} (Nectar) or [{response, score}]",
        lambda r, _o: ranked.ranked_list_key(r) is not None,
        lambda _k, o, _b: ranked.RankedList(o.ranking),
    ),
    Format(
        "trl-stepwise",
        ("binary",),
        "{prompt, completions: [step, ...], labels: [bool, ...]} (TRL stepwise supervision)",
        lambda r, _o: {"prompt", "completions", "labels"} <= r.keys() and isinstance(r["labels"], list),
        lambda _k, _o, _b: normalise.Stepwise(),
    ),
    Format(
        "chat-thumbs",
        ("binary",),
        "{messages, thumbs: up/down} (or feedback, liked, vote; on the record or the last message)",
        lambda r, _o: "messages" in r and chat.feedback_kind(r) == "binary",
        lambda _k, _o, _b: chat.ChatFeedback("binary"),
    ),
    Format(
        "chat-rating",
        ("scalar",),
        "{messages, rating: number} (or score, stars, reward)",
        lambda r, _o: "messages" in r and chat.feedback_kind(r) == "scalar",
        lambda _k, _o, _b: chat.ChatFeedback("scalar"),
    ),
    Format(
        "alpaca-kto",
        ("binary",),
        "alpaca {instruction, input, output, kto_tag: bool}",
        lambda r, _o: "instruction" in r and "output" in r and bool(r.keys() & {"kto_tag", "label"}),
        lambda _k, _o, _b: chat.Alpaca("binary"),
    ),
    Format(
        "trl-unpaired",
        ("binary",),
        "{prompt, completion, label: bool}",
        lambda r, _o: "label" in r and "messages" not in r and bool(r.keys() & {"prompt", "completion"}),
        _per_record("binary", normalise.normalise_unpaired, {"prompt", "completion", "label"}),
        listed=True,
    ),
    Format(
        "multi-attribute",
        ("scalar",),
        "{prompt, response, helpfulness, correctness, ...: numbers} (HelpSteer)",
        lambda r, o: attributes.looks_multi_attribute(r, o.attributes),
        lambda _k, o, _b: attributes.MultiAttribute(o.attributes),
    ),
    Format(
        "scalar",
        ("scalar",),
        "{prompt, completion or response, score or rating or reward: number}",
        lambda r, _o: bool(r.keys() & set(SCORE_FIELDS)) and bool(r.keys() & {"prompt", "completion", "response"}),
        _per_record("scalar", normalise.normalise_scalar, {"prompt", "completion", "response", *SCORE_FIELDS}),
        listed=True,
    ),
    Format(
        "trl-prompt-completion",
        ("prompt",),
        "{prompt, completion} (TRL prompt-completion: demonstrations, read as prompts)",
        lambda r, _o: {"prompt", "completion"} <= r.keys() and not r.keys() & {"label", *SCORE_FIELDS},
        lambda _k, _o, _b: normalise.PromptCompletion(),
    ),
    Format(
        "alpaca",
        ("prompt",),
        "alpaca {instruction, input, output} (demonstrations, read as prompts)",
        lambda r, _o: "instruction" in r and "output" in r,
        lambda _k, _o, _b: chat.Alpaca("prompt"),
    ),
    Format(
        "trl-messages",
        ("prompt",),
        "{messages} (TRL conversational language modeling, read as prompts)",
        lambda r, _o: "messages" in r and not any(FEEDBACK_LIKE.search(k) for k in r if k != "messages"),
        lambda _k, _o, _b: normalise.Messages(),
    ),
    Format(
        "prompt-only",
        ("prompt",),
        "{prompt}",
        _prompt_only,
        _per_record("prompt", normalise.normalise_prompt_only, {"prompt"}),
        listed=True,
    ),
    Format(
        "trl-language-modeling",
        ("prompt",),
        "{text} (TRL language modeling: SFT text, not read)",
        lambda r, _o: "text" in r and not r.keys() & {"prompt", "messages"} and not any(
            FEEDBACK_LIKE.search(k) for k in r
        ),
        _language_modeling,
    ),
)
"""The accepted formats, in tie-breaking order."""


def detect(
    records: Sequence[dict[str, Any]], source: str, options: ReadOptions, kind: FeedbackKind | None
) -> tuple[Format, FeedbackKind]:
    """The format most of ``records`` match (restricted to formats that can be read as ``kind``), and
    the kind to read it as. Raises :class:`UserInputError` when none fits."""
    votes: Counter[str] = Counter()
    seen: dict[str, Any] = {}
    for rec in records:
        for key, value in rec.items():
            if key not in seen or seen[key] is None:
                seen[key] = value
        for fmt in FORMATS:
            if fmt.matches(rec, options):
                votes[fmt.name] += 1

    def best(candidates: Sequence[Format]) -> Format | None:
        ranked_ = [f for f in candidates if votes[f.name] > 0]
        return max(ranked_, key=lambda f: votes[f.name], default=None)  # max keeps the first of ties

    found = best([f for f in FORMATS if kind is None or kind in f.kinds])
    if found is not None:
        default = found.kind_of(list(records)) if found.kind_of else found.kinds[0]
        return found, kind or default
    other = best(FORMATS)
    if kind is not None and other is not None:
        raise UserInputError(
            f"{source}: expected {kind} feedback, but the records look like {other.kinds[0]} feedback "
            f"(format {other.name}); convert them first (alignlab data convert --to {kind})"
        )
    raise UserInputError(unknown_shape(seen, source, kind, records))


def unknown_shape(
    seen: dict[str, Any], source: str, kind: FeedbackKind | None, records: Sequence[dict[str, Any]] = ()
) -> str:
    """The one line for a file no format reads: its fields, a mapping that would read it, the shapes."""
    fields = ", ".join(repr(k) for k in list(seen)[:12]) + (", ..." if len(seen) > 12 else "")
    candidates = sorted(
        (f for f in FORMATS if kind is None or kind in f.kinds), key=lambda f: KINDS.index(f.kinds[0])
    )
    accepted = "; ".join(f"{f.kinds[0]} {f.shape}" for f in candidates if f.listed)
    others = ", ".join(f.name for f in candidates if not f.listed)
    feedback_like = [k for k in seen if FEEDBACK_LIKE.search(k)]
    hint = mapping_hint(seen, source, records)
    if hint is not None and "as prompts only" in hint and feedback_like:
        hint = (
            "the field" + ("s " if len(feedback_like) > 1 else " ") + ", ".join(f"'{k}'" for k in feedback_like)
            + (" look" if len(feedback_like) > 1 else " looks") + " like feedback, but no accepted shape reads "
            + ("them" if len(feedback_like) > 1 else "it")
            + " as it is (ranked answers need a rank or a score each: [{answer, rank}]); map the fields with "
            "--columns, e.g. --columns prompt=...,chosen=...,rejected=..."
        )
    return (
        f"{source}: cannot tell the feedback format from the fields {{{fields}}} ({describe_seen(seen)})"
        + (f"; {hint}" if hint else "")
        + f"; accepted shapes: {accepted}; and {others} (docs/data-formats.md shows each)"
    )
