"""Recommend an alignment algorithm for a situation, with reasons, estimates, search spaces and a sweep draft.

>>> from alignlab.recommend import Situation, parse_model, recommend
>>> rec = recommend(Situation(data_type="pairwise", n_examples=5000, model=parse_model("7b"), gpu_hours=2))
>>> rec.top.algorithm
'dpo'

Pure Python (no torch, trl, mlflow, optuna or datasets), so ``alignlab recommend`` answers at once.
Modules: :mod:`~alignlab.recommend.situation` (the situation, checked, and its facts),
:mod:`~alignlab.recommend.rules` (the decision table, with sources),
:mod:`~alignlab.recommend.search_spaces` (literature ranges by TRL field),
:mod:`~alignlab.recommend.ranking` (:func:`recommend`), :mod:`~alignlab.recommend.sweep_draft`
(sweep files), :mod:`~alignlab.shapes` (model shapes from ``--model``, below recommend and run),
:mod:`~alignlab.recommend.costs` (memory and time estimates).
"""

from alignlab.recommend.costs import RECOMMENDABLE
from alignlab.recommend.ranking import Candidate, Recommendation, recommend
from alignlab.recommend.situation import DATA_TYPES, Situation, situation_from_profile, situation_problems
from alignlab.recommend.sweep_draft import SweepDraft, draft_sweep, write_sweep
from alignlab.shapes import ModelShape, parse_model

__all__ = [
    "DATA_TYPES",
    "RECOMMENDABLE",
    "Candidate",
    "ModelShape",
    "Recommendation",
    "Situation",
    "SweepDraft",
    "draft_sweep",
    "parse_model",
    "recommend",
    "situation_from_profile",
    "situation_problems",
    "write_sweep",
]
