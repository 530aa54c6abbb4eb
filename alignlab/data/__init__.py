"""Preference data: load any common feedback file, profile it, convert it between kinds, write it.

>>> data = load_feedback("hh-rlhf/test.jsonl.gz")      # doctest: +SKIP
>>> data.kind, data.format, len(data.records)          # doctest: +SKIP
('pairwise', 'hh-rlhf', 2312)

Modules: :mod:`~alignlab.data.feedback` (the data type), :mod:`~alignlab.data.readers` (file
formats), :mod:`~alignlab.data.formats` (the accepted shapes and their detection),
:mod:`~alignlab.data.fields` (field checks), :mod:`~alignlab.data.normalise` (one normaliser per shape),
:mod:`~alignlab.data.profile`, :mod:`~alignlab.data.convert`, :mod:`~alignlab.data.writers`.
"""

from alignlab.data.convert import convert_feedback
from alignlab.data.feedback import KINDS, FeedbackData, FeedbackKind, to_text
from alignlab.data.formats import load_feedback
from alignlab.data.profile import (
    DataProfile,
    LengthStats,
    PairsPerPrompt,
    ScoreStats,
    load_tokenizer,
    profile_feedback,
)
from alignlab.data.writers import write_feedback

__all__ = [
    "KINDS",
    "DataProfile",
    "FeedbackData",
    "FeedbackKind",
    "LengthStats",
    "PairsPerPrompt",
    "ScoreStats",
    "convert_feedback",
    "load_feedback",
    "load_tokenizer",
    "profile_feedback",
    "to_text",
    "write_feedback",
]
