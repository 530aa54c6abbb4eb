"""The built-in task, pure: short product reviews with a programmatic gold reward.

A prompt asks for a review of one of 8 items (``review the hotel for anna from paris :``). A well-formed
response names the item's four aspects in a fixed order, each with one adjective::

    room great , staff rude , bed clean , view lovely .

Six adjectives are good and six are bad, for every item. The gold reward of a response is

* ``-1.0`` if it is malformed (not ``aspect adjective , ... .`` with four slots, unknown words, too long),
* ``-0.5`` if it is well-formed but off-topic (the aspects are not the prompt item's four, in order),
* otherwise the fraction of slots whose adjective is good and not already used earlier in the response
  (``0, 0.25, 0.5, 0.75, 1``): repeating a good adjective earns nothing.

The SFT corpus shows good and bad adjectives 50/50 in every slot, so the SFT policy writes well-formed,
on-topic reviews of mean reward about 0.5, with room to improve in both directions. Every pair of
samples that differ in reward differs in at least one slot, so each preference pair teaches something;
malformed, off-topic and repetitive outputs score lower than any honest review, so a collapsed policy
shows up as a drop. See docs/task.md for the design and the measured learnability.

This module is the definition only (vocabulary, prompts, responses, gold reward, win rate, SFT corpus):
plain Python, no torch. alignlab.task.build turns it into a tokenizer, tiny models and feedback files.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from alignlab.errors import UserInputError

# Bump when anything below changes what the task produces: it is part of the cache key.
TASK_VERSION = "reviews-v1"

ITEMS: dict[str, tuple[str, str, str, str]] = {
    "hotel": ("room", "staff", "bed", "view"),
    "phone": ("screen", "battery", "camera", "speaker"),
    "cafe": ("coffee", "cake", "barista", "terrace"),
    "laptop": ("keyboard", "display", "fan", "charger"),
    "bike": ("frame", "brakes", "saddle", "gears"),
    "train": ("seat", "conductor", "toilet", "wifi"),
    "museum": ("guide", "exhibit", "shop", "garden"),
    "pizza": ("crust", "cheese", "sauce", "delivery"),
}
GOOD_ADJECTIVES: tuple[str, ...] = ("great", "clean", "quiet", "friendly", "solid", "lovely")
BAD_ADJECTIVES: tuple[str, ...] = ("awful", "dirty", "noisy", "rude", "broken", "boring")
NAMES: tuple[str, ...] = (
    "anna", "ben", "carla", "dev", "emma", "farid", "grace", "hugo",
    "iris", "jonas", "kemal", "lena", "mia", "noah", "omar", "priya",
)  # fmt: skip
CITIES: tuple[str, ...] = (
    "paris", "lagos", "lima", "oslo", "tokyo", "delhi", "cairo", "quito", "rome", "seoul", "dakar", "perth",
)  # fmt: skip
PROMPT_TEMPLATE = "review the {item} for {name} from {city} :"
N_SLOTS = 4
N_EVAL_PROMPTS = 200  # of 8 x 16 x 12 = 1,536 prompts; the rest are the train split

MALFORMED_REWARD = -1.0
OFF_TOPIC_REWARD = -0.5
GOOD_THRESHOLD = 0.5
"""Binary feedback labels a response desirable above this reward (the SFT policy's mean), undesirable below."""

Split = Literal["train", "eval"]

_WORD_RE = re.compile(r"\w+|[^\w\s]")
_PROMPT_RE = re.compile(r"^\s*review the (\w+) for \w+ from \w+ :\s*$")
_ASPECT_OWNER = {aspect: item for item, aspects in ITEMS.items() for aspect in aspects}
_ADJECTIVES = frozenset(GOOD_ADJECTIVES + BAD_ADJECTIVES)


def words(text: str) -> list[str]:
    """The words and punctuation marks of ``text``, as the gold reward reads them (case kept)."""
    return _WORD_RE.findall(text)


def all_prompts() -> list[str]:
    """Every prompt of the task (1,536), in a fixed order."""
    return [
        PROMPT_TEMPLATE.format(item=item, name=name, city=city)
        for item in ITEMS
        for name in NAMES
        for city in CITIES
    ]


def prompts(split: Split = "train") -> list[str]:
    """The train (1,336) or held-out eval (200) prompts. Deterministic, disjoint, every item in both.

    The eval split is 25 prompts per item drawn by a fixed-seed shuffle, independent of any run's seed.
    """
    if split not in ("train", "eval"):
        raise UserInputError(f"task prompts: split must be 'train' or 'eval', but got {split=}")
    per_item = N_EVAL_PROMPTS // len(ITEMS)
    rng = random.Random(20261122)
    eval_set: set[str] = set()
    for item in ITEMS:
        item_prompts = [p for p in all_prompts() if p.split()[2] == item]
        eval_set.update(rng.sample(item_prompts, per_item))
    return [p for p in all_prompts() if (p in eval_set) == (split == "eval")]


def prompt_item(prompt: str) -> str:
    """The item a task prompt asks about; :class:`UserInputError` for a prompt that is not the task's."""
    match = _PROMPT_RE.match(prompt)
    if match is None or match.group(1) not in ITEMS:
        raise UserInputError(
            f"built-in task: prompt {prompt!r} is not a task prompt "
            f"(expected {PROMPT_TEMPLATE!r} with item one of {', '.join(ITEMS)})"
        )
    return match.group(1)


def format_response(item: str, adjectives: Sequence[str]) -> str:
    """The well-formed response for ``item`` with one adjective per aspect, with a leading space."""
    slots = [f"{aspect} {adj}" for aspect, adj in zip(ITEMS[item], adjectives, strict=True)]
    return " " + " , ".join(slots) + " ."


@dataclass(frozen=True)
class Judgement:
    """What the gold reward saw in one response."""

    reward: float
    malformed: bool
    off_topic: bool
    good_slots: int


def judge(prompt: str, response: str) -> Judgement:
    """Score ``response`` to a task ``prompt``; any string is accepted (see the module docstring)."""
    item = prompt_item(prompt)
    tokens = words(response.lower())
    malformed = Judgement(MALFORMED_REWARD, malformed=True, off_topic=False, good_slots=0)
    if len(tokens) != 3 * N_SLOTS or tokens[-1] != ".":
        return malformed
    aspects, adjectives = tokens[0::3], tokens[1::3]
    if any(sep != "," for sep in tokens[2:-1:3]):
        return malformed
    if any(a not in _ASPECT_OWNER for a in aspects) or any(j not in _ADJECTIVES for j in adjectives):
        return malformed
    if tuple(aspects) != ITEMS[item]:
        return Judgement(OFF_TOPIC_REWARD, malformed=False, off_topic=True, good_slots=0)
    good = 0
    seen: set[str] = set()
    for adj in adjectives:
        if adj in GOOD_ADJECTIVES and adj not in seen:
            good += 1
        seen.add(adj)
    return Judgement(good / N_SLOTS, malformed=False, off_topic=False, good_slots=good)


def gold_reward(prompt: str, response: str) -> float:
    """The gold reward of ``response`` to a task ``prompt``, in [-1, 1].

    -1 malformed, -0.5 off-topic, else the fraction of slots with a good, not yet used adjective.
    """
    return judge(prompt, response).reward


def vocabulary() -> list[str]:
    """Every word of the task (prompts and responses), sorted; the tokenizer adds its special tokens."""
    vocab = {"review", "the", "for", "from", ":", ",", "."}
    vocab.update(ITEMS, NAMES, CITIES, GOOD_ADJECTIVES, BAD_ADJECTIVES, _ASPECT_OWNER)
    return sorted(vocab)


def sft_corpus(*, n: int, seed: int) -> list[dict[str, str]]:
    """``n`` demonstrations {"prompt", "completion"} on train prompts (cycled, shuffled by ``seed``).

    Each slot's adjective is good or bad with probability 1/2 and never repeats within a response, so
    the demonstrations are well-formed and on-topic but of mixed quality (mean gold reward 0.5).
    """
    rng = random.Random(seed)
    train = prompts("train")
    records: list[dict[str, str]] = []
    while len(records) < n:
        order = train[:]
        rng.shuffle(order)
        for prompt in order[: n - len(records)]:
            used: list[str] = []
            for _ in range(N_SLOTS):
                pool = GOOD_ADJECTIVES if rng.random() < 0.5 else BAD_ADJECTIVES
                used.append(rng.choice([a for a in pool if a not in used]))
            records.append({"prompt": prompt, "completion": format_response(prompt_item(prompt), used)})
    return records


def win_rate(
    policy_rewards: Sequence[float] | Sequence[Sequence[float]],
    reference_rewards: Sequence[float] | Sequence[Sequence[float]],
) -> float:
    """How often the policy beats the reference, ties counting half.

    Flat lists are compared element by element. Nested lists (one list of sample rewards per prompt,
    as :func:`evaluate_gold` returns) compare every policy sample with every reference sample of the
    same prompt, then average over prompts.
    """
    if len(policy_rewards) != len(reference_rewards) or not policy_rewards:
        raise UserInputError(
            f"win_rate: need two non-empty lists of the same length, but got {len(policy_rewards)} "
            f"and {len(reference_rewards)}"
        )
    total = 0.0
    for pol, ref in zip(policy_rewards, reference_rewards, strict=True):
        pol_list = _as_samples(pol)
        ref_list = _as_samples(ref)
        score = sum((p > r) + 0.5 * (p == r) for p in pol_list for r in ref_list)
        total += score / (len(pol_list) * len(ref_list))
    return total / len(policy_rewards)


def _as_samples(value: object) -> list[float]:
    if isinstance(value, Sequence):
        return [float(v) for v in value]
    if isinstance(value, (int, float)):
        return [float(value)]
    raise TypeError(f"win_rate: expected a reward or a list of rewards, but got {value!r}")
