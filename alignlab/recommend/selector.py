"""Recommend an alignment algorithm: a table of rules over a :class:`Situation`, evaluated by one function.

The situation (kind and size of the feedback, model, GPU memory, GPU-hours, whether learning must be
online) is reduced to a few named *facts* (:func:`derive_facts`), each with a closed set of values.
Every :class:`Rule` in :data:`RULES` has a condition over those facts (:class:`When`: for each fact
named, the values it may take), one effect on one algorithm (a score delta, a conversion path, or
ruling it out), a reason and its source. :func:`recommend` adds up the deltas of the rules that fire
and ranks the algorithms; the rules are data, so a test can walk the table.

Pure and light: no torch, transformers, trl, mlflow or pandas; :func:`draft_sweep` imports
:mod:`alignlab.sweep.spec` (pydantic + PyYAML) only when asked for a sweep file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from alignlab.errors import UserInputError
from alignlab.paths import write_atomic
from alignlab.recommend.costs import (
    ALGORITHMS,
    DEFAULT_COMPUTE,
    PROFILES,
    ComputeAssumptions,
    MemoryEstimate,
    Method,
    ModelShape,
    TrainSetup,
    TrialCost,
    estimate_memory,
    estimate_trial_cost,
)

DataType = Literal["pairwise", "binary", "scalar", "prompt"]
"""The kind of feedback: preference pairs, good/bad labels, numeric scores, or prompts alone."""
DATA_TYPES: tuple[str, ...] = get_args(DataType)

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

MIN_SWEEP_TRIALS = 4
"""Fewest trials a drafted sweep asks for (the enqueued default plus a few samples)."""
MAX_SWEEP_TRIALS = 50
"""Most trials a drafted sweep asks for; TPE gains little beyond ~50 trials on 2-4 parameters."""
DEFAULT_SWEEP_TRIALS = 20
"""Trials of a drafted sweep when no ``--gpu-hours`` is given."""
KL_MAX = 10.0
"""The KL constraint of drafted sweeps, in nats per response: gold reward peaks at moderate KL and falls
beyond it (Gao et al. 2023), so trials far from the reference are treated as infeasible."""

THRESHOLDS: dict[str, float] = {
    "small_data_rows": SMALL_DATA_ROWS,
    "ample_ppo_trials": AMPLE_PPO_TRIALS,
    "imbalanced_minority_fraction": round(IMBALANCED_MINORITY_FRACTION, 4),
    "pairable_min_pairs_per_row": PAIRABLE_MIN_PAIRS_PER_ROW,
}

# ---------------------------------------------------------------------------------------------
# The situation and its facts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    """Everything the recommendation depends on."""

    data_type: DataType
    """The kind of feedback available."""
    n_examples: int
    """Rows of feedback (pairs, labelled completions, scored completions or prompts)."""
    model: ModelShape
    """The policy's shape (alignlab.recommend.costs.parse_model)."""
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

    @property
    def n_desirable(self) -> int | None:
        """Binary data: rows labelled desirable, when the fraction is known."""
        if self.desirable_fraction is None:
            return None
        return round(self.desirable_fraction * self.n_examples)

    def setup(self) -> TrainSetup:
        return TrainSetup(method=self.method, seq_len=self.seq_len, batch_size=self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_type": self.data_type,
            "n_examples": self.n_examples,
            "desirable_fraction": self.desirable_fraction,
            "unique_prompts": self.unique_prompts,
            "n_pairs": self.n_pairs,
            "noisy": self.noisy,
            "online": self.online,
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


#: Every fact a rule may test, with its closed set of values.
FACTS: dict[str, tuple[Any, ...]] = {
    "data_type": DATA_TYPES,
    "data_size": ("small", "large"),
    "balance": ("balanced", "imbalanced", "unknown"),
    "pairable": ("yes", "no", "unknown"),
    "noisy": (True, False),
    "online": (True, False),
    "budget": ("tight", "ample", "unknown"),
    "method": ("lora", "qlora", "full"),
    **{f"fits_{a}": ("yes", "no", "unknown") for a in ALGORITHMS},
    **{f"trials_{a}": ("none", "some", "unknown") for a in ALGORITHMS},
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
    """Examples one epoch of ``algorithm`` trains on, after any conversion of the data."""
    if PROFILES[algorithm].generates:
        return s.unique_prompts or s.n_examples
    if s.data_type == "prompt":
        return 0
    if algorithm == "kto":
        return 2 * s.n_examples if s.data_type == "pairwise" else s.n_examples
    if s.data_type == "pairwise":
        return s.n_examples
    if s.n_pairs is not None:
        return s.n_pairs
    if s.data_type == "binary" and s.n_desirable is not None:
        return min(s.n_desirable, s.n_examples - s.n_desirable)
    return s.n_examples // 2


def estimate(algorithm: str, s: Situation, *, compute: ComputeAssumptions = DEFAULT_COMPUTE) -> Estimate:
    """Memory and trial cost of ``algorithm``; online algorithms on feedback data first train a reward
    model on it (once per study), prompt-only data needs the user's own reward model."""
    setup = s.setup()
    memory = estimate_memory(s.model, algorithm, setup)
    rm_examples = s.n_examples if PROFILES[algorithm].reward_model and s.data_type != "prompt" else 0
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
    ppo_trials = estimates["ppo"].trials_affordable
    budget = "unknown" if ppo_trials is None else ("ample" if ppo_trials >= AMPLE_PPO_TRIALS else "tight")
    facts: dict[str, Any] = {
        "data_type": s.data_type,
        "data_size": "small" if s.n_examples < SMALL_DATA_ROWS else "large",
        "balance": balance,
        "pairable": pairable,
        "noisy": s.noisy,
        "online": s.online,
        "budget": budget,
        "method": s.method,
    }
    for a, e in estimates.items():
        facts[f"fits_{a}"] = "unknown" if e.fits is None else ("yes" if e.fits else "no")
        t = e.trials_affordable
        facts[f"trials_{a}"] = "unknown" if t is None else ("none" if t < 1 else "some")
    return facts


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class When:
    """A conjunction: for each named fact, the values it may take. No conditions: always true."""

    conditions: tuple[tuple[str, frozenset[Any]], ...]
    """(fact, allowed values) pairs."""

    def holds(self, facts: Mapping[str, Any]) -> bool:
        return all(facts[name] in allowed for name, allowed in self.conditions)

    def describe(self) -> str:
        def show(values: frozenset[Any]) -> str:
            items = sorted(map(str, values))
            return items[0] if len(items) == 1 else "{" + ",".join(items) + "}"

        return " and ".join(f"{name}={show(v)}" for name, v in self.conditions) or "always"


def when(**conditions: Any) -> When:
    """``when(data_type="binary", pairable=("yes", "unknown"))``: a tuple lists allowed values."""
    return When(
        tuple((k, frozenset(v) if isinstance(v, tuple) else frozenset([v])) for k, v in conditions.items())
    )


@dataclass(frozen=True)
class Rule:
    """One row of the decision table."""

    name: str
    """Unique id, shown with the reason."""
    when: When
    """The condition over :data:`FACTS`."""
    algorithm: str
    """The algorithm the effect applies to."""
    delta: float
    """Added to the algorithm's score when the rule fires."""
    reason: str
    """Why, in a sentence."""
    source: str
    """Where the rule comes from (paper and section, or alignlab's own estimate)."""
    conversion: str | None = None
    """The data path the algorithm needs in this situation (e.g. convert binary to pairwise first)."""
    rule_out: bool = False
    """The algorithm cannot run in this situation at all."""


DPO = "DPO (Rafailov et al. 2023)"
KTO = "KTO paper (Ethayarajh et al. 2024) §4.4"
PPO = "PPO-based RLHF (Ouyang et al. 2022; Ziegler et al. 2019)"
PPO_VS_DPO = (
    "Xu et al. 2024 (Is DPO Superior to PPO for LLM Alignment?); Ivison et al. 2024 (Unpacking DPO and PPO)"
)
IPO = "IPO (Azar et al. 2023) §4.2"
SIMPO = "SimPO (Meng et al. 2024)"
ORPO = "ORPO (Hong et al. 2024)"
RLOO = "RLOO (Ahmadian et al. 2024)"
RM_SCALING = "Gao et al. 2023 (Scaling Laws for Reward Model Overoptimization)"
ONLINE_GAP = (
    "Tang et al. 2024 (Understanding the performance gap between online and offline alignment algorithms)"
)
ROBUST = "cDPO (Mitchell 2023); robust DPO (Chowdhury et al. 2024)"
MEMORY = "alignlab.recommend.costs estimate"
BUDGET = "alignlab.recommend.costs time estimate"
ALIGNLAB = "alignlab (what `alignlab sweep` runs today)"

PAIR_ALGORITHMS = ("dpo", "ipo", "simpo", "orpo")
"""Algorithms that train on preference pairs."""
OFFLINE_ALGORITHMS = (*PAIR_ALGORITHMS, "kto")
"""Algorithms that learn from a fixed data set."""
ONLINE_ALGORITHMS = ("ppo", "rloo")
"""Algorithms that sample from the policy and score the samples with a reward model."""

TO_PAIRWISE = "`alignlab data convert DATA --to pairwise --out PAIRS.jsonl`"
TO_BINARY = "`alignlab data convert DATA --to binary --out LABELS.jsonl`"
REWARD_MODEL = "train a reward model on it first (`alignlab train`, algorithm: reward), then"

#: The decision table. Scores start at 0; a rule adds ``delta`` to its algorithm when its condition holds.
RULES: tuple[Rule, ...] = (
    # --- pairwise preferences ------------------------------------------------------------------
    Rule(
        "pairwise-offline:dpo",
        when(data_type="pairwise", online=False),
        "dpo",
        3.0,
        "offline preference pairs: DPO optimises the KL-regularised RLHF objective directly, without a reward model or sampling",
        DPO,
    ),
    Rule(
        "pairwise-offline:ipo",
        when(data_type="pairwise", online=False),
        "ipo",
        2.0,
        "pairs in DPO's shape; IPO's squared loss keeps the policy near the reference instead of pushing margins without bound",
        IPO,
    ),
    Rule(
        "pairwise-offline:simpo",
        when(data_type="pairwise", online=False),
        "simpo",
        2.0,
        "reference-free, length-normalised margin: no reference pass, less memory and compute",
        SIMPO,
    ),
    Rule(
        "pairwise-offline:orpo",
        when(data_type="pairwise", online=False),
        "orpo",
        1.5,
        "reference-free and folds SFT into the preference loss: no separate SFT stage",
        ORPO,
    ),
    Rule(
        "pairwise:kto",
        when(data_type="pairwise"),
        "kto",
        1.0,
        "KTO trains on the pairs split into desirable (chosen) and undesirable (rejected) completions",
        KTO,
        conversion="pairwise -> binary: chosen is desirable, rejected undesirable (done by alignlab when it loads the data)",
    ),
    Rule(
        "pairwise:ppo",
        when(data_type="pairwise"),
        "ppo",
        1.0,
        "the InstructGPT pipeline: a reward model fit to the pairs, then PPO against it",
        PPO,
        conversion=f"pairs -> reward model: {REWARD_MODEL} PPO",
    ),
    Rule(
        "pairwise:rloo",
        when(data_type="pairwise"),
        "rloo",
        0.5,
        "a reward model fit to the pairs, then RLOO: online RL without a value model",
        RLOO,
        conversion=f"pairs -> reward model: {REWARD_MODEL} RLOO",
    ),
    Rule(
        "pairwise-tight:dpo",
        when(data_type="pairwise", online=False, budget="tight"),
        "dpo",
        2.0,
        "tight budget: a DPO trial costs a fraction of a PPO trial (no sampling, no critic, no reward model to train)",
        f"{DPO}; {BUDGET}",
    ),
    Rule(
        "pairwise-tight:ppo",
        when(data_type="pairwise", online=False, budget="tight"),
        "ppo",
        -2.0,
        f"tight budget: fewer than {AMPLE_PPO_TRIALS} PPO trials, too few to tune PPO's many hyperparameters",
        BUDGET,
    ),
    Rule(
        "pairwise-ample:ppo",
        when(data_type="pairwise", online=False, budget="ample"),
        "ppo",
        3.5,
        "ample budget: a well-tuned PPO outperforms DPO on most benchmarks",
        PPO_VS_DPO,
    ),
    Rule(
        "pairwise-small:ipo",
        when(data_type="pairwise", data_size="small"),
        "ipo",
        0.75,
        "few pairs, each seen once, look like deterministic preferences: DPO overfits them, IPO does not",
        IPO,
    ),
    Rule(
        "pairwise-small:ppo",
        when(data_type="pairwise", data_size="small", online=False),
        "ppo",
        -2.0,
        "few pairs make a weak reward model, which PPO then over-optimises",
        RM_SCALING,
    ),
    # --- binary good/bad labels ----------------------------------------------------------------
    Rule(
        "binary:kto",
        when(data_type="binary"),
        "kto",
        3.0,
        "good/bad labels on single completions are KTO's native input: no pairs needed",
        KTO,
    ),
    Rule(
        "binary-large:kto",
        when(data_type="binary", data_size="large"),
        "kto",
        2.0,
        "enough labelled completions: KTO matches or beats DPO from 1B to 30B parameters",
        KTO,
    ),
    Rule(
        "binary-small:dpo",
        when(
            data_type="binary",
            data_size="small",
            pairable=("yes", "unknown"),
            balance=("balanced", "unknown"),
            noisy=False,
            online=False,
        ),
        "dpo",
        5.5,
        "few labelled completions that pair up: a pair (same prompt, one good, one bad) carries more signal per example; "
        "DPO on the pairs",
        f"{DPO}; {KTO}",
        conversion=f"binary -> pairwise: pair desirable and undesirable completions of the same prompt with {TO_PAIRWISE}, then DPO",
    ),
    Rule(
        "binary-imbalanced:kto",
        when(data_type="binary", balance="imbalanced"),
        "kto",
        2.0,
        "imbalanced labels: KTO keeps every row and rebalances with desirable_weight/undesirable_weight",
        KTO,
    ),
    Rule(
        "binary-imbalanced:dpo",
        when(data_type="binary", balance="imbalanced"),
        "dpo",
        -1.5,
        "pairing uses at most the minority label: most of the majority class would be thrown away",
        KTO,
    ),
    Rule(
        "binary-offline:ppo",
        when(data_type="binary", online=False),
        "ppo",
        0.5,
        "a reward model (classifier) fit to the labels, then PPO against it",
        PPO,
        conversion=f"labels -> reward model: {REWARD_MODEL} PPO",
    ),
    # --- scalar scores -------------------------------------------------------------------------
    Rule(
        "scalar-offline:dpo",
        when(data_type="scalar", online=False, pairable=("yes", "unknown")),
        "dpo",
        3.5,
        "offline scores with several completions per prompt: rank them into pairs and run DPO",
        DPO,
        conversion=f"scalar -> pairwise: per prompt, the higher-scored completion is chosen, ties dropped ({TO_PAIRWISE}), then DPO",
    ),
    Rule(
        "scalar-offline:kto",
        when(data_type="scalar", online=False),
        "kto",
        3.0,
        "reward-filtered training: a score threshold splits completions into desirable and undesirable, then KTO",
        KTO,
        conversion=f"scalar -> binary: desirable at or above the median score ({TO_BINARY}), then KTO",
    ),
    Rule(
        "scalar-offline:ppo",
        when(data_type="scalar", online=False),
        "ppo",
        1.5,
        "scores are a reward signal: a reward model regressed on them drives PPO",
        PPO,
        conversion=f"scores -> reward model: {REWARD_MODEL} PPO",
    ),
    Rule(
        "scalar-online:ppo",
        when(data_type="scalar", online=True),
        "ppo",
        1.0,
        "scalar rewards arriving online on the policy's own samples are PPO's native signal",
        PPO,
    ),
    Rule(
        "scalar-online:rloo",
        when(data_type="scalar", online=True),
        "rloo",
        1.0,
        "scalar rewards online, with k samples per prompt as each other's baseline",
        RLOO,
    ),
    # --- prompts only --------------------------------------------------------------------------
    Rule(
        "prompt:ppo",
        when(data_type="prompt"),
        "ppo",
        4.0,
        "prompts only: sample responses and score them with a reward model (give reward_model), then PPO",
        PPO,
    ),
    Rule(
        "prompt:rloo",
        when(data_type="prompt"),
        "rloo",
        3.5,
        "prompts only: online RL with a reward model and no value model (half PPO's trained weights)",
        RLOO,
    ),
    Rule(
        "prompt-tight:rloo",
        when(data_type="prompt", budget="tight"),
        "rloo",
        1.5,
        "tight budget: RLOO trains no critic and updates once per batch, under half PPO's cost per prompt",
        f"{RLOO}; {BUDGET}",
    ),
    # --- online learning -----------------------------------------------------------------------
    Rule(
        "online:ppo",
        when(online=True),
        "ppo",
        6.0,
        "online learning: PPO samples from the current policy and learns from fresh rewards",
        PPO,
    ),
    Rule(
        "online:rloo",
        when(online=True),
        "rloo",
        4.5,
        "online learning without a value model: REINFORCE with a leave-one-out baseline",
        RLOO,
    ),
    Rule(
        "online-tight:rloo",
        when(online=True, budget="tight"),
        "rloo",
        1.0,
        "tight budget: no critic to train, one update per batch",
        f"{RLOO}; {BUDGET}",
    ),
    *(
        Rule(
            f"online:{a}",
            when(online=True),
            a,
            -2.0,
            "learns from a fixed data set: feedback on the policy's own samples goes unused",
            ONLINE_GAP,
        )
        for a in OFFLINE_ALGORITHMS
    ),
    # --- what the data cannot support ----------------------------------------------------------
    *(
        Rule(
            f"prompt-only:{a}",
            when(data_type="prompt"),
            a,
            0.0,
            "needs completions with feedback; prompt-only data has none",
            ALIGNLAB,
            rule_out=True,
        )
        for a in OFFLINE_ALGORITHMS
    ),
    *(
        Rule(
            f"unpairable:{a}",
            when(data_type=("binary", "scalar"), pairable="no"),
            a,
            0.0,
            "too few prompts with both a better and a worse completion: pairs cannot be formed",
            ALIGNLAB,
            rule_out=True,
        )
        for a in PAIR_ALGORITHMS
    ),
    # --- noisy labels --------------------------------------------------------------------------
    Rule(
        "noisy-pairwise:ipo",
        when(data_type="pairwise", noisy=True),
        "ipo",
        2.5,
        "noisy preferences: IPO's bounded target does not fit flipped labels as certainties",
        IPO,
    ),
    Rule(
        "noisy:kto",
        when(data_type=("pairwise", "binary"), noisy=True),
        "kto",
        1.5,
        "KTO is more robust to noisy and intransitive feedback than DPO",
        KTO,
    ),
    Rule(
        "noisy-pairwise:dpo",
        when(data_type="pairwise", noisy=True),
        "dpo",
        -1.0,
        "DPO fits noisy labels as if certain (if kept: loss_type robust or label_smoothing)",
        ROBUST,
    ),
    # --- GPU memory ----------------------------------------------------------------------------
    *(
        Rule(
            f"no-fit:{a}",
            when(**{f"fits_{a}": "no"}),
            a,
            -6.0,
            "the estimated GPU memory exceeds --gpu-memory-gb (try --method qlora, a shorter --seq-len or a smaller --batch-size)",
            MEMORY,
        )
        for a in ALGORITHMS
    ),
    Rule(
        "full-no-reference:simpo",
        when(method="full", fits_dpo="no", fits_simpo="yes"),
        "simpo",
        2.0,
        "full fine-tuning: no frozen reference copy, so it fits where DPO does not",
        SIMPO,
    ),
    Rule(
        "full-no-reference:orpo",
        when(method="full", fits_dpo="no", fits_orpo="yes"),
        "orpo",
        1.5,
        "full fine-tuning: no reference model and no SFT stage, so it fits where DPO does not",
        ORPO,
    ),
    # --- GPU-hours -----------------------------------------------------------------------------
    *(
        Rule(
            f"no-trial:{a}",
            when(**{f"trials_{a}": "none"}),
            a,
            -3.0,
            "--gpu-hours does not pay for a single trial",
            BUDGET,
        )
        for a in ALGORITHMS
    ),
    # --- tooling -------------------------------------------------------------------------------
    *(
        Rule(
            f"not-sweepable:{a}",
            when(),
            a,
            -0.5,
            "TRL has it, but alignlab's train/sweep does not run it yet",
            ALIGNLAB,
        )
        for a in ("simpo", "orpo", "rloo")
    ),
)


def check_rules(rules: tuple[Rule, ...] = RULES) -> list[str]:
    """Problems with a rule table: unknown facts or values, unknown algorithms, duplicate names."""
    problems: list[str] = []
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            problems.append(f"rule {rule.name}: duplicate name")
        seen.add(rule.name)
        if rule.algorithm not in ALGORITHMS:
            problems.append(f"rule {rule.name}: unknown algorithm {rule.algorithm!r}")
        for fact, allowed in rule.when.conditions:
            if fact not in FACTS:
                problems.append(f"rule {rule.name}: unknown fact {fact!r}")
            elif not allowed <= set(FACTS[fact]):
                problems.append(
                    f"rule {rule.name}: {fact} values {sorted(map(str, allowed - set(FACTS[fact])))} not in {FACTS[fact]}"
                )
    return problems


def fired_rules(facts: Mapping[str, Any], rules: tuple[Rule, ...] = RULES) -> list[Rule]:
    """The rules whose condition holds, in table order: the whole decision procedure."""
    return [rule for rule in rules if rule.when.holds(facts)]


# ---------------------------------------------------------------------------------------------
# Search spaces (named by TRL config fields, in the sweep schema's format)
# ---------------------------------------------------------------------------------------------

LEARNING_RATES: dict[str, tuple[float, float, float]] = {
    "offline-full": (5e-7, 5e-5, 5e-7),
    "offline-adapter": (1e-5, 5e-4, 5e-5),
    "online-full": (3e-7, 1e-5, 3e-6),
    "online-adapter": (3e-6, 1e-4, 1e-5),
}
"""(low, high, literature default) of ``learning_rate``: full fine-tuning of DPO/KTO uses 5e-7..5e-6
(Zephyr: 5e-7; KTO paper: 5e-7..5e-6), LoRA adapters need 10-100x more (alignlab's measurements:
5e-5..1e-4 best, collapse above 2e-4); TRL's PPOConfig defaults to 3e-6."""


@dataclass(frozen=True)
class SearchSpace:
    """A literature-based search space for one algorithm, in the sweep schema's format."""

    trl_config: str
    """The TRL config class whose fields the names are."""
    search: dict[str, dict[str, Any]]
    """``search:`` entries of a sweep file: TRL field name -> {type, low, high, log} or {type, choices}."""
    fixed: dict[str, Any]
    """TRL fields set in every trial."""
    enqueue: dict[str, Any]
    """The literature defaults, run as the first trial."""
    sweep_algorithm: str | None
    """What ``alignlab sweep`` runs it as (IPO is ``dpo`` with ``loss_type: ipo``); None when it cannot yet."""
    notes: tuple[str, ...] = ()
    """Where the ranges come from and what was derived from the data."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "trl_config": self.trl_config,
            "sweep_algorithm": self.sweep_algorithm,
            "search": self.search,
            "fixed": self.fixed,
            "enqueue": self.enqueue,
            "notes": list(self.notes),
        }


def _float(low: float, high: float, *, log: bool = False) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "log": log}


def kto_weight_range(n_desirable: int | None, n_undesirable: int | None) -> tuple[float, float, str]:
    """``desirable_weight`` interval with ``undesirable_weight = 1``, from the KTO paper's rule
    (λ_D·n_D)/(λ_U·n_U) ∈ [1, 4/3]: λ_D ∈ [n_U/n_D, 4/3·n_U/n_D]. Balanced or unknown: [1, 4/3]."""
    if not n_desirable or not n_undesirable:
        why = "class balance unknown" if n_desirable is None else "one label is missing"
        return 1.0, round(4 / 3, 4), f"desirable_weight in [1, 4/3]: {why}, assumed balanced"
    ratio = n_undesirable / n_desirable
    low, high = math.ceil(ratio * 1e4) / 1e4, math.floor(4 / 3 * ratio * 1e4) / 1e4  # rounded inwards
    return (
        low,
        high,
        (
            f"desirable_weight in [{low}, {high}] keeps (λ_D·{n_desirable})/(1·{n_undesirable}) in [1, 4/3] "
            "(KTO paper's rule, undesirable_weight fixed at 1)"
        ),
    )


def search_space(algorithm: str, s: Situation) -> SearchSpace:
    """The search space of ``algorithm`` in situation ``s``; ranges from the literature, KTO's weights
    derived from the measured class balance."""
    adapter = "full" if s.method == "full" else "adapter"
    online = algorithm in ONLINE_ALGORITHMS
    lr_low, lr_high, lr_default = LEARNING_RATES[f"{'online' if online else 'offline'}-{adapter}"]
    lr = _float(lr_low, lr_high, log=True)
    lr_note = f"learning_rate {lr_low:g}..{lr_high:g} for {'LoRA adapters' if adapter == 'adapter' else 'full fine-tuning'}"
    shared_fixed: dict[str, Any] = {
        "per_device_train_batch_size": s.batch_size,
        "num_train_epochs": DEFAULT_COMPUTE.epochs_per_trial,
    }
    offline_fixed = {**shared_fixed, "max_length": s.seq_len}
    if algorithm in ("dpo", "ipo"):
        if algorithm == "ipo":
            return SearchSpace(
                "DPOConfig",
                {"beta": _float(0.01, 1.0, log=True), "learning_rate": lr},
                {**offline_fixed, "loss_type": "ipo"},
                {"beta": 0.1, "learning_rate": lr_default},
                "dpo",
                (
                    "IPO is DPOConfig(loss_type='ipo'); beta is IPO's tau, log 0.01..1 (Azar et al. 2023)",
                    lr_note,
                ),
            )
        search = {"beta": _float(0.01, 0.5, log=True), "learning_rate": lr}
        notes = ["beta log 0.01..0.5 around the DPO paper's 0.1 (Rafailov et al. 2023)", lr_note]
        if s.noisy:
            search["loss_type"] = {"type": "categorical", "choices": ["sigmoid", "robust", "ipo"]}
            notes.append(
                "noisy labels: loss_type sigmoid | robust | ipo (Chowdhury et al. 2024; Azar et al. 2023)"
            )
        return SearchSpace(
            "DPOConfig",
            search,
            offline_fixed,
            {"beta": 0.1, "learning_rate": lr_default},
            "dpo",
            tuple(notes),
        )
    if algorithm == "kto":
        if s.data_type == "binary":
            n_d = s.n_desirable
            n_u = None if n_d is None else s.n_examples - n_d
        else:  # pairwise -> binary gives one of each per pair; scalar -> binary splits at the median
            n_d = n_u = s.n_examples
        low, high, note = kto_weight_range(n_d, n_u)
        search = {"beta": _float(0.01, 0.5, log=True), "learning_rate": lr}
        if high > low:
            search["desirable_weight"] = _float(low, high)
        return SearchSpace(
            "KTOConfig",
            search,
            {**offline_fixed, "undesirable_weight": 1.0},
            {"beta": 0.1, "learning_rate": lr_default, "desirable_weight": low},
            "kto",
            ("beta log 0.01..0.5 around the KTO paper's 0.1", lr_note, note),
        )
    if algorithm == "ppo":
        return SearchSpace(
            "PPOConfig (trl.experimental.ppo)",
            {
                "kl_coef": _float(0.01, 0.2, log=True),
                "kl_target": _float(1.0, 10.0, log=True),
                "cliprange": _float(0.1, 0.3),
                "learning_rate": lr,
            },
            {**shared_fixed, "response_length": max(1, int(s.seq_len * 0.5)), "kl_estimator": "k3"},
            {"kl_coef": 0.05, "cliprange": 0.2, "learning_rate": lr_default},
            "ppo",
            (
                "kl_coef log 0.01..0.2 (TRL default 0.05; InstructGPT 0.02)",
                "kl_target 1..10 nats per response: alignlab's adaptive KL controller (Ziegler et al. 2019); kl_coef is its start",
                "cliprange 0.1..0.3 around PPO's 0.2 (Schulman et al. 2017)",
                "kl_estimator k3: the k1 estimate goes negative on small batches",
                lr_note,
            ),
        )
    if algorithm == "simpo":
        return SearchSpace(
            "CPOConfig(loss_type='simpo', cpo_alpha=0) (trl.experimental.cpo)",
            {"beta": _float(2.0, 10.0, log=True), "simpo_gamma": _float(0.3, 1.6), "learning_rate": lr},
            {**offline_fixed, "loss_type": "simpo", "cpo_alpha": 0.0},
            {"beta": 2.0, "simpo_gamma": 0.5, "learning_rate": lr_default},
            None,
            ("beta 2..10 and simpo_gamma 0.3..1.6 (Meng et al. 2024, gamma/beta about 0.5)", lr_note),
        )
    if algorithm == "orpo":
        return SearchSpace(
            "ORPOConfig (trl.experimental.orpo)",
            {"beta": _float(0.05, 1.0, log=True), "learning_rate": lr},
            offline_fixed,
            {"beta": 0.1, "learning_rate": lr_default},
            None,
            ("beta is ORPO's lambda, log 0.05..1 around the paper's 0.1 (Hong et al. 2024)", lr_note),
        )
    if algorithm == "rloo":
        return SearchSpace(
            "RLOOConfig",
            {"beta": _float(0.01, 0.2, log=True), "learning_rate": lr},
            {**shared_fixed, "num_generations": 2, "max_completion_length": max(1, int(s.seq_len * 0.5))},
            {"beta": 0.05, "learning_rate": lr_default},
            None,
            ("beta (KL coefficient) log 0.01..0.2 around TRL's 0.05 (Ahmadian et al. 2024)", lr_note),
        )
    raise ValueError(f"unknown algorithm {algorithm!r}")


# ---------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One algorithm's place in the ranking, with everything that put it there."""

    algorithm: str
    """The algorithm (a key of alignlab.recommend.costs.PROFILES)."""
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

    def to_dict(self, gpu_hours: float | None) -> dict[str, Any]:
        memory = self.estimate.memory.to_dict()
        return {
            "rank": self.rank,
            "algorithm": self.algorithm,
            "score": self.score,
            "ruled_out": self.ruled_out,
            "conversion": self.conversion,
            "resident_models": list(PROFILES[self.algorithm].resident),
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
    estimates = {a: estimate(a, s, compute=compute) for a in ALGORITHMS}
    facts = derive_facts(s, estimates)
    fired = fired_rules(facts, rules)
    rows = []
    for a in ALGORITHMS:
        mine = [r for r in fired if r.algorithm == a]
        score = round(sum(r.delta for r in mine), 3)
        ruled_out = any(r.rule_out for r in mine)
        reasons = tuple(sorted(mine, key=lambda r: (not r.rule_out, -abs(r.delta))))
        conversion = next((r.conversion for r in reasons if r.conversion and r.delta > 0), None)
        rows.append((a, score, ruled_out, reasons, conversion))
    rows.sort(key=lambda row: (row[2], -row[1], ALGORITHMS.index(row[0])))
    candidates = tuple(
        Candidate(a, i + 1, score, out, reasons, conversion, estimates[a], search_space(a, s))
        for i, (a, score, out, reasons, conversion) in enumerate(rows)
    )
    return Recommendation(s, facts, candidates, _assumptions(s, compute))


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


# ---------------------------------------------------------------------------------------------
# Building a situation from a data profile
# ---------------------------------------------------------------------------------------------


def seq_len_from_profile(profile: Mapping[str, Any]) -> int | None:
    """A ``max_length`` from a data profile: the p90 of prompt + completion tokens, rounded up to a
    multiple of 64 (at least 64); None when the profile has no lengths."""
    lengths = profile.get("lengths") or {}
    total = lengths.get("total") or lengths.get("prompt")
    p90 = total.get("p90") if isinstance(total, Mapping) else None
    if not isinstance(p90, int | float) or p90 <= 0:
        return None
    return max(64, 64 * math.ceil(p90 / 64))


def situation_from_profile(profile: Mapping[str, Any], **kwargs: Any) -> Situation:
    """A :class:`Situation` from ``DataProfile.to_dict()`` (kind, rows, unique_prompts,
    desirable_fraction, lengths); ``kwargs`` give the rest and override (``seq_len`` included)."""
    fields: dict[str, Any] = {
        "data_type": profile["kind"],
        "n_examples": int(profile["rows"]),
        "unique_prompts": profile.get("unique_prompts"),
        "desirable_fraction": profile.get("desirable_fraction"),
        "data_path": profile.get("source"),
    }
    if kwargs.get("seq_len") is None:
        kwargs.pop("seq_len", None)
        seq_len = seq_len_from_profile(profile)
        if seq_len is not None:
            unit = str(profile.get("length_unit", "tokens"))
            fields.update(
                seq_len=seq_len, seq_len_source=f"p90 of prompt + completion in the data profile, {unit}"
            )
    return Situation(**{**fields, **kwargs})


# ---------------------------------------------------------------------------------------------
# Sweep files
# ---------------------------------------------------------------------------------------------

_GENERIC_STEMS = frozenset({"test", "train", "data", "dev", "valid", "validation", "eval", "all", "feedback"})
_DATA_SUFFIXES = (".gz", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq")


@dataclass(frozen=True)
class SweepDraft:
    """A sweep file for one candidate, ready to write."""

    algorithm: str
    """The recommended algorithm it sweeps (``ipo`` is run as ``dpo``)."""
    spec: dict[str, Any]
    """The mapping; it passes alignlab.sweep.spec.parse_sweep."""
    comments: tuple[str, ...]
    """Lines written as ``#`` comments above it (what the user must check or set)."""

    def to_yaml(self) -> str:
        import yaml

        header = "".join(f"# {line}\n" for line in self.comments)
        return header + yaml.safe_dump(self.spec, sort_keys=False, allow_unicode=True)


def sweep_name(data_path: str | None, algorithm: str) -> str:
    """``<data file stem>-<algorithm>``; a generic stem (``test``, ``train``) gets its folder's name in front."""
    if data_path is None:
        base = "builtin"
    else:
        p = Path(data_path)
        stem = p.name
        while stem.lower().endswith(_DATA_SUFFIXES):
            stem = stem[: stem.rfind(".")]
        base = f"{p.parent.name}-{stem}" if stem.lower() in _GENERIC_STEMS and p.parent.name else stem
    name = re.sub(r"[^A-Za-z0-9_.]+", "-", f"{base}-{algorithm}").strip("-._")
    return name if re.match(r"^[A-Za-z0-9]", name) else f"sweep-{algorithm}"


def draft_sweep(rec: Recommendation, *, algorithm: str | None = None) -> SweepDraft:
    """A sweep file for ``algorithm`` (default: the best-ranked one alignlab can sweep). Raises
    :class:`UserInputError` for an algorithm alignlab cannot sweep yet. Checked with
    ``parse_sweep(check_trl=False)`` (no trl import); tests check it with TRL too."""
    from alignlab.run.config import BUILTIN_MODELS
    from alignlab.sweep.spec import parse_sweep

    s = rec.situation
    comments: list[str] = [
        "Drafted by `alignlab recommend`: literature ranges and estimates, a starting point to edit."
    ]
    if algorithm is None:
        sweepable = [
            c for c in rec.candidates if c.search_space.sweep_algorithm is not None and not c.ruled_out
        ]
        if not sweepable:
            raise UserInputError(
                "--write-sweep: no candidate alignlab can sweep (dpo, ipo, kto, ppo) fits this situation"
            )
        chosen = sweepable[0]
        if chosen is not rec.top:
            comments.append(
                f"The top candidate, {rec.top.algorithm}, is not run by alignlab yet; this sweeps {chosen.algorithm}, the best that is."
            )
    else:
        if algorithm not in ALGORITHMS:
            raise UserInputError(
                f"--algorithm {algorithm}: unknown (expected one of {', '.join(ALGORITHMS)})"
            )
        chosen = rec.candidate(algorithm)
        if chosen.search_space.sweep_algorithm is None:
            raise UserInputError(
                f"--algorithm {algorithm}: alignlab sweeps dpo, ipo (as dpo with loss_type ipo), kto and ppo; "
                f"{algorithm} runs with TRL's {chosen.search_space.trl_config} directly"
            )
        if chosen.ruled_out:
            comments.append(f"{algorithm} was ruled out: {chosen.reasons[0].reason}.")
    if chosen.estimate.fits is False:
        comments.append(
            f"memory: {chosen.algorithm} needs about {chosen.estimate.memory.total_gb:.0f} GB by the estimate, "
            f"more than --gpu-memory-gb {s.gpu_memory_gb:g}."
        )
    space = chosen.search_space
    run_as = space.sweep_algorithm
    assert run_as is not None

    if s.model_ref is not None and (s.model_ref in BUILTIN_MODELS or Path(s.model_ref).expanduser().is_dir()):
        model = (
            s.model_ref if s.model_ref in BUILTIN_MODELS else str(Path(s.model_ref).expanduser().resolve())
        )
    else:
        model = "builtin:tiny-sft"
        comments.append(
            "model: builtin:tiny-sft is a placeholder; set it to your policy's local Hugging Face folder."
        )
    if s.data_path is not None:
        data: dict[str, Any] = {"path": str(Path(s.data_path).expanduser().resolve())}
    else:
        data = {"task": "builtin"}
        comments.append("data: the built-in task; set data: {path: YOUR_FILE} to train on your own feedback.")
    if chosen.conversion:
        comments.append(f"data path: {chosen.conversion}.")
    builtin = s.data_path is None
    if builtin:
        objective = "win_rate"
    elif run_as == "ppo":
        objective = "reward"
    else:
        objective = "preference_accuracy"
    spec: dict[str, Any] = {
        "name": sweep_name(s.data_path, chosen.algorithm),
        "description": f"{chosen.algorithm}: {next((r.reason for r in chosen.reasons if r.delta > 0), 'drafted by alignlab recommend')}",
        "algorithm": run_as,
        "model": model,
    }
    if run_as == "ppo" and not builtin:
        comments.append(
            "reward_model: PPO needs one on your data (a sequence classifier sharing the policy's tokenizer); add `reward_model: PATH`."
        )
    spec["data"] = data
    spec["fixed"] = dict(space.fixed)
    spec["lora"] = None if s.method == "full" else {"r": 8, "lora_alpha": 16}
    if s.method == "qlora":
        comments.append(
            "lora: alignlab trains LoRA on bf16 weights; 4-bit loading (QLoRA) is not a sweep setting yet."
        )
    steps = max(1, math.ceil(chosen.estimate.cost.examples * DEFAULT_COMPUTE.epochs_per_trial / s.batch_size))
    if run_as != "ppo":
        spec["eval"] = {"every_n_steps": max(1, steps // 4)}
    spec["search"] = space.search
    spec["objectives"] = [{"metric": objective, "direction": "maximize"}]
    spec["constraints"] = [{"metric": "kl", "max": KL_MAX}]
    affordable = chosen.estimate.trials_affordable
    if affordable is None:
        n_trials = DEFAULT_SWEEP_TRIALS
    else:
        n_trials = min(MAX_SWEEP_TRIALS, max(MIN_SWEEP_TRIALS, affordable))
        comments.append(
            f"budget: n_trials from --gpu-hours and the estimate for a {s.model.n_params / 1e9:.3g}B model ({s.model.name})."
        )
        if affordable < MIN_SWEEP_TRIALS:
            comments.append(
                f"budget: --gpu-hours pays for {affordable} trial(s) by the estimate; n_trials raised to {MIN_SWEEP_TRIALS}."
            )
    spec["sampler"] = {"type": "tpe", "n_startup_trials": min(10, max(2, n_trials // 3))}
    spec["pruner"] = {"type": "median"}
    spec["budget"] = {"n_trials": n_trials}
    spec["enqueue"] = [{k: v for k, v in space.enqueue.items() if k in space.search}]
    for note in space.notes:
        comments.append(f"search: {note}.")
    parse_sweep(spec, where="drafted sweep", check_trl=False)
    return SweepDraft(chosen.algorithm, spec, tuple(comments))


def write_sweep(path: str | Path, draft: SweepDraft) -> Path:
    """Write ``draft`` to ``path`` atomically (a temporary file in the same folder, then renamed)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise UserInputError(
            f"--write-sweep {path}: is a folder (expected a file name such as sweeps/mine.yaml)"
        )
    return write_atomic(target, draft.to_yaml())
