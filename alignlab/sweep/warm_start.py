"""Warm start: a new study learns from the finished trials of earlier ones (``warm_start:`` in a sweep file,
``alignlab sweep run SPEC --warm-start STUDY``).

Each source study's COMPLETE trials are added to the new study once, before its first own trial, as
*prior trials* (Optuna ``study.add_trials`` of ``optuna.trial.create_trial`` with the NEW study's
distributions), so its sampler starts from what they found; the best of them is enqueued as the new
study's first trial after the sweep's own literature defaults. A prior trial:

- carries the user attr :data:`PRIOR` (its source study), :data:`PRIOR_TRIAL` (its number there) and
  :data:`PRIOR_VALUES` (its objective values there); it never counts against ``budget.n_trials``
  (alignlab.sweep.records.counts), is never the best (alignlab.sweep.best), and ``compare`` and the report
  show it marked as prior;
- has exactly the new space's params: a source param the new sweep does not search is left out (the new
  sweep's fixed value stands in for it; counted per name), a new-space param the source trial did not
  search is taken from the setting it ran with (its run config), and a trial whose value is missing or
  outside the new range (or whose algorithm the new sweep does not train) is dropped, counted by reason;
- has rank-scaled values: per objective, its rank among the source study's complete trials (ties
  averaged) spread evenly over the source's own range of that objective (``worst + q * (best - worst)``,
  ``q`` from 0 for the worst to 1 for the best; over [0, 1] when the source optimised another metric).
  A source on another model or data set, whose values sit at another level or have a collapsed outlier,
  then tells the sampler its ordering, not its spacing.

What did not fit (an unknown study, no searched parameter in common, no algorithm in common, another
objective direction, nothing complete) is one problem per source, found before anything is created
(:func:`warm_start_problems`, which ``validate`` and ``sweep run`` run).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from alignlab.run.config import LORA_FIELDS
from alignlab.sweep import records
from alignlab.sweep.spec import ALGORITHM_PARAM, FloatParam, IntParam, SweepSpec

if TYPE_CHECKING:
    import optuna

    from alignlab.sweep.records import StudyRecord, TrialRecord

PRIOR: Final = "alignlab.prior"
"""Trial user attr: the source study of a prior trial (its absence: one of the study's own trials)."""
PRIOR_TRIAL: Final = "alignlab.prior_trial"
"""Trial user attr: the prior's trial number in its source study."""
PRIOR_VALUES: Final = "alignlab.prior_values"
"""Trial user attr: the prior's objective values in its source study (its own values are rank-scaled)."""
BEST_PRIOR: Final = "alignlab.best_prior"
"""Trial user attr of the enqueued trial that re-runs the best prior on the new study: its source study."""
STUDY_WARM_START: Final = "alignlab.warm_start"
"""Study user attr: ``{source: summary}`` of every source added (:meth:`PriorPlan.summary`); a source is
added once per study, so a resumed sweep does not add it again."""


@dataclass
class PriorPlan:
    """What one source study gives the new study."""

    source: str
    trials: list[Any] = field(default_factory=list)
    """The ``optuna.trial.FrozenTrial`` priors, ready for ``study.add_trials``."""
    n_complete: int = 0
    """COMPLETE trials in the source."""
    dropped: Counter[str] = field(default_factory=Counter)
    """Source trials left out, by reason."""
    params_left_out: Counter[str] = field(default_factory=Counter)
    """Source params outside the new search space, by name: left off the priors that had them."""
    best: tuple[float, dict[str, Any]] | None = None
    """The rank (0 to 1) and params of the best prior on the first objective."""

    def summary(self) -> dict[str, Any]:
        return {
            "complete": self.n_complete,
            "added": len(self.trials),
            "dropped": dict(self.dropped),
            "params_left_out": dict(self.params_left_out),
        }

    def describe(self) -> str:
        """In words: ``12 of 14 complete trials of 'old' added as priors (2 dropped: ...)``."""
        text = f"{len(self.trials)} of {self.n_complete} complete trials of {self.source!r} added as priors"
        if self.dropped:
            text += f" ({sum(self.dropped.values())} dropped: " + "; ".join(
                f"{n} {reason}" for reason, n in self.dropped.items()
            ) + ")"
        if self.params_left_out:
            text += "; params outside this sweep's space left out: " + ", ".join(
                f"{name} ({n} trials)" for name, n in self.params_left_out.items()
            )
        return text


# ---- which trials are priors ----------------------------------------------------------------------------


def is_prior(trial: optuna.trial.FrozenTrial) -> bool:
    return PRIOR in trial.user_attrs


def prior_sources(record: StudyRecord) -> dict[int, str]:
    """Trial number -> source study of every prior trial of an open study."""
    if record.study is None:
        return {}
    return {t.number: str(t.user_attrs[PRIOR]) for t in record.study.get_trials(deepcopy=False) if is_prior(t)}


def own_trials(record: StudyRecord, trials: list[TrialRecord]) -> list[TrialRecord]:
    """The study's own trials: ``trials`` without its priors (what best, confirm and the report's plots use)."""
    priors = prior_sources(record)
    return [t for t in trials if t.number not in priors]


# ---- checks ---------------------------------------------------------------------------------------------


def warm_start_problems(spec: SweepSpec, where: str, *, names: list[str] | None = None, key: str = "") -> list[str]:
    """One problem per source study that does not fit: unknown, the study itself, no searched parameter or
    algorithm in common, another number or direction of objectives, no complete trial. ``names`` (default
    the sweep's ``warm_start``) are given by ``key`` (default ``warm_start.<i>``, e.g. ``--warm-start``)."""
    from alignlab.errors import UserInputError
    from alignlab.sweep.catalog import open_study

    problems: list[str] = []
    for i, name in enumerate(spec.warm_start if names is None else names):
        at = (f"{where}: " if where else "") + f"{key or f'warm_start.{i}'}: study {name!r}"
        if name == spec.name:
            problems.append(f"{at} is this sweep's own study (its trials are already its own)")
            continue
        try:
            record = open_study(name)
        except UserInputError as exc:
            problems.append(f"{at}: " + "; ".join(exc.problems))
            continue
        problems += [f"{at} {p}" for p in _misfits(spec, record)]
    return problems


def with_warm_start(spec: SweepSpec, names: list[str], *, key: str) -> SweepSpec:
    """``spec`` with the studies ``names`` (given by ``key``, e.g. ``--warm-start``) added to its ``warm_start``;
    raises UserInputError with one line per study that does not fit (:func:`warm_start_problems`)."""
    from alignlab.errors import UserInputError

    extra = [n for n in dict.fromkeys(names) if n not in spec.warm_start]
    if problems := warm_start_problems(spec, "", names=extra, key=key):
        raise UserInputError(problems)
    return spec.model_copy(update={"warm_start": [*spec.warm_start, *extra]}) if extra else spec


def matching_studies(spec: dict[str, Any]) -> list[str]:
    """The studies under studies/ a sweep (as a mapping, e.g. a recommend draft) could warm-start from: same
    algorithm (one in common), a searched parameter in common, the same objective directions. Read from each
    study's sweep.yaml only (no Optuna), so a candidate may still turn out to have no complete trial."""
    import yaml

    from alignlab.paths import study_dir
    from alignlab.sweep.catalog import list_studies

    def listed(value: Any) -> set[str]:
        return {str(v) for v in (value if isinstance(value, list) else [value]) if v}

    def directions(raw: Any) -> list[str]:
        return [str(o.get("direction")) for o in raw or [] if isinstance(o, dict)]

    found = []
    for name in list_studies():
        try:
            other = yaml.safe_load((study_dir(name) / "sweep.yaml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # no sweep.yaml, or one that does not read: not offered
        if (
            isinstance(other, dict)
            and name != spec.get("name")
            and listed(other.get("algorithm")) & listed(spec.get("algorithm"))
            and set(other.get("search") or {}) & set(spec.get("search") or {})
            and directions(other.get("objectives")) == directions(spec.get("objectives"))
        ):
            found.append(name)
    return found


def _misfits(spec: SweepSpec, record: StudyRecord) -> list[str]:
    """Why a source study does not fit the sweep, in words (empty when it fits)."""
    theirs = [o.direction for o in record.objectives]
    ours = [o.direction for o in spec.objectives]
    if theirs != ours:
        return [
            f"optimises {_objectives_text(record.objectives)}, but this sweep optimises "
            f"{_objectives_text(spec.objectives)} (another objective direction)"
        ]
    searched = source_search_names(record)
    common = [n for n in spec.search if n in searched]
    if not common:
        return [
            f"searched {', '.join(sorted(searched)) or 'nothing'}, but this sweep searches "
            f"{', '.join(spec.search) or 'only the algorithm'}: no parameter in common"
        ]
    if record.algorithms and not set(record.algorithms) & set(spec.algorithms):
        return [f"trained {', '.join(record.algorithms)}, but this sweep trains {', '.join(spec.algorithms)}"]
    if not any(t.state.name == "COMPLETE" for t in record.study.get_trials(deepcopy=False) if not is_prior(t)):
        return ["has no complete trial to start from"]
    return []


def _objectives_text(objectives: Any) -> str:
    return ", ".join(f"{'max' if o.maximize else 'min'}imize {o.metric}" for o in objectives)


def source_search_names(record: StudyRecord) -> set[str]:
    """The params a source study searched: its stored sweep's ``search``, else its trials' params."""
    stored = records.stored_spec(record.study) or {}
    search = stored.get("search")
    if isinstance(search, dict) and search:
        return set(search)
    return {k for t in record.study.get_trials(deepcopy=False) for k in t.params if k != ALGORITHM_PARAM}


# ---- priors ---------------------------------------------------------------------------------------------


def distributions(spec: SweepSpec) -> dict[str, optuna.distributions.BaseDistribution]:
    """The new study's distributions, as :func:`alignlab.sweep.trial.sample_params` suggests them."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    if len(spec.algorithms) > 1:
        out[ALGORITHM_PARAM] = CategoricalDistribution(spec.algorithms)
    for name, param in spec.search.items():
        if isinstance(param, FloatParam):
            out[name] = FloatDistribution(param.low, param.high, log=param.log, step=param.step)
        elif isinstance(param, IntParam):
            out[name] = IntDistribution(param.low, param.high, log=param.log, step=param.step)
        else:
            out[name] = CategoricalDistribution(param.choices)
    return out


def rank_scaled(values: list[float], *, maximize: bool, same_metric: bool) -> list[float]:
    """Each value's rank among ``values`` (ties averaged) as q in [0, 1] (0 the worst, 1 the best), spread
    over the values' own range (``same_metric``) or over [0, 1], in the objective's direction."""
    n = len(values)
    order = sorted(range(n), key=lambda i: values[i])
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    q = [r / (n - 1) if n > 1 else 1.0 for r in ranks]  # ascending value -> ascending q
    if not maximize:
        q = [1.0 - x for x in q]
    low, high = (min(values), max(values)) if same_metric else (0.0, 1.0)
    worst, best = (low, high) if maximize else (high, low)
    return [worst + x * (best - worst) for x in q]


def plan_priors(spec: SweepSpec, record: StudyRecord) -> PriorPlan:
    """The priors one source study gives ``spec``'s study (see the module docstring)."""
    import optuna

    plan = PriorPlan(source=record.name)
    complete = [
        t for t in record.study.get_trials(deepcopy=False)
        if t.state.name == "COMPLETE" and t.values is not None and not is_prior(t)
        and len(t.values) == len(spec.objectives)
    ]
    plan.n_complete = len(complete)
    if not complete:
        return plan
    scaled = [
        rank_scaled(
            [float(t.values[i]) for t in complete],
            maximize=objective.maximize,
            same_metric=i < len(record.objectives) and record.objectives[i].metric == objective.metric,
        )
        for i, objective in enumerate(spec.objectives)
    ]
    ranks = rank_scaled([float(t.values[0]) for t in complete], maximize=spec.objectives[0].maximize, same_metric=False)
    space = distributions(spec)
    single = spec.algorithms[0] if len(spec.algorithms) == 1 else None
    for index, trial in enumerate(complete):
        algorithm = str(trial.user_attrs.get(records.TrialAttr.ALGORITHM) or trial.params.get(ALGORITHM_PARAM)
                        or (record.algorithms[0] if len(record.algorithms) == 1 else ""))
        if algorithm not in spec.algorithms:
            plan.dropped[f"trained {algorithm or 'an unknown algorithm'}, which this sweep does not"] += 1
            continue
        params, reason = _params_in_space(spec, trial, algorithm, space)
        if reason is not None:
            plan.dropped[reason] += 1
            continue
        for name in trial.params:
            if name != ALGORITHM_PARAM and name not in spec.search:
                plan.params_left_out[name] += 1
        if single is None:
            params[ALGORITHM_PARAM] = algorithm
        metrics = trial.user_attrs.get(records.TrialAttr.METRICS) or {}
        user_attrs: dict[str, Any] = {
            PRIOR: record.name,
            PRIOR_TRIAL: trial.number,
            PRIOR_VALUES: [float(v) for v in trial.values],
            records.TrialAttr.ALGORITHM: algorithm,
            records.TrialAttr.METRICS: metrics,
        }
        if spec.constraints:
            user_attrs[records.TrialAttr.CONSTRAINT_VALUES] = records.constraint_values(
                spec.constraints, metrics, missing=0.0
            )
        plan.trials.append(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE,
                params=params,
                distributions={k: space[k] for k in params},
                values=[s[index] for s in scaled],
                user_attrs=user_attrs,
            )
        )
        if plan.best is None or ranks[index] > plan.best[0]:
            plan.best = (ranks[index], params)
    return plan


def _params_in_space(
    spec: SweepSpec, trial: optuna.trial.FrozenTrial, algorithm: str, space: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The trial's value of every new-space param its algorithm has (searched there, else the setting it
    ran with), or the reason it cannot be a trial of the new space."""
    config = trial.user_attrs.get(records.TrialAttr.RUN_CONFIG) or {}
    ran_with = {**(config.get("params") or {}), **(config.get("lora") or {})}
    params: dict[str, Any] = {}
    own = _names_of(spec, algorithm)
    for name in spec.search:
        if name not in own:
            continue
        value = trial.params.get(name, ran_with.get(name))
        if value is None:
            return {}, f"lacked {name}"
        if not _in(space[name], value):
            return {}, f"had {name} outside this sweep's range"
        params[name] = value
    return params, None


def _names_of(spec: SweepSpec, algorithm: str) -> set[str]:
    """The search params ``algorithm`` has (alignlab.sweep.trial.applies; not imported: trial imports claims,
    which imports this module)."""
    if len(spec.algorithms) == 1:
        return set(spec.search)
    from alignlab.run.trl_fields import known_param_names

    return {n for n in spec.search if n in LORA_FIELDS or n in known_param_names(algorithm)}


def _in(distribution: Any, value: Any) -> bool:
    from optuna.distributions import CategoricalDistribution

    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def add_priors(study: optuna.Study, spec: SweepSpec) -> list[PriorPlan]:
    """Add the priors of every ``spec.warm_start`` source not yet added to ``study`` and enqueue the best
    of them; call under the study's lock. Returns the plans of the sources added by this call."""
    from alignlab.sweep.catalog import open_study

    done = dict(study.user_attrs.get(STUDY_WARM_START) or {})
    plans = [open_study(name) for name in spec.warm_start if name not in done]
    added = [plan_priors(spec, record) for record in plans]
    for plan in added:
        study.add_trials(plan.trials)
        done[plan.source] = plan.summary()
    best = max((p for p in added if p.best is not None), key=lambda p: p.best[0] if p.best else 0.0, default=None)
    if best is not None and best.best is not None:  # unless a default of the sweep already runs those params
        params = dict(best.best[1])
        given = [t.params or t.system_attrs.get("fixed_params") for t in study.get_trials(deepcopy=False)]
        if not any(p == params for t, p in zip(study.get_trials(deepcopy=False), given, strict=True) if not is_prior(t)):
            study.enqueue_trial(params, user_attrs={BEST_PRIOR: best.source})
    if added:
        study.set_user_attr(STUDY_WARM_START, done)
    return added




def without_priors(study: optuna.Study) -> optuna.Study:
    """The same study (same storage, read only here) whose trials show each prior as FAIL without values,
    so trial numbers stay positions and a prior is in no plot: what the report's Optuna plots read (a
    subclass of ``optuna.Study``, as Optuna's plots check)."""
    import copy

    import optuna

    class WithoutPriors(optuna.Study):
        def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[optuna.trial.FrozenTrial]:
            trials = [_masked(t, copy) if is_prior(t) else t for t in super().get_trials(deepcopy=deepcopy)]
            return [t for t in trials if states is None or t.state in states]

    return WithoutPriors(study_name=study.study_name, storage=study._storage)


def _masked(trial: optuna.trial.FrozenTrial, copy: Any) -> optuna.trial.FrozenTrial:
    from optuna.trial import TrialState

    masked = copy.copy(trial)
    masked.values = None
    masked.state = TrialState.FAIL
    return masked
