"""The analytic objective of the test trainers (as Optuna's ``optuna/testing/objectives.py``): a win rate
computed from a trial's params in microseconds, with a known optimum, so the study machinery is tested
without training. study_fixture.py, pruned_study.py, worker_trainer.py, test_sweep.py, test_portable.py
and test_warm_start.py all score their trials with :func:`win_rate`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: The best win rate, at beta = 0.1 and learning_rate = 1e-4 (and KTO's desirable_weight = 1.2, PPO's
#: kl_target = 4).
BEST = 0.9


def win_rate(params: Mapping[str, Any]) -> float:
    """BEST less a quadratic in log10(beta) and log10(learning_rate) around their best values (a param
    that is absent counts as at its best), less a quadratic in KTO's ``desirable_weight`` and a linear
    term in PPO's ``kl_target`` when the params hold them; rounded to 6 places, as a stored metric."""
    beta, lr = float(params.get("beta", 0.1)), float(params.get("learning_rate", 1e-4))
    value = BEST - 0.1 * (math.log10(beta) + 1) ** 2 - 0.05 * (math.log10(lr) + 4) ** 2
    if "desirable_weight" in params:
        value -= 0.2 * (float(params["desirable_weight"]) - 1.2) ** 2
    if "kl_target" in params:
        value -= 0.02 * abs(float(params["kl_target"]) - 4.0)
    return round(value, 6)
