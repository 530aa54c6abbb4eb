"""The bake-off: ``alignlab recommend ... --bakeoff K`` checks the rule ranking on the user's own data.

The top K ranked candidates (one per algorithm that runs them: IPO runs as DPO, so a second candidate run
by the same algorithm gives its place to the next one) each train a few short trials: at the literature
default of its search space and at one or two points of its range (every numeric param at the centre of
its range, then at three quarters of it, on a log scale where the range is one), all with the same
``max_steps`` x ``per_device_train_batch_size`` (equal compute). They are one Optuna study, with the
algorithm a categorical param and every point enqueued, so the bake-off shows in MLflow, ``compare`` and
``report`` like any other study (:func:`bakeoff_sweep`, run by alignlab.sweep.study.run_sweep).

Scored by the objective with the best measured fidelity: the gold ``win_rate`` on the built-in task (its
own feedback files are read as ``data: {task: builtin}``), else ``judge_win_rate_kl`` with a judge trained
on held-out pairs (what the drafted sweeps optimise: alignlab.recommend.sweep_draft). Each algorithm's
measured value is its best point (among those meeting the KL constraint, when any does), with its
standard error; the paired difference to the measured leader says which gaps are beyond noise
(alignlab.sweep.noise). The pick (:func:`summarise`): the measured leader when it beats the rules' first
choice beyond noise, else the rules' first choice (within noise, the literature breaks the tie).

Nothing here is imported by the plain ``alignlab recommend``: it stays instant.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.recommend.ranking import Recommendation
from alignlab.recommend.sweep_draft import draft_sweep, sweep_name

if TYPE_CHECKING:
    from alignlab.sweep.records import StudyRecord
    from alignlab.sweep.study import SweepEvent
    from alignlab.uncertainty import Difference

#: Quantiles of a search range the range points sit at, after the literature default (up to two).
RANGE_POINTS: tuple[float, ...] = (0.5, 0.75)
#: Steps of each trial when no --budget-minutes is given (the quick start's).
DEFAULT_STEPS = 60
#: Fewest and most steps a budget gives each trial.
MIN_STEPS, MAX_STEPS = 10, 400
#: The built-in tiny model's cost on 2 CPU cores (measured on the quick start: ~5 steps/s at batch 32, ~12
#: at batch 8, and ~8 s a trial to load, evaluate and record): per trial, per step, per example in a step.
TINY_TRIAL_S, TINY_STEP_S, TINY_EXAMPLE_S = 8.0, 0.05, 0.005
#: How much slower an online algorithm's step is (it generates): PPO 1.4 steps/s against DPO's 12.
ONLINE_FACTOR = 6.0
#: Share of the budget kept for imports, the judge and the study's bookkeeping.
RESERVE = 0.2
#: The evaluation of a bake-off trial on the built-in tiny model (the quick start's).
TINY_EVAL: dict[str, Any] = {"n_prompts": 100, "samples_per_prompt": 4, "max_new_tokens": 24}


@dataclass
class BakeoffPlan:
    """The study a bake-off runs, and what it is made of."""

    spec: dict[str, Any]
    """The sweep mapping (it passes alignlab.sweep.checks.parse_sweep)."""
    arms: dict[str, str]
    """Recommended algorithm -> the algorithm it runs as (a study's ``algorithm`` choice), rule order."""
    points: int
    """Trials per algorithm (its default, then its range points)."""
    steps: int
    batch_size: int
    notes: list[str] = field(default_factory=list)


def plan_bakeoff(
    rec: Recommendation,
    *,
    k: int,
    budget_minutes: float | None = None,
    data: dict[str, Any] | None = None,
    seed: int = 0,
) -> BakeoffPlan:
    """The bake-off study of the top ``k`` candidates of ``rec`` (see the module docstring). ``data``
    replaces the data settings (a benchmark's ``{task: builtin, label_noise: 0.4}``)."""
    if k < 2:
        raise UserInputError(f"--bakeoff: compares at least 2 algorithms, but got {k}")
    notes: list[str] = []
    arms: dict[str, str] = {}
    for cand in rec.candidates:
        run_as = cand.search_space.sweep_algorithm
        if len(arms) == k or cand.ruled_out:
            continue
        if run_as in arms.values():
            notes.append(f"{cand.algorithm} runs as {run_as}, which this bake-off already runs: the next candidate takes its place")
            continue
        arms[cand.algorithm] = run_as
    if len(arms) < 2:
        raise UserInputError("--bakeoff: fewer than 2 candidates are not ruled out in this situation")
    drafts = {a: draft_sweep(rec, algorithm=a).spec for a in arms}
    first = drafts[next(iter(arms))]
    data = data or _gold_data(rec) or first["data"]
    gold = "task" in data
    tiny = first["model"] == "builtin:tiny-sft"
    batch = rec.situation.batch_size
    online = sum(1 for a in arms if _generates(a))
    n_points = 1 + len(RANGE_POINTS)
    steps = DEFAULT_STEPS
    if budget_minutes is not None:
        steps, n_points = _steps_for(budget_minutes * 60, len(arms), online, batch)
        notes.append(
            f"budget: {budget_minutes:g} min for {len(arms)} x {n_points} trials of {steps} steps at batch {batch}"
            + ("" if tiny else " (the timing model is the built-in tiny model's on 2 CPU cores)")
        )
    search = _union_search([drafts[a]["search"] for a in arms])
    fixed: dict[str, Any] = {"max_steps": steps, "per_device_train_batch_size": batch}
    enqueue: list[tuple[int, dict[str, Any]]] = []  # (point index, point): every default runs first
    for algorithm, run_as in arms.items():
        draft = drafts[algorithm]
        own = {k: v for k, v in draft["fixed"].items() if k not in ("per_device_train_batch_size", "num_train_epochs")}
        fixed[run_as] = own
        default = dict(draft["enqueue"][0]) if draft.get("enqueue") else {}
        filled = _fill(search, draft["search"], own, run_as)  # another algorithm's param that this one has too
        for i, point in enumerate(_points(draft["search"], default)[:n_points]):
            enqueue.append((i, {"algorithm": run_as, **filled, **point}))
    base = sweep_name(rec.situation.data_path, "bakeoff")
    spec: dict[str, Any] = {
        "name": re.sub(r"[^A-Za-z0-9_.\-]", "-", f"{base}-k{len(arms)}-s{steps}-b{batch}"),
        "description": f"bake-off of {', '.join(arms)} (alignlab recommend --bakeoff {k})",
        "algorithm": list(arms.values()),
        "model": first["model"],
        "data": data,
    }
    for key in ("reward_model", "reward_function"):
        value = next((d[key] for d in drafts.values() if d.get(key) is not None), None)
        if value is not None and not gold:
            spec[key] = value
    if not gold and first.get("judge"):
        spec["judge"] = first["judge"]
    spec["fixed"] = fixed
    spec["lora"] = _task_lora() if tiny else first.get("lora")
    spec["eval"] = dict(TINY_EVAL) if tiny else {}
    spec["search"] = search
    spec["objectives"] = [{"metric": "win_rate" if gold else first["objectives"][0]["metric"], "direction": "maximize"}]
    spec["constraints"] = first.get("constraints", [])
    spec["sampler"] = {"type": "random"}
    spec["pruner"] = {"type": "none"}
    spec["budget"] = {"n_trials": len(enqueue)}
    if budget_minutes is not None:  # a guard: no trial starts after the budget (the plan fits it with room)
        spec["budget"]["timeout_s"] = budget_minutes * 60
    spec["seed"] = seed
    spec["enqueue"] = [point for _, point in sorted(enqueue, key=lambda e: e[0])]
    return BakeoffPlan(spec, arms, n_points, steps, batch, notes)


def _generates(algorithm: str) -> bool:
    from alignlab.recommend.costs import profile_of

    return bool(profile_of(algorithm).generates)


def _steps_for(budget_s: float, n_arms: int, n_online: int, batch: int) -> tuple[int, int]:
    """Steps per trial and trials per algorithm that fit ``budget_s`` (the tiny model's timing): three
    points each when they leave at least MIN_STEPS steps, else two, else one."""
    usable = budget_s * (1 - RESERVE)
    step_s = TINY_STEP_S + TINY_EXAMPLE_S * batch
    weight = (n_arms - n_online) + n_online * ONLINE_FACTOR  # step-costs of one point of every algorithm
    for n_points in range(1 + len(RANGE_POINTS), 0, -1):
        per_trial = usable / (n_arms * n_points)
        steps = int((usable - n_arms * n_points * TINY_TRIAL_S) / (n_points * weight * step_s))
        if steps >= MIN_STEPS and per_trial > TINY_TRIAL_S:
            return min(steps, MAX_STEPS), n_points
    return MIN_STEPS, 1


def _points(search: dict[str, dict[str, Any]], default: dict[str, Any]) -> list[dict[str, Any]]:
    """The literature default, then each range point (numeric params at the quantile; categorical ones at
    the default), distinct, rounded to 4 significant digits."""
    points = [{k: v for k, v in default.items() if k in search}]
    for q in RANGE_POINTS:
        point = {}
        for name, param in search.items():
            if param["type"] == "categorical":
                point[name] = default.get(name, param["choices"][0])
                continue
            low, high = float(param["low"]), float(param["high"])
            if param.get("log"):
                value = math.exp(math.log(low) + q * (math.log(high) - math.log(low)))
            else:
                value = low + q * (high - low)
            point[name] = round(value) if param["type"] == "int" else float(f"{value:.4g}")
        if point not in points:
            points.append(point)
    return points


def _union_search(searches: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """One search space holding every algorithm's: a param several search gets the union of their ranges
    (log only where all are) or choices (the points, all enqueued, lie in it)."""
    union: dict[str, dict[str, Any]] = {}
    for search in searches:
        for name, param in search.items():
            seen = union.get(name)
            if seen is None:
                union[name] = dict(param)
            elif param["type"] == "categorical" or seen["type"] == "categorical":
                choices = list(seen.get("choices", []))
                union[name] = {"type": "categorical", "choices": choices + [c for c in param.get("choices", []) if c not in choices]}
            else:
                kind = "int" if seen["type"] == param["type"] == "int" else "float"
                union[name] = {
                    "type": kind,
                    "low": min(seen["low"], param["low"]),
                    "high": max(seen["high"], param["high"]),
                    "log": bool(seen.get("log")) and bool(param.get("log")),
                }
    return union


def _fill(
    union: dict[str, dict[str, Any]], own_search: dict[str, Any], own_fixed: dict[str, Any], run_as: str
) -> dict[str, Any]:
    """The value, in every point of ``run_as``, of each union param it has but does not search itself: its
    fixed value, else TRL's default; the union's range is widened (or a choice added) to hold it."""
    from alignlab.run.config import LORA_FIELDS
    from alignlab.run.trl_fields import known_param_names, trl_fields

    names = known_param_names(run_as)
    values: dict[str, Any] = {}
    for name, param in union.items():
        if name in own_search or name in LORA_FIELDS or name not in names:
            continue
        value = own_fixed.get(name, trl_fields(run_as)[name].default)
        if isinstance(value, list | dict | tuple) or value is None:
            continue  # not a value a search can hold: the algorithm keeps its own
        own_fixed.pop(name, None)
        if param["type"] == "categorical":
            param["choices"] = [*param["choices"], *([] if value in param["choices"] else [value])]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            param["low"], param["high"] = min(param["low"], value), max(param["high"], value)
            param["log"] = bool(param.get("log")) and value > 0
        else:
            continue
        values[name] = value
    return values


def _task_lora() -> dict[str, Any]:
    from alignlab.task import TASK_LORA

    return {**TASK_LORA, "lora_dropout": 0.0}


def _gold_data(rec: Recommendation) -> dict[str, Any] | None:
    """``{task: builtin}`` when the data file is one of the built-in task's own feedback files (its gold
    reward is then the objective), else None."""
    path = rec.situation.data_path
    if path is None:
        return {"task": "builtin"}
    resolved = Path(path).expanduser().resolve()  # <cache>/task-<hash>/feedback/<kind>.jsonl (alignlab.task)
    folder = resolved.parent
    if folder.name == "feedback" and folder.parent.name.startswith("task-") and resolved.stem in ("pairwise", "binary"):
        return {"task": "builtin"}
    return None


# ---- running and reading ---------------------------------------------------------------------------------


@dataclass
class ArmResult:
    """One algorithm's measured value in the bake-off: its best point."""

    algorithm: str
    run_as: str
    rule_rank: int
    """Its place among the bake-off's algorithms by the rules (1 first)."""
    trial: int | None = None
    value: float | None = None
    se: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    feasible: bool = True
    """Whether its best point met the study's constraints (KL)."""
    n_complete: int = 0
    difference: Difference | None = None
    """Its value minus the measured leader's, paired over the same prompts (None for the leader)."""


@dataclass
class BakeoffOutcome:
    study: str
    objective: str
    arms: list[ArmResult]
    """Measured order, best first; algorithms with no complete trial last."""
    rule_order: list[str]
    pick: str
    reason: str
    disagreements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_bakeoff(
    plan: BakeoffPlan, *, train: Any = None, on_event: Callable[[SweepEvent], None] | None = None
) -> BakeoffOutcome:
    """Run the bake-off study (or resume it: the same plan is the same study) and read its outcome."""
    from alignlab.sweep.catalog import open_study
    from alignlab.sweep.checks import parse_sweep
    from alignlab.sweep.study import run_sweep

    spec = parse_sweep(plan.spec, where=f"bake-off {plan.spec['name']}")
    run_sweep(spec, train=train, on_event=on_event)
    return summarise(open_study(spec.name), plan)


def summarise(record: StudyRecord, plan: BakeoffPlan) -> BakeoffOutcome:
    """Each algorithm's best point, the measured order against the rules', and the pick."""
    from alignlab.sweep.best import ranked_pool
    from alignlab.sweep.noise import trial_difference, trial_estimate
    from alignlab.sweep.records import constraint_values, trial_records
    from alignlab.sweep.warm_start import own_trials

    objective = record.objectives[0]
    metric = objective.metric
    trials = own_trials(record, trial_records(record))
    arms: list[ArmResult] = []
    best_trials: dict[str, Any] = {}
    for rank, (algorithm, run_as) in enumerate(plan.arms.items(), 1):
        arm = ArmResult(algorithm, run_as, rank)
        complete = [t for t in trials if t.algorithm == run_as and t.state == "COMPLETE" and t.values]
        arm.n_complete = len(complete)
        if complete:
            best = ranked_pool(record, complete)[0][0]
            estimate = trial_estimate(best, metric)
            arm.trial, arm.value, arm.params = best.number, best.metric(metric, record.objectives), dict(best.params)
            arm.se = estimate.se if estimate is not None and estimate.defined else None
            arm.feasible = all(v <= 0 for v in constraint_values(record.constraints, best.metrics))
            best_trials[algorithm] = best
        arms.append(arm)
    sign = 1.0 if objective.maximize else -1.0
    measured = sorted(arms, key=lambda a: (a.value is None, not a.feasible, -sign * (a.value or 0.0)))
    leader = measured[0]
    for arm in measured[1:]:
        if arm.algorithm in best_trials and leader.algorithm in best_trials:
            arm.difference = trial_difference(best_trials[arm.algorithm], best_trials[leader.algorithm], metric)
    rule_order = list(plan.arms)
    disagreements = []
    for i, a in enumerate(rule_order):
        for b in rule_order[i + 1 :]:
            if measured.index(_arm(arms, b)) < measured.index(_arm(arms, a)):
                disagreements.append(
                    f"the rules put {a} before {b}; measured, {b} - {a} = {_gap(best_trials, b, a, metric)}"
                )
    top = arms[0]
    pick, reason = top.algorithm, "the rules' first choice, and the measured best" if leader is top else ""
    if leader is not top:
        diff = (
            trial_difference(best_trials[leader.algorithm], best_trials[top.algorithm], metric)
            if top.algorithm in best_trials
            else None
        )
        if top.value is None or (diff is not None and diff.beyond_noise and sign * diff.value > 0):
            pick = leader.algorithm
            reason = f"it beats the rules' first choice {top.algorithm} beyond noise"
        elif diff is None:
            reason = f"{leader.algorithm} measured higher, but without standard errors the rules' choice stands"
        else:
            reason = f"{leader.algorithm} is within noise of it, so the rules' choice stands"
    return BakeoffOutcome(record.name, metric, measured, rule_order, pick, reason, disagreements, list(plan.notes))


def _arm(arms: list[ArmResult], algorithm: str) -> ArmResult:
    return next(a for a in arms if a.algorithm == algorithm)


def _gap(best: dict[str, Any], a: str, b: str, metric: str) -> str:
    """``a - b`` in words: the paired difference with its standard error and whether it is beyond noise."""
    from alignlab.sweep.noise import trial_difference

    if a not in best or b not in best:
        return "unknown (no complete trial)"
    diff = trial_difference(best[a], best[b], metric)
    if diff is None:
        gap = (best[a].metric(metric, []) or 0.0) - (best[b].metric(metric, []) or 0.0)
        return f"{gap:+.3f} (noise unknown)"
    return f"{diff.value:+.3f} ± {diff.se:.3f} ({'beyond' if diff.beyond_noise else 'within'} noise)"
