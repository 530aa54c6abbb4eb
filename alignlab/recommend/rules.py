"""The decision table: which algorithm suits which situation, each rule with its reason and source.

Every :class:`Rule` in :data:`RULES` has a condition over the situation's facts
(:data:`alignlab.recommend.situation.FACTS`; :class:`When`: for each fact named, the values it may
take), one effect on one algorithm (a score delta, a conversion path, or ruling it out), a reason and
its source. :func:`fired_rules` is the whole decision procedure; the rules are data, so a test can walk
the table (:func:`check_rules` finds typos in it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alignlab.recommend.costs import RECOMMENDABLE
from alignlab.recommend.situation import AMPLE_PPO_TRIALS, FACTS, SMALL_REWARD_MODEL_PAIRS


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


# Sources, as the rules cite them.
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
GRPO = "GRPO (Shao et al. 2024, DeepSeekMath §4.1)"
R1 = "DeepSeek-R1 (DeepSeek-AI 2025): GRPO with rule-based rewards"
RM_SCALING = "Gao et al. 2023 (Scaling Laws for Reward Model Overoptimization)"
ONLINE_GAP = (
    "Tang et al. 2024 (Understanding the performance gap between online and offline alignment algorithms)"
)
ROBUST = "cDPO (Mitchell 2023); robust DPO (Chowdhury et al. 2024)"
NOISE_STUDY = "alignlab label-noise study on the built-in task (docs/results.md)"
MEMORY = "alignlab.recommend.costs estimate"
BUDGET = "alignlab.recommend.costs time estimate"
ALIGNLAB = "alignlab (what `alignlab sweep` runs today)"

PAIR_ALGORITHMS = ("dpo", "ipo", "simpo", "orpo")
"""Algorithms that train on preference pairs."""
OFFLINE_ALGORITHMS = (*PAIR_ALGORITHMS, "kto")
"""Algorithms that learn from a fixed data set."""
ONLINE_ALGORITHMS = ("ppo", "rloo", "grpo")
"""Algorithms that sample the policy and score the samples with a reward model or a reward function."""

TO_PAIRWISE = "`alignlab data convert DATA --to pairwise --out PAIRS.jsonl`"
TO_BINARY = "`alignlab data convert DATA --to binary --out LABELS.jsonl`"
REWARD_MODEL = (
    "the sweep trains a reward model on a share of the pairs first (reward_model: {train_on: heldout}; "
    "the drafted sweep has it), then"
)

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
        when(data_type="pairwise", reward="unknown"),
        "ppo",
        1.0,
        "the InstructGPT pipeline: a reward model fit to the pairs, then PPO against it",
        PPO,
        conversion=f"pairs -> reward model: {REWARD_MODEL} PPO",
    ),
    Rule(
        "pairwise:rloo",
        when(data_type="pairwise", reward="unknown"),
        "rloo",
        0.5,
        "a reward model fit to the pairs, then RLOO: online RL without a value model",
        RLOO,
        conversion=f"pairs -> reward model: {REWARD_MODEL} RLOO",
    ),
    Rule(
        "pairwise:grpo",
        when(data_type="pairwise", reward="unknown"),
        "grpo",
        0.25,
        "a reward model fit to the pairs, then GRPO: several samples per prompt as each other's baseline",
        GRPO,
        conversion=f"pairs -> reward model: {REWARD_MODEL} GRPO",
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
        when(data_type="pairwise", online=False, budget="ample", reward_model_data=("large", "none")),
        "ppo",
        3.5,
        "ample budget and a reward model of enough data: a well-tuned PPO outperforms DPO on most benchmarks",
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
    *(
        Rule(
            f"few-reward-model-pairs:{a}",
            when(reward_model_data="small", online=False),
            a,
            -2.0,
            f"the reward model would learn from under {SMALL_REWARD_MODEL_PAIRS} pairs (its share of the file, after "
            "the evaluation's and the judge's): a weak reward model, which online RL then over-optimises",
            RM_SCALING,
        )
        for a in ONLINE_ALGORITHMS
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
        when(data_type="binary", online=False, reward="unknown"),
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
        when(data_type="scalar", online=False, reward="unknown"),
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
    Rule(
        "scalar-online:grpo",
        when(data_type="scalar", online=True),
        "grpo",
        0.75,
        "scalar rewards online, normalised within each prompt's group of samples",
        GRPO,
    ),
    # --- prompts only --------------------------------------------------------------------------
    Rule(
        "prompt:ppo",
        when(data_type="prompt"),
        "ppo",
        4.0,
        "prompts only: sample responses and score them with a reward model or a reward function "
        "(give reward_model or reward_function), then PPO",
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
    Rule(
        "prompt:grpo",
        when(data_type="prompt"),
        "grpo",
        3.0,
        "prompts only: online RL with a reward model or function and no value model; a group of samples per prompt is the baseline",
        GRPO,
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
    Rule(
        "online:grpo",
        when(online=True),
        "grpo",
        4.0,
        "online learning without a value model: advantages relative to a group of samples of the same prompt",
        GRPO,
    ),
    # --- what scores the samples of online algorithms ------------------------------------------
    Rule(
        "reward-function:grpo",
        when(reward="function"),
        "grpo",
        3.0,
        "a reward function (a verifier or programmatic check) scores samples exactly and cheaply: "
        "GRPO's many samples per prompt cost no reward-model passes",
        f"{GRPO}; {R1}",
    ),
    Rule(
        "reward-function:rloo",
        when(reward="function"),
        "rloo",
        1.5,
        "a reward function scores samples without a reward model: RLOO holds only the policy",
        RLOO,
    ),
    Rule(
        "reward-function:ppo",
        when(reward="function"),
        "ppo",
        0.5,
        "a reward function replaces the reward model; PPO still trains a value model beside the policy",
        PPO,
    ),
    *(
        Rule(
            f"reward-model:{a}",
            when(reward="model"),
            a,
            1.5,
            "a trained reward model is at hand: no reward-model stage before the online trials",
            BUDGET,
        )
        for a in ONLINE_ALGORITHMS
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
        "noisy-binary:kto",
        when(data_type="binary", noisy=True),
        "kto",
        1.5,
        "noisy good/bad labels: the KTO paper finds KTO degrades less than DPO under label noise, and alignlab's "
        "study on noisy pairs split into good/bad rows agrees (below)",
        f"{KTO}; {NOISE_STUDY}",
    ),
    Rule(
        "noisy-pairwise:kto",
        when(data_type="pairwise", noisy=True),
        "kto",
        1.5,
        "noisy pairs split into desirable/undesirable for KTO: with 40 % of the pairs flipped KTO kept a win "
        "rate of 0.82 where DPO with its SFT term fell to 0.58 (0.86 and 0.85 without noise), as the KTO paper "
        "finds",
        f"{KTO}; {NOISE_STUDY}",
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
        for a in RECOMMENDABLE
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
        for a in RECOMMENDABLE
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
        if rule.algorithm not in RECOMMENDABLE:
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
