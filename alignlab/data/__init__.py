"""Preference data: load any common feedback file, profile it, convert it between kinds, write it.

>>> data = load_feedback("hh-rlhf/test.jsonl.gz")      # doctest: +SKIP
>>> data.kind, data.format, len(data.records)          # doctest: +SKIP
('pairwise', 'hh-rlhf', 2312)
>>> profile_feedback(open_feedback("big.jsonl"))      # doctest: +SKIP  (streamed: bounded memory)

Modules: :mod:`~alignlab.data.feedback` (the data types), :mod:`~alignlab.data.readers` and
:mod:`~alignlab.data.hf` (files and Hugging Face folders, streamed), :mod:`~alignlab.data.formats`
(the accepted shapes and their detection), :mod:`~alignlab.data.loading` (the read: detect,
normalise, account), :mod:`~alignlab.data.shape` (what a shape's reader is), the readers
(:mod:`~alignlab.data.normalise`: TRL and LLaMA-Factory; :mod:`~alignlab.data.ranked`,
:mod:`~alignlab.data.judgments`, :mod:`~alignlab.data.chat`, :mod:`~alignlab.data.attributes`,
:mod:`~alignlab.data.argilla`), :mod:`~alignlab.data.mapping` (column mappings),
:mod:`~alignlab.data.fields` (field checks), :mod:`~alignlab.data.profile` (with
:mod:`~alignlab.data.tokens`),
:mod:`~alignlab.data.convert`, :mod:`~alignlab.data.writers`.
"""

from alignlab.data.convert import convert_feedback, convert_stream
from alignlab.data.feedback import KINDS, Accounting, FeedbackData, FeedbackKind, ReadReport, to_text
from alignlab.data.loading import FeedbackStream, load_feedback, open_feedback
from alignlab.data.mapping import parse_columns
from alignlab.data.profile import (
    DataProfile,
    LengthStats,
    PairsPerPrompt,
    ScoreStats,
    load_tokenizer,
    profile_feedback,
)
from alignlab.data.shape import RANKING_POLICIES, RankingPolicy, ReadOptions
from alignlab.data.writers import write_feedback, write_records

__all__ = [
    "KINDS",
    "RANKING_POLICIES",
    "Accounting",
    "DataProfile",
    "FeedbackData",
    "FeedbackKind",
    "FeedbackStream",
    "LengthStats",
    "PairsPerPrompt",
    "RankingPolicy",
    "ReadOptions",
    "ReadReport",
    "ScoreStats",
    "convert_feedback",
    "convert_stream",
    "load_feedback",
    "load_tokenizer",
    "open_feedback",
    "parse_columns",
    "profile_feedback",
    "to_text",
    "write_feedback",
    "write_records",
]
