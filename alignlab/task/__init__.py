"""The built-in task: short product reviews with a programmatic gold reward.

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

Stages (each deterministic given its seed): :func:`build_tokenizer`, :func:`sft_corpus`,
:func:`train_sft` (TRL SFTTrainer, completion-only loss), :func:`sample_responses`, :func:`make_feedback`
(TRL-shaped records labelled by the gold reward), :func:`evaluate_gold` / :func:`win_rate`, and
:func:`ensure_task_assets`, which builds and caches all of it under a content hash.

torch, transformers and trl are imported inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from alignlab.errors import UserInputError
from alignlab.paths import write_atomic

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

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

PAD_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<eos>", "<unk>"

FeedbackKind = Literal["pairwise", "binary", "scalar", "prompt"]
FEEDBACK_KINDS: tuple[str, ...] = get_args(FeedbackKind)
Split = Literal["train", "eval"]

_WORD_RE = re.compile(r"\w+|[^\w\s]")
_PROMPT_RE = re.compile(r"^\s*review the (\w+) for \w+ from \w+ :\s*$")
_ASPECT_OWNER = {aspect: item for item, aspects in ITEMS.items() for aspect in aspects}
_ADJECTIVES = frozenset(GOOD_ADJECTIVES + BAD_ADJECTIVES)


# ----------------------------------------------------------------------------------------------------------
# The task definition: prompts, responses, gold reward


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
    words = _WORD_RE.findall(response.lower())
    malformed = Judgement(MALFORMED_REWARD, malformed=True, off_topic=False, good_slots=0)
    if len(words) != 3 * N_SLOTS or words[-1] != ".":
        return malformed
    aspects, adjectives = words[0::3], words[1::3]
    if any(sep != "," for sep in words[2:-1:3]):
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
    words = {"review", "the", "for", "from", ":", ",", "."}
    words.update(ITEMS, NAMES, CITIES, GOOD_ADJECTIVES, BAD_ADJECTIVES, _ASPECT_OWNER)
    return sorted(words)


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


# ----------------------------------------------------------------------------------------------------------
# Tokenizer and models


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over :func:`vocabulary` (one token per word, ids sorted, so stable).

    Plain text, no chat template: TRL's prompt/completion format concatenates the two strings and
    tokenizes them, and with whitespace word-level tokens the prompt's ids are always a prefix of
    prompt+completion's (no merges across the boundary). ``<pad>`` and ``<eos>`` are distinct, so
    collators never mask the eos that ends a completion.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([PAD_TOKEN, EOS_TOKEN, UNK_TOKEN, *vocabulary()])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=128,
        clean_up_tokenization_spaces=False,
    )


def _sft_config(**overrides: Any) -> Any:
    from trl import SFTConfig

    return SFTConfig(**overrides)


def _quiet_trainer(trainer: Any) -> Any:
    """Drop the callbacks that print (the library never prints)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def train_sft(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    corpus: Sequence[dict[str, str]],
    *,
    steps: int = 500,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> PreTrainedModel:
    """Supervised fine-tuning on ``corpus`` with TRL's SFTTrainer (completion-only loss); in place.

    Full fine-tuning of the tiny model, cosine schedule, bf16 off (CPU). About 20-30 s on 2 CPU cores
    at the defaults. Deterministic given ``seed``. Returns ``model`` in eval mode.
    """
    from datasets import Dataset
    from trl import SFTTrainer

    with tempfile.TemporaryDirectory(prefix="alignlab-sft-") as out:
        args = _sft_config(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=max(1, steps // 20),
            weight_decay=0.0,
            max_length=64,
            completion_only_loss=True,
            bf16=False,
            fp16=False,
            gradient_checkpointing=False,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            seed=seed,
            data_seed=seed,
            dataloader_num_workers=0,
            use_cpu=not _cuda_available(),
        )
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=Dataset.from_list(list(corpus)), processing_class=tokenizer
        )
        _quiet_trainer(trainer).train()
    model.eval()
    return model


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ----------------------------------------------------------------------------------------------------------
# Sampling, feedback and evaluation


def sample_responses(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    n: int = 1,
    temperature: float = 1.0,
    max_new_tokens: int = 20,
    seed: int = 0,
    batch_size: int = 1024,
) -> list[list[str]]:
    """``n`` sampled responses per prompt (pure sampling: no top-k / top-p), as decoded text.

    Batched with left padding; the global torch RNG is left untouched. A response that does not end
    with eos within ``max_new_tokens`` is returned as generated (the gold reward calls it malformed).
    The same model, prompts and seed give the same responses.
    """
    import torch

    if n < 1 or temperature <= 0 or max_new_tokens < 1:
        raise UserInputError(
            f"sample_responses: need n >= 1, temperature > 0, max_new_tokens >= 1, but got {n=}, "
            f"{temperature=}, {max_new_tokens=}"
        )
    flat = [p for p in prompts for _ in range(n)]
    texts: list[str] = []
    was_training = model.training
    model.eval()
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            torch.manual_seed(seed)
            for start in range(0, len(flat), batch_size):
                chunk = flat[start : start + batch_size]
                enc = tokenizer(chunk, return_tensors="pt", padding=True).to(device)
                out = model.generate(  # type: ignore[operator]
                    **enc,
                    do_sample=True,
                    temperature=temperature,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
                for row in out[:, enc["input_ids"].shape[1] :].tolist():
                    if tokenizer.eos_token_id in row:
                        row = row[: row.index(tokenizer.eos_token_id)]
                    decoded = tokenizer.decode(row, skip_special_tokens=True)
                    assert isinstance(decoded, str)
                    texts.append(" " + decoded.strip())
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]


def _flip_indices(count: int, noise: float, rng: random.Random) -> set[int]:
    if not 0.0 <= noise <= 1.0:
        raise UserInputError(f"make_feedback: noise must be in [0, 1], but got {noise=}")
    return set(rng.sample(range(count), round(noise * count)))


def make_feedback(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    kind: FeedbackKind,
    *,
    n_prompts: int,
    noise: float = 0.0,
    seed: int = 0,
    samples_per_prompt: int = 4,
    temperature: float = 1.0,
) -> list[dict[str, Any]]:
    """Feedback records in TRL's shapes, from ``model`` (the SFT policy) labelled by the gold reward.

    ``n_prompts`` train prompts (shuffled by ``seed``) get ``samples_per_prompt`` samples each; then

    * ``pairwise``: {"prompt", "chosen", "rejected"}, the best against the worst sample of each prompt;
      prompts whose samples all tie are dropped;
    * ``binary``: {"prompt", "completion", "label"}, every sample, desirable (True) above
      :data:`GOOD_THRESHOLD`, undesirable below, samples at exactly the threshold dropped;
    * ``scalar``: {"prompt", "completion", "score"}, every sample with its gold reward;
    * ``prompt``: {"prompt"} only (for online methods), no sampling.

    ``noise`` imitates noisy raters: exactly ``round(noise * len(records))`` records, chosen by ``seed``,
    are flipped (pairs swapped, labels negated, scores exchanged among the flipped records in a random
    cycle). Deterministic given the arguments.
    """
    if kind not in FEEDBACK_KINDS:
        raise UserInputError(
            f"make_feedback: kind must be one of {', '.join(FEEDBACK_KINDS)}, but got {kind=}"
        )
    train = prompts("train")
    if not 1 <= n_prompts <= len(train):
        raise UserInputError(f"make_feedback: n_prompts must be in [1, {len(train)}], but got {n_prompts=}")
    rng = random.Random(seed)
    chosen_prompts = rng.sample(train, n_prompts)
    noise_rng = random.Random(seed + 7919)
    if kind == "prompt":
        _flip_indices(n_prompts, noise, noise_rng)  # validates noise; nothing to flip
        return [{"prompt": p} for p in chosen_prompts]
    samples = sample_responses(
        model, tokenizer, chosen_prompts, n=samples_per_prompt, temperature=temperature, seed=seed
    )
    records: list[dict[str, Any]] = []
    for prompt, responses in zip(chosen_prompts, samples, strict=True):
        rewards = [gold_reward(prompt, r) for r in responses]
        if kind == "pairwise":
            best = max(range(len(rewards)), key=lambda i: rewards[i])
            worst = min(range(len(rewards)), key=lambda i: rewards[i])
            if rewards[best] > rewards[worst]:
                records.append({"prompt": prompt, "chosen": responses[best], "rejected": responses[worst]})
        elif kind == "binary":
            records.extend(
                {"prompt": prompt, "completion": r, "label": s > GOOD_THRESHOLD}
                for r, s in zip(responses, rewards, strict=True)
                if s != GOOD_THRESHOLD
            )
        else:
            records.extend(
                {"prompt": prompt, "completion": r, "score": s}
                for r, s in zip(responses, rewards, strict=True)
            )
    flips = sorted(_flip_indices(len(records), noise, noise_rng))
    if kind == "pairwise":
        for i in flips:
            rec = records[i]
            rec["chosen"], rec["rejected"] = rec["rejected"], rec["chosen"]
    elif kind == "binary":
        for i in flips:
            records[i]["label"] = not records[i]["label"]
    elif flips:
        scores = [records[i]["score"] for i in flips]
        for pos, i in enumerate(flips):  # rotate: each flipped record gets another flipped record's score
            records[i]["score"] = scores[(pos + 1) % len(scores)]
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


def evaluate_gold(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    samples_per_prompt: int = 8,
    seed: int = 0,
    reference_rewards: Sequence[Sequence[float]] | None = None,
    temperature: float = 1.0,
    max_new_tokens: int = 20,
) -> dict[str, Any]:
    """Sample ``model`` on ``prompts`` and score with the gold reward.

    Returns ``mean_reward``, ``reward_stderr`` (standard error of the mean over prompts),
    ``malformed_fraction``, ``off_topic_fraction``, ``good_slot_fraction`` (good, unrepeated adjectives
    per slot among well-formed on-topic responses), ``mean_length`` (words per response), ``rewards``
    (one list per prompt: pass it back as ``reference_rewards``) and, with ``reference_rewards``,
    ``win_rate`` against it (ties half, see :func:`win_rate`).
    """
    samples = sample_responses(
        model,
        tokenizer,
        prompts,
        n=samples_per_prompt,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
    )
    judged = [[judge(p, r) for r in rs] for p, rs in zip(prompts, samples, strict=True)]
    rewards = [[j.reward for j in js] for js in judged]
    flat = [j for js in judged for j in js]
    per_prompt = [sum(r) / len(r) for r in rewards]
    mean = sum(per_prompt) / len(per_prompt)
    var = sum((x - mean) ** 2 for x in per_prompt) / max(1, len(per_prompt) - 1)
    honest = [j for j in flat if not j.malformed and not j.off_topic]
    result: dict[str, Any] = {
        "mean_reward": mean,
        "reward_stderr": math.sqrt(var / len(per_prompt)),
        "malformed_fraction": sum(j.malformed for j in flat) / len(flat),
        "off_topic_fraction": sum(j.off_topic for j in flat) / len(flat),
        "good_slot_fraction": (sum(j.good_slots for j in honest) / (N_SLOTS * len(honest)))
        if honest
        else 0.0,
        "mean_length": sum(len(_WORD_RE.findall(r)) for rs in samples for r in rs) / len(flat),
        "rewards": rewards,
    }
    if reference_rewards is not None:
        result["win_rate"] = win_rate(rewards, reference_rewards)
    return result


# ----------------------------------------------------------------------------------------------------------
# Cached assets


@dataclass(frozen=True)
class TaskConfig:
    """Sizes and settings of the built task; all of it is part of the cache key."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    sft_examples: int = 8192
    """Demonstrations in the SFT corpus (train prompts cycled)."""
    sft_steps: int = 500
    sft_batch_size: int = 64
    sft_learning_rate: float = 3e-3
    feedback_prompts: int = 1336
    """Train prompts sampled for each feedback file (all of the train split by default)."""
    samples_per_prompt: int = 4
    feedback_kinds: tuple[str, ...] = FEEDBACK_KINDS


@dataclass(frozen=True)
class TaskAssets:
    """Where the built task lies. Every path is complete once this object exists."""

    root: Path
    tokenizer_dir: Path
    base_model_dir: Path
    """The untrained tiny model (random init from the seed)."""
    sft_model_dir: Path
    """The SFT policy: the starting point and the reference of alignment runs."""
    feedback: dict[str, Path] = field(default_factory=dict)
    """One JSONL file per feedback kind, sampled from the SFT policy and labelled by the gold reward."""
    seed: int = 0
    config: TaskConfig = field(default_factory=TaskConfig)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "trl", "tokenizers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def task_fingerprint(*, seed: int = 0, config: TaskConfig | None = None) -> str:
    """A short content hash of the task definition, its settings, the seed and the library versions."""
    config = config or TaskConfig()
    definition = {
        "version": TASK_VERSION,
        "items": ITEMS,
        "good": GOOD_ADJECTIVES,
        "bad": BAD_ADJECTIVES,
        "names": NAMES,
        "cities": CITIES,
        "template": PROMPT_TEMPLATE,
        "n_eval": N_EVAL_PROMPTS,
        "rewards": [MALFORMED_REWARD, OFF_TOPIC_REWARD, GOOD_THRESHOLD],
        "config": dataclasses.asdict(config),
        "seed": seed,
        "versions": _versions(),
    }
    blob = json.dumps(definition, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _atomic_dir(target: Path, build: Callable[[Path], None]) -> None:
    """Build into a temporary sibling folder, then rename it to ``target`` (nothing half written)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.exists():  # a concurrent build that finished first is fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_jsonl(target: Path, records: Sequence[dict[str, Any]]) -> None:
    """Write records as JSON Lines, atomically."""
    write_atomic(target, "".join(json.dumps(rec) + "\n" for rec in records))


def _save_tokenizer(directory: Path) -> None:
    build_tokenizer().save_pretrained(directory)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file written by :func:`ensure_task_assets`."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def ensure_task_assets(
    cache_dir: Path,
    *,
    seed: int = 0,
    config: TaskConfig | None = None,
    on_build: Callable[[str], None] | None = None,
) -> TaskAssets:
    """Build what is missing of the task under ``cache_dir/<fingerprint>/`` and return the paths.

    Parts: ``tokenizer/``, ``base/`` (untrained tiny model), ``sft/`` (the SFT policy) and
    ``feedback/<kind>.jsonl``. Each part is written atomically, so an interrupted build leaves only
    complete parts and the next call builds the rest; once all exist a call only checks paths.
    ``on_build(part)`` is called before each part is built (for progress reporting and tests).
    """
    config = config or TaskConfig()
    unknown = [k for k in config.feedback_kinds if k not in FEEDBACK_KINDS]
    if unknown:
        raise UserInputError(
            f"task config: feedback_kinds {unknown} unknown; expected some of {FEEDBACK_KINDS}"
        )
    root = Path(cache_dir).expanduser() / f"task-{task_fingerprint(seed=seed, config=config)}"
    (root / "feedback").mkdir(parents=True, exist_ok=True)
    assets = TaskAssets(
        root=root,
        tokenizer_dir=root / "tokenizer",
        base_model_dir=root / "base",
        sft_model_dir=root / "sft",
        feedback={kind: root / "feedback" / f"{kind}.jsonl" for kind in config.feedback_kinds},
        seed=seed,
        config=config,
    )
    missing = [
        name
        for name, path in (
            ("tokenizer", assets.tokenizer_dir),
            ("base", assets.base_model_dir),
            ("sft", assets.sft_model_dir),
            *((f"feedback/{k}", p) for k, p in assets.feedback.items()),
        )
        if not path.exists()
    ]
    if not missing:
        return assets
    from alignlab.models import build_tiny_model, load_causal_lm, load_tokenizer

    def announce(part: str) -> None:
        logger.info("built-in task: building %s in %s", part, root)
        if on_build is not None:
            on_build(part)

    if "tokenizer" in missing:
        announce("tokenizer")
        _atomic_dir(assets.tokenizer_dir, lambda d: _save_tokenizer(d))
    tokenizer = load_tokenizer(assets.tokenizer_dir)
    if "base" in missing:
        announce("base")
        base = build_tiny_model(
            tokenizer,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            seed=seed,
        )
        _atomic_dir(assets.base_model_dir, base.save_pretrained)
    if "sft" in missing:
        announce("sft")
        model = load_causal_lm(assets.base_model_dir, device="cpu")
        train_sft(
            model,
            tokenizer,
            sft_corpus(n=config.sft_examples, seed=seed),
            steps=config.sft_steps,
            batch_size=config.sft_batch_size,
            learning_rate=config.sft_learning_rate,
            seed=seed,
        )

        def save_sft(d: Path) -> None:
            model.save_pretrained(d)
            tokenizer.save_pretrained(d)

        _atomic_dir(assets.sft_model_dir, save_sft)
    kinds = [k for k in assets.feedback if f"feedback/{k}" in missing]
    if kinds:
        policy = load_causal_lm(assets.sft_model_dir, device="cpu")
        n_prompts = min(config.feedback_prompts, len(prompts("train")))
        for kind in kinds:
            announce(f"feedback/{kind}")
            records = make_feedback(
                policy,
                tokenizer,
                kind,  # type: ignore[arg-type]
                n_prompts=n_prompts,
                seed=seed,
                samples_per_prompt=config.samples_per_prompt,
            )
            write_jsonl(assets.feedback[kind], records)
    return assets


def sft_policy(
    assets: TaskAssets, *, device: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The cached SFT policy and its tokenizer (fp32), ready to sample or to start alignment from."""
    import torch

    from alignlab.models import load_causal_lm, load_tokenizer

    return load_causal_lm(assets.sft_model_dir, dtype=torch.float32, device=device), load_tokenizer(
        assets.tokenizer_dir
    )


def iter_feedback(assets: TaskAssets, kind: FeedbackKind) -> Iterator[dict[str, Any]]:
    """The cached feedback records of one kind."""
    if kind not in assets.feedback:
        raise UserInputError(
            f"built-in task: no {kind!r} feedback was built (have {sorted(assets.feedback)})"
        )
    yield from read_jsonl(assets.feedback[kind])
