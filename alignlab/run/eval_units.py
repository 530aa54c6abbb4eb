"""What an evaluation returns: each metric's value and the per-unit values it is the mean of.

A unit is one held-out prompt (the mean over its samples) for the sampled metrics, or one held-out pair
for ``preference_accuracy`` / ``reward_margin``. Units are in the order of the held-out prompts (pairs),
and each metric's ``key`` is a fingerprint of those prompts (pairs) in order: two trials evaluated on the
same held-out data have the same key and the same unit at the same index, so their difference can be
bootstrapped paired (alignlab.uncertainty).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: metric -> ``{"key": fingerprint of its units (the prompts or pairs, in order), "values": one value per
#: unit}``: plain JSON, as RunResult carries it and alignlab.sweep.records stores it.
Units = dict[str, dict[str, Any]]


@dataclass
class EvalReport:
    """One evaluation: its metrics, a few samples and the units behind each metric."""

    metrics: dict[str, float]
    """Metric name (alignlab.run.config.METRICS) -> value."""
    samples: list[dict[str, Any]] = field(default_factory=list)
    """A few sampled responses with their rewards, for the MLflow artifact table."""
    units: Units = field(default_factory=dict)
    """The per-prompt (per-pair) values each metric is the mean of (see the module docstring)."""
    judge_seconds: float = 0.0
    """Wall time spent scoring with the judge (its accuracy included), for what judging costs."""


def unit_values(key: str, values: Sequence[float]) -> dict[str, Any]:
    """One metric's units as :data:`Units` holds them."""
    return {"key": key, "values": [float(v) for v in values]}


def prompts_key(texts: Sequence[str]) -> str:
    """The units key of per-prompt metrics: the held-out prompt texts, in order."""
    return "prompts:" + fingerprint(list(texts))


def pairs_key(pairs: Sequence[dict[str, Any]]) -> str:
    """The units key of per-pair metrics: the held-out pairs, in order."""
    return "pairs:" + fingerprint(list(pairs))


def group_by_prompt(values: Sequence[float], index: Sequence[int], n_prompts: int) -> list[list[float]]:
    """Per-sample values grouped by the prompt each sample answers (``index``: its prompt's position)."""
    grouped: list[list[float]] = [[] for _ in range(n_prompts)]
    for v, i in zip(values, index, strict=True):
        grouped[i].append(v)
    return grouped


def fingerprint(*parts: Any) -> str:
    """A short content hash of JSON-able parts (the units keys, the reference caches' keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


__all__ = ["EvalReport", "Units", "fingerprint", "group_by_prompt", "pairs_key", "prompts_key", "unit_values"]
