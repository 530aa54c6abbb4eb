"""Metrics kept in memory until the run's next MLflow write (alignlab.run.tracking does the writing).

A trainer logs every few steps; writing each log as it comes costs one synchronous MLflow write (a
database transaction) each. Kept here instead, they go out with the next evaluation's metrics, the run's
end, or once the oldest kept one is :data:`FLUSH_S` old, in one ``log_batch`` (docs/benchmarks.md,
"MLflow logging").
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

#: Kept metrics are written at the latest this many seconds after the oldest of them (the UI's training
#: curves lag by at most this much between evaluations). 0 writes every log at once.
FLUSH_S = 15.0

Point = tuple[str, float, int, int]
"""A metric point as MLflow stores it: (key, value, timestamp in ms, step)."""

_KEPT: dict[str, list[Point]] = {}
_SINCE: dict[str, float] = {}


def points(metrics: Mapping[str, Any], *, step: int, prefix: str = "") -> list[Point]:
    """Finite numeric metrics as points; NaN/inf, booleans and non-numbers are left out (MLflow rejects some)."""
    now = int(time.time() * 1000)
    return [
        (f"{prefix}{k}", float(v), now, step)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    ]


def keep(run_id: str, metrics: Mapping[str, Any], *, step: int) -> bool:
    """Keep a run's metrics; True when the oldest kept one is due (:data:`FLUSH_S`): write :func:`take` now."""
    _KEPT.setdefault(run_id, []).extend(points(metrics, step=step))
    since = _SINCE.setdefault(run_id, time.monotonic())
    return time.monotonic() - since >= FLUSH_S


def take(run_id: str | None) -> list[Point]:
    """The run's kept points, removed from the buffer."""
    _SINCE.pop(run_id or "", None)
    return _KEPT.pop(run_id or "", [])
