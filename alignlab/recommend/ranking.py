"""Ranking: every algorithm scored by the rules that fire for the situation, best first, with reasons.

:func:`recommend` estimates each algorithm's memory and time, derives the facts, fires the rules of
:mod:`alignlab.recommend.rules`, adds up the deltas and sorts (ruled-out algorithms last). The
:class:`Recommendation` holds the ranked :class:`Candidate` objects and every assumption behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from alignlab.recommend.costs import DEFAULT_COMPUTE, ComputeAssumptions, profile_of
from alignlab.recommend.rules import RULES, Rule, When, fired_rules
from alignlab.recommend.search_spaces import SearchSpace, search_space
from alignlab.recommend.situation import (
    DEFAULT_MODEL,
    THRESHOLDS,
    Estimate,
    Situation,
    derive_facts,
    estimate,
)
from alignlab.run.algorithms import Recommendable, recommendables


@dataclass(frozen=True)
class Candidate:
    """One algorithm's place in the ranking, with everything that put it there."""

    algorithm: str
    """The algorithm (a recommendable entry: alignlab.run.algorithms.recommendables)."""
    rank: int
    """1 is the recommendation; ruled-out algorithms rank last."""
    score: float
    """Sum of the deltas of the rules that fired for it."""
    ruled_out: bool
    """Some rule says it cannot run in this situation."""
    reasons: tuple[Rule, ...]
    """The rules that fired for it, largest effect first."""
    conversion: str | None
    """The data path it needs (a conversion or a reward model first), if any."""
    estimate: Estimate
    """Memory and time."""
    search_space: SearchSpace
    """What to tune, by TRL field name."""

    @property
    def top_reason(self) -> Rule | None:
        return self.reasons[0] if self.reasons else None

    @property
    def resident_models(self) -> tuple[str, ...]:
        """The models resident while it trains (policy, reference, reward, value)."""
        return profile_of(self.algorithm).resident

    def to_dict(self, gpu_hours: float | None) -> dict[str, Any]:
        memory = self.estimate.memory.to_dict()
        return {
            "rank": self.rank,
            "algorithm": self.algorithm,
            "score": self.score,
            "ruled_out": self.ruled_out,
            "conversion": self.conversion,
            "resident_models": list(self.resident_models),
            "memory_gb": memory["total_gb"],
            "fits": self.estimate.fits,
            "trials_affordable": self.estimate.trials_affordable,
            "reasons": [
                {
                    "rule": r.name,
                    "delta": r.delta,
                    "rule_out": r.rule_out,
                    "reason": r.reason,
                    "source": r.source,
                }
                for r in self.reasons
            ],
            "memory": memory,
            "cost": self.estimate.cost.to_dict(gpu_hours),
            "search_space": self.search_space.to_dict(),
        }


@dataclass(frozen=True)
class Recommendation:
    """The ranked candidates and the facts and assumptions behind them."""

    situation: Situation
    """What was asked."""
    facts: dict[str, Any]
    """The situation as the rules saw it."""
    candidates: tuple[Candidate, ...]
    """All algorithms, best first."""
    assumptions: tuple[str, ...]
    """Every assumption the estimates rest on, in words."""

    @property
    def top(self) -> Candidate:
        return self.candidates[0]

    def candidate(self, algorithm: str) -> Candidate:
        for c in self.candidates:
            if c.algorithm == algorithm:
                return c
        raise KeyError(algorithm)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, with stable keys: situation, facts, thresholds, candidates, assumptions."""
        return {
            "situation": self.situation.to_dict(),
            "facts": dict(self.facts),
            "thresholds": dict(THRESHOLDS),
            "candidates": [c.to_dict(self.situation.gpu_hours) for c in self.candidates],
            "assumptions": list(self.assumptions),
        }


def recommend(
    s: Situation, *, rules: tuple[Rule, ...] = RULES, compute: ComputeAssumptions = DEFAULT_COMPUTE
) -> Recommendation:
    """Rank every algorithm for situation ``s``: estimate, derive facts, fire rules, add up, sort."""
    entries = {name: entry for name, (_, entry) in recommendables().items()}
    order = list(entries)
    estimates = {a: estimate(a, s, compute=compute) for a in order}
    facts = derive_facts(s, estimates)
    fired = fired_rules(facts, with_ranked_like(rules, entries))
    rows = []
    for a in order:
        mine = [r for r in fired if r.algorithm == a]
        score = round(sum(r.delta for r in mine), 3)
        ruled_out = any(r.rule_out for r in mine)
        reasons = tuple(sorted(mine, key=lambda r: (not r.rule_out, -abs(r.delta))))
        conversion = next((r.conversion for r in reasons if r.conversion and r.delta > 0), None)
        rows.append((a, score, ruled_out, reasons, conversion))
    rows.sort(key=lambda row: (row[2], -row[1], order.index(row[0])))
    candidates = tuple(
        Candidate(a, i + 1, score, out, reasons, conversion, estimates[a], search_space(a, s))
        for i, (a, score, out, reasons, conversion) in enumerate(rows)
    )
    return Recommendation(s, facts, candidates, _assumptions(s, compute))


def with_ranked_like(rules: tuple[Rule, ...], entries: dict[str, Recommendable]) -> tuple[Rule, ...]:
    """``rules`` and, for each entry ranked like another (``Recommendable.ranked_like``: one the table does
    not name), the other's rows as its own: same condition and effect, with its own ``fits_`` and
    ``trials_`` facts in place of the other's."""
    kin: list[Rule] = []
    for name, entry in entries.items():
        like = entry.ranked_like
        if like is None:
            continue
        own = {f"fits_{like}": f"fits_{name}", f"trials_{like}": f"trials_{name}"}
        for rule in rules:
            if rule.algorithm == like:
                when = When(tuple((own.get(fact, fact), values) for fact, values in rule.when.conditions))
                kin.append(replace(rule, name=f"{rule.name} (as {name})", algorithm=name, when=when))
    return (*rules, *kin)


def _assumptions(s: Situation, compute: ComputeAssumptions) -> tuple[str, ...]:
    model = f"model: {s.model.n_params / 1e9:.3g}B parameters, {s.model.source}"
    if s.model_ref is None:
        model += f" (no --model given: a {DEFAULT_MODEL} model assumed)"
    return (
        model,
        f"seq_len {s.seq_len} tokens ({s.seq_len_source}), micro-batch {s.batch_size}, {s.method}"
        + (" r=8 on all linear layers" if s.method != "full" else "")
        + ", gradient checkpointing on",
        "reward and value models have the policy's size; PPO's value model is trained in full (TRL 1.12 puts LoRA on the policy only)",
        "online algorithms generate half of seq_len per response; on feedback data they first train a reward model "
        "for one epoch (counted once against --gpu-hours); prompt-only data needs your own reward model",
        compute.describe(),
        "memory in GiB on one GPU, no sharding or offload; estimates are for planning (+-30 %)",
    )
