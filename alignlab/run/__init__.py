"""One training run: its config, the TRL fields it sets, its models and data, the trainer loop,
held-out evaluation and MLflow tracking. Each algorithm is one module under ``run/algorithms/``.

>>> from alignlab.run import load_run_config, run_training
>>> result = run_training(load_run_config("configs/dpo.yaml"))  # doctest: +SKIP
>>> result.status, result.metrics["win_rate"]                   # doctest: +SKIP

The names below are imported on first use (training brings torch and TRL), so importing this package
is instant. Modules: :mod:`~alignlab.run.config` (:class:`RunConfig`), :mod:`~alignlab.run.checks` (a
run's references checked without building anything), :mod:`~alignlab.run.trainer` (what a trainer is:
:class:`Trainer`, :class:`RunResult`), :mod:`~alignlab.run.runner` (:func:`run_tracked`: the MLflow run
around a trainer), :mod:`~alignlab.run.training` (alignlab's TRL trainer; :func:`run_training`, the two
together), :mod:`~alignlab.run.evaluation`, :mod:`~alignlab.run.tracking` (MLflow).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignlab.run.checks import reference_problems
    from alignlab.run.config import RunConfig, load_run_config, parse_run_config
    from alignlab.run.runner import run_tracked
    from alignlab.run.trainer import RunResult, Trainer
    from alignlab.run.training import run_training

#: Each public name and the module that defines it.
_PUBLIC = {
    "reference_problems": "checks",
    "RunConfig": "config",
    "load_run_config": "config",
    "parse_run_config": "config",
    "RunResult": "trainer",
    "Trainer": "trainer",
    "run_tracked": "runner",
    "run_training": "training",
}

__all__ = [
    "RunConfig",
    "RunResult",
    "Trainer",
    "load_run_config",
    "parse_run_config",
    "reference_problems",
    "run_tracked",
    "run_training",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
