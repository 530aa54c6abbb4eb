"""The situation a recommendation answers, checked, and the facts the rules see.

A :class:`Situation` is everything the recommendation depends on (kind and size of the feedback, model,
GPU memory, GPU-hours, whether learning must be online); it checks its own values when built and raises
one :class:`~alignlab.errors.UserInputError` listing every problem (:func:`situation_problems`).
:func:`derive_facts` reduces it, with the memory and time :func:`estimate` of each algorithm, to the
named :data:`FACTS` with closed sets of values that :mod:`alignlab.recommend.rules` tests.
:func:`situation_from_profile` builds one from a :class:`~alignlab.data.DataProfile`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, get_args

from alignlab.errors import UserInputError
from alignlab.recommend.costs import (
    DEFAULT_COMPUTE,
    METHODS,
    RECOMMENDABLE,
    ComputeAssumptions,
    MemoryEstimate,
    Method,
    TrainSetup,
    TrialCost,
    estimate_memory,
    estimate_trial_cost,
    profile_of,
)
from alignlab.run.algorithms import recommendables
from alignlab.shapes import ModelShape

if TYPE_CHECKING:
    from alignlab.data.profile import DataProfile

DataType = Literal["pairwise", "binary", "scalar", "prompt"]
"""The kind of feedback: preference pairs, good/bad labels, numeric scores, or prompts alone."""
DATA_TYPES: tuple[str, ...] = get_args(DataType)

RewardSource = Literal["unknown", "model", "function"]
"""What can score the policy's own samples: a trained reward model, a reward function (a verifier or a
programmatic check, TRL's ``module:function``), or unknown (none given: online algorithms on feedback
data train a reward model on it first)."""
REWARD_SOURCES: tuple[str, ...] = get_args(RewardSource)

# ---------------------------------------------------------------------------------------------
# Thresholds. Each is a judgement call stated in the output, not a measured constant.
# ---------------------------------------------------------------------------------------------

SMALL_DATA_ROWS = 1000
"""Below this many rows a data set is "small". At TRL's default batch of 8, 1,000 rows is ~125 optimizer
steps per epoch; the DPO/KTO papers' experiments use 10k-100k+ examples (UltraFeedback ~60k, HH ~160k),
and KTO's reference point z0 is estimated per batch from mismatched pairs, noisier with few rows. With
few rows, pairing labelled completions extracts more signal per example than KTO's unpaired loss."""

AMPLE_PPO_TRIALS = 10
"""The budget is "ample" when ``--gpu-hours`` pays for at least this many PPO trials, "tight" below.
10 is Optuna's default ``n_startup_trials`` for TPE: fewer trials than that are a random search, and
PPO is the most hyperparameter-sensitive of the candidates (Xu et al. 2024 needed a tuned setup to make
PPO beat DPO)."""

BUDGET_YARDSTICK = "ppo"
"""The recommendable entry whose trials :data:`AMPLE_PPO_TRIALS` counts (a threshold of the rule table's
``budget`` fact, stated with it)."""

IMBALANCED_MINORITY_FRACTION = 1 / 3
"""Binary data is "imbalanced" when the minority label is under a third of the rows (2:1 or worse):
pairing for DPO then uses at most the minority class and discards half or more of the majority, while
KTO keeps every row and rebalances with desirable_weight (KTO paper §4.4 trains with 90 % of the
desirable examples dropped)."""

PAIRABLE_MIN_PAIRS_PER_ROW = 0.25
"""Binary or scalar data is "pairable" when converting it to pairwise yields at least one pair per four
rows (as if half the rows took part in a pair); below, most of the data would sit unused."""

DEFAULT_SEQ_LEN = 1024
"""Tokens per sequence when neither ``--seq-len`` nor a data profile gives one (TRL's ``max_length``)."""

DEFAULT_MODEL = "7b"
"""The model size assumed when ``--model`` is not given: the most common size for preference tuning."""

SMALL_REWARD_MODEL_PAIRS = 1000
"""Below this many pairs a reward model alignlab would train for the online algorithms is "small": the
threshold of "small" data, applied to the pairs the reward model itself learns from. Gao et al. 2023
(Scaling Laws for Reward Model Overoptimization) find that a policy optimised against a reward model
trained on less data departs from the truth sooner; InstructGPT's reward model learned from 33k prompts."""

#: How a drafted sweep splits a file's prompts (alignlab.run.splits): the evaluation share (DataSettings'
#: default), the held-out judge's (alignlab.sweep.objectives.RECOMMENDED_JUDGE) and, for an online
#: algorithm without a reward source, the reward model's (RewardModelSettings' default). Tests check they
#: equal those defaults; recommend imports no pydantic.
DRAFT_EVAL_FRACTION = 0.1
DRAFT_JUDGE_FRACTION = 0.2
DRAFT_REWARD_MODEL_FRACTION = 0.5

THRESHOLDS: dict[str, float] = {
    "small_data_rows": SMALL_DATA_ROWS,
    "small_reward_model_pairs": SMALL_REWARD_MODEL_PAIRS,
    "ample_ppo_trials": AMPLE_PPO_TRIALS,
    "imbalanced_minority_fraction": round(IMBALANCED_MINORITY_FRACTION, 4),
    "pairable_min_pairs_per_row": PAIRABLE_MIN_PAIRS_PER_ROW,
}

# ---------------------------------------------------------------------------------------------
# The situation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """The values one numeric field of a :class:`Situation` may take."""

    option: str
    """The name problems are reported under: the ``alignlab recommend`` option users know."""
    integer: bool
    """Only integers are accepted (else any finite number)."""
    low: float
    """The lower bound."""
    high: float = math.inf
    """The upper bound, inclusive (inf: none)."""
    low_inclusive: bool = False
    """``low`` itself is allowed (``>=``; else ``>``)."""

    def problem(self, value: Any) -> str | None:
        """The problem line for ``value``, or None when it is allowed."""
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if self.integer and not is_int:
            return f"{self.option}: expected an integer, but got {value!r}"
        if not (is_int or isinstance(value, float)):
            return f"{self.option}: expected a number, but got {value!r}"
        above = value >= self.low if self.low_inclusive else value > self.low
        if math.isfinite(value) and above and value <= self.high:
            return None
        bound = f"{'>=' if self.low_inclusive else '>'} {self.low:g}"
        if math.isfinite(self.high):
            bound += f" and <= {self.high:g}"
        return f"{self.option}: must be {bound}, but got {value if is_int else f'{value:g}'}"


#: The numeric fields of a :class:`Situation` and their allowed ranges (None values are not checked).
LIMITS: dict[str, Limit] = {
    "n_examples": Limit("--n-examples", integer=True, low=0, high=1e11),
    "desirable_fraction": Limit("--desirable-fraction", integer=False, low=0, high=1, low_inclusive=True),
    "gpu_memory_gb": Limit("--gpu-memory-gb", integer=False, low=0, high=1e4),
    "gpu_hours": Limit("--gpu-hours", integer=False, low=0, high=1e8),
    "seq_len": Limit("--seq-len", integer=True, low=16, high=2**21, low_inclusive=True),
    "batch_size": Limit("--batch-size", integer=True, low=1, high=65536, low_inclusive=True),
    "unique_prompts": Limit("unique_prompts", integer=True, low=0, low_inclusive=True),
    "n_pairs": Limit("n_pairs", integer=True, low=0, low_inclusive=True),
}


def situation_problems(values: Mapping[str, Any]) -> list[str]:
    """Every problem with the :class:`Situation` fields in ``values`` (any subset of them), one line
    each, named by the ``alignlab recommend`` option; empty when all are valid."""
    problems: list[str] = []
    data_type = values.get("data_type")
    if "data_type" in values and data_type not in DATA_TYPES:
        problems.append(f"--data-type: expected one of {', '.join(DATA_TYPES)}, but got {data_type!r}")
    if values.get("desirable_fraction") is not None and "data_type" in values and data_type != "binary":
        problems.append("--desirable-fraction: applies to --data-type binary only")
    if "method" in values and values["method"] not in METHODS:
        problems.append(f"--method: expected one of {', '.join(METHODS)}, but got {values['method']!r}")
    if "reward" in values and values["reward"] not in REWARD_SOURCES:
        problems.append(f"--reward: expected one of {', '.join(REWARD_SOURCES)}, but got {values['reward']!r}")
    for name, limit in LIMITS.items():
        if values.get(name) is not None and (problem := limit.problem(values[name])) is not None:
            problems.append(problem)
    return problems


@dataclass(frozen=True)
class Situation:
    """Everything the recommendation depends on; checked when built (:func:`situation_problems`)."""

    data_type: DataType
    """The kind of feedback available."""
    n_examples: int
    """Rows of feedback (pairs, labelled completions, scored completions or prompts)."""
    model: ModelShape
    """The policy's shape (alignlab.shapes.parse_model)."""
    method: Method = "lora"
    """How the policy is trained: lora, qlora or full."""
    seq_len: int = DEFAULT_SEQ_LEN
    """Tokens per sequence (prompt + response)."""
    batch_size: int = 8
    """Examples per micro-batch."""
    desirable_fraction: float | None = None
    """Binary data: fraction of rows labelled desirable; None when unknown."""
    unique_prompts: int | None = None
    """Distinct prompts (the episodes of an online epoch); None when unknown (then ``n_examples``)."""
    n_pairs: int | None = None
    """Binary or scalar data: pairs a conversion to pairwise would form; None when unknown."""
    noisy: bool = False
    """The labels are believed noisy (low rater agreement, flipped labels)."""
    online: bool = False
    """Learning must be online: new feedback (rewards) on the policy's own samples arrives during training."""
    reward: RewardSource = "unknown"
    """What scores the policy's samples for online algorithms: ``model``, ``function`` or ``unknown``."""
    gpu_memory_gb: float | None = None
    """Memory of the one GPU, in GiB; None when unknown (nothing is ruled out for memory)."""
    gpu_hours: float | None = None
    """GPU-hours for the whole sweep; None when unknown (no budget rules fire)."""
    model_ref: str | None = None
    """``--model`` as given (a folder, a builtin name or a size), for the sweep file; None when not given."""
    data_path: str | None = None
    """The feedback file, when the situation came from one."""
    seq_len_source: str = "default"
    """Where ``seq_len`` came from, for the assumptions."""

    def __post_init__(self) -> None:
        problems = situation_problems({f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise UserInputError(problems)

    @property
    def n_desirable(self) -> int | None:
        """Binary data: rows labelled desirable, when the fraction is known."""
        if self.desirable_fraction is None:
            return None
        return round(self.desirable_fraction * self.n_examples)

    def setup(self) -> TrainSetup:
        return TrainSetup(
            method=self.method,
            seq_len=self.seq_len,
            batch_size=self.batch_size,
            reward_model_resident=self.reward != "function",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_type": self.data_type,
            "n_examples": self.n_examples,
            "desirable_fraction": self.desirable_fraction,
            "unique_prompts": self.unique_prompts,
            "n_pairs": self.n_pairs,
            "noisy": self.noisy,
            "online": self.online,
            "reward": self.reward,
            "model": self.model.to_dict(),
            "model_ref": self.model_ref,
            "method": self.method,
            "seq_len": self.seq_len,
            "seq_len_source": self.seq_len_source,
            "batch_size": self.batch_size,
            "gpu_memory_gb": self.gpu_memory_gb,
            "gpu_hours": self.gpu_hours,
            "data_path": self.data_path,
        }


def seq_len_from_profile(profile: DataProfile) -> int | None:
    """A ``max_length`` from a data profile: the p90 of prompt + completion tokens, rounded up to a
    multiple of 64 (at least 64); None when the profile has no lengths."""
    lengths = profile.lengths.get("total") or profile.lengths.get("prompt")
    if lengths is None or lengths.p90 <= 0:
        return None
    return max(64, 64 * math.ceil(lengths.p90 / 64))


def situation_from_profile(profile: DataProfile, **kwargs: Any) -> Situation:
    """A :class:`Situation` from a data profile (kind, rows, unique prompts, desirable fraction, pairs,
    lengths); ``kwargs`` give the other fields and override (``seq_len=None``: the profile's p90)."""
    values: dict[str, Any] = {
        "data_type": profile.kind,
        "n_examples": profile.rows,
        "unique_prompts": profile.unique_prompts,
        "desirable_fraction": profile.desirable_fraction,
        "n_pairs": profile.pairs if profile.kind in ("binary", "scalar") else None,
        "data_path": profile.source,
    }
    if kwargs.get("seq_len") is None:
        kwargs.pop("seq_len", None)
        seq_len = seq_len_from_profile(profile)
        if seq_len is not None:
            values.update(
                seq_len=seq_len,
                seq_len_source=f"p90 of prompt + completion in the data profile, {profile.length_unit}",
            )
    return Situation(**{**values, **kwargs})


# ---------------------------------------------------------------------------------------------
# The facts the rules see
# ---------------------------------------------------------------------------------------------

#: Every fact a rule may test, with its closed set of values.
FACTS: dict[str, tuple[Any, ...]] = {
    "data_type": DATA_TYPES,
    "data_size": ("small", "large"),
    "balance": ("balanced", "imbalanced", "unknown"),
    "pairable": ("yes", "no", "unknown"),
    "noisy": (True, False),
    "online": (True, False),
    "reward": REWARD_SOURCES,
    "budget": ("tight", "ample", "unknown"),
    "reward_model_data": ("small", "large", "none"),
    "method": METHODS,
    **{f"fits_{a}": ("yes", "no", "unknown") for a in RECOMMENDABLE},
    **{f"trials_{a}": ("none", "some", "unknown") for a in RECOMMENDABLE},
}


@dataclass(frozen=True)
class Estimate:
    """Memory and time of one algorithm in the situation."""

    memory: MemoryEstimate
    """Peak GPU memory, term by term."""
    fits: bool | None
    """Whether it fits in ``gpu_memory_gb``; None when that is unknown."""
    cost: TrialCost
    """FLOPs and GPU time of one trial."""
    trials_affordable: int | None
    """Whole trials ``gpu_hours`` pays for; None when no budget is given."""


def examples_for(algorithm: str, s: Situation) -> int:
    """Examples one epoch of ``algorithm`` trains on, after any conversion of the data to the shape it
    trains on (its module's TRAIN_KIND): prompts for online algorithms, a row per completion for binary
    ones (a pair gives two), pairs for pairwise ones."""
    runs_as, _ = recommendables()[algorithm]
    if profile_of(algorithm).generates:
        return s.unique_prompts or s.n_examples
    if s.data_type == "prompt":
        return 0
    if runs_as.TRAIN_KIND == "binary":
        return 2 * s.n_examples if s.data_type == "pairwise" else s.n_examples
    if s.data_type == "pairwise":
        return s.n_examples
    if s.n_pairs is not None:
        return s.n_pairs
    if s.data_type == "binary" and s.n_desirable is not None:
        return min(s.n_desirable, s.n_examples - s.n_desirable)
    return s.n_examples // 2


def trains_reward_model(s: Situation) -> bool:
    """Whether the online algorithms would train their reward model from the data first: feedback with
    something to learn from, and neither a reward model nor a function given."""
    return s.data_type != "prompt" and s.reward == "unknown"


def reward_model_pairs(s: Situation) -> int:
    """Pairs the reward model of a drafted online sweep learns from: the file's pairs (pairs formed from
    binary or scalar feedback), times the share the split rule leaves it after the evaluation and the
    judge (``(1 - 0.1) * (1 - 0.2) * 0.5``, 36 %, with the drafted fractions)."""
    if not trains_reward_model(s):
        return 0
    pairs = s.n_examples if s.data_type == "pairwise" else s.n_pairs if s.n_pairs is not None else s.n_examples // 2
    share = (1 - DRAFT_EVAL_FRACTION) * (1 - DRAFT_JUDGE_FRACTION) * DRAFT_REWARD_MODEL_FRACTION
    return math.floor(pairs * share)


def estimate(algorithm: str, s: Situation, *, compute: ComputeAssumptions = DEFAULT_COMPUTE) -> Estimate:
    """Memory and trial cost of ``algorithm``; online algorithms on feedback data first train a reward
    model on it (once per study) unless a reward model or function is given; prompt-only data needs the
    user's own reward model or function."""
    setup = s.setup()
    memory = estimate_memory(s.model, algorithm, setup)
    rm_examples = reward_model_pairs(s) if profile_of(algorithm).reward_model else 0
    cost = estimate_trial_cost(
        s.model,
        algorithm,
        setup,
        examples=examples_for(algorithm, s),
        reward_model_examples=rm_examples,
        reward_model_sequences=2 if s.data_type == "pairwise" else 1,
        assumptions=compute,
    )
    return Estimate(memory, memory.fits(s.gpu_memory_gb), cost, cost.trials_affordable(s.gpu_hours))


def derive_facts(s: Situation, estimates: Mapping[str, Estimate]) -> dict[str, Any]:
    """The situation reduced to :data:`FACTS` (the only thing rules see)."""
    balance = "unknown"
    if s.data_type == "binary" and s.desirable_fraction is not None:
        minority = min(s.desirable_fraction, 1 - s.desirable_fraction)
        balance = "imbalanced" if minority < IMBALANCED_MINORITY_FRACTION else "balanced"
    pairable = "unknown"
    if s.data_type in ("binary", "scalar") and s.n_pairs is not None:
        pairable = "yes" if s.n_pairs >= PAIRABLE_MIN_PAIRS_PER_ROW * s.n_examples else "no"
    ppo_trials = estimates[BUDGET_YARDSTICK].trials_affordable
    budget = "unknown" if ppo_trials is None else ("ample" if ppo_trials >= AMPLE_PPO_TRIALS else "tight")
    facts: dict[str, Any] = {
        "data_type": s.data_type,
        "data_size": "small" if s.n_examples < SMALL_DATA_ROWS else "large",
        "balance": balance,
        "pairable": pairable,
        "noisy": s.noisy,
        "online": s.online,
        "reward": s.reward,
        "budget": budget,
        "reward_model_data": (
            "none"
            if not trains_reward_model(s)
            else "small" if reward_model_pairs(s) < SMALL_REWARD_MODEL_PAIRS else "large"
        ),
        "method": s.method,
    }
    for a, e in estimates.items():
        facts[f"fits_{a}"] = "unknown" if e.fits is None else ("yes" if e.fits else "no")
        t = e.trials_affordable
        facts[f"trials_{a}"] = "unknown" if t is None else ("none" if t < 1 else "some")
    return facts
