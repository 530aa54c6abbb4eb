"""Sweeps as Optuna studies: a sweep file in, trials run and recorded, the best configuration out.

>>> from alignlab.sweep import load_sweep, run_sweep
>>> outcome = run_sweep(load_sweep("sweeps/dpo.yaml"))          # doctest: +SKIP
>>> outcome.best.params, outcome.best.metrics                   # doctest: +SKIP

The names below are imported on first use (the runner brings Optuna and MLflow), so importing this
package is instant. Modules: :mod:`~alignlab.sweep.spec` (the sweep file's schema),
:mod:`~alignlab.sweep.checks` (reading it: every problem at once), :mod:`~alignlab.sweep.preflight`
(what ``sweep run`` checks before it creates anything), :mod:`~alignlab.sweep.study` (:func:`run_sweep`),
:mod:`~alignlab.sweep.trial` (one trial), :mod:`~alignlab.sweep.parent_run` (the study's MLflow parent
run), :mod:`~alignlab.sweep.samplers`, :mod:`~alignlab.sweep.claims` (workers sharing a study),
:mod:`~alignlab.sweep.storage`, :mod:`~alignlab.sweep.records` (what a study stores),
:mod:`~alignlab.sweep.catalog` (the studies on disk), :mod:`~alignlab.sweep.best`,
:mod:`~alignlab.sweep.noise`, :mod:`~alignlab.sweep.confirm`, :mod:`~alignlab.sweep.export`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignlab.sweep.best import BestTrial, select_best
    from alignlab.sweep.catalog import list_studies, open_study
    from alignlab.sweep.checks import load_sweep, parse_sweep
    from alignlab.sweep.records import StudyRecord, TrialRecord
    from alignlab.sweep.spec import SweepSpec
    from alignlab.sweep.study import SweepOutcome, run_sweep
    from alignlab.sweep.trial import SweepEvent, Trainer

#: Each public name and the module that defines it.
_PUBLIC = {
    "BestTrial": "best",
    "select_best": "best",
    "list_studies": "catalog",
    "open_study": "catalog",
    "load_sweep": "checks",
    "parse_sweep": "checks",
    "StudyRecord": "records",
    "TrialRecord": "records",
    "SweepSpec": "spec",
    "SweepOutcome": "study",
    "run_sweep": "study",
    "SweepEvent": "trial",
    "Trainer": "trial",
}

__all__ = [
    "BestTrial",
    "StudyRecord",
    "SweepEvent",
    "SweepOutcome",
    "SweepSpec",
    "Trainer",
    "TrialRecord",
    "list_studies",
    "load_sweep",
    "open_study",
    "parse_sweep",
    "run_sweep",
    "select_best",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
