"""Building the built-in task: tokenizer, tiny models, SFT policy and feedback files, cached.

Stages (each deterministic given its seed): :func:`build_tokenizer` (word level over the task's
vocabulary), the untrained tiny Llama (alignlab.models), :func:`train_sft` (TRL SFTTrainer,
completion-only loss, on alignlab.task.reviews.sft_corpus), then the feedback files
(alignlab.task.feedback.make_feedback). :func:`ensure_task_assets` builds what is missing and caches it
under a content hash (:func:`task_fingerprint`); :func:`sft_policy` and :func:`iter_feedback` read it back.

torch, transformers and trl are imported inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.models import build_tiny_model, load_causal_lm, load_tokenizer
from alignlab.paths import write_atomic
from alignlab.task.feedback import FEEDBACK_KINDS, FeedbackKind, make_feedback
from alignlab.task.reviews import (
    BAD_ADJECTIVES,
    CITIES,
    GOOD_ADJECTIVES,
    GOOD_THRESHOLD,
    ITEMS,
    MALFORMED_REWARD,
    N_EVAL_PROMPTS,
    NAMES,
    OFF_TOPIC_REWARD,
    PROMPT_TEMPLATE,
    TASK_VERSION,
    prompts,
    sft_corpus,
    vocabulary,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

PAD_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<eos>", "<unk>"

#: The modules alignment runs on the built-in task adapt with LoRA: the blocks' linear layers and the
#: output layer. PEFT's ``all-linear`` leaves ``lm_head`` out, and on this task (where every decision is
#: which adjective token to emit) that caps every algorithm near a 0.6 win rate (docs/results.md, "The
#: ceiling"). The shipped sweeps and run configs and the benchmarks use these settings.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")
TASK_LORA: dict[str, Any] = {"r": 8, "lora_alpha": 16, "target_modules": list(LORA_TARGETS)}


# ----------------------------------------------------------------------------------------------------------
# Tokenizer and SFT


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


def task_paths(cache_dir: Path, *, seed: int = 0, config: TaskConfig | None = None) -> TaskAssets:
    """Where the task lies (or will lie) under ``cache_dir``, built or not; nothing is created."""
    config = config or TaskConfig()
    root = Path(cache_dir).expanduser() / f"task-{task_fingerprint(seed=seed, config=config)}"
    return TaskAssets(
        root=root,
        tokenizer_dir=root / "tokenizer",
        base_model_dir=root / "base",
        sft_model_dir=root / "sft",
        feedback={kind: root / "feedback" / f"{kind}.jsonl" for kind in config.feedback_kinds},
        seed=seed,
        config=config,
    )


def ensure_task_assets(
    cache_dir: Path,
    *,
    seed: int = 0,
    config: TaskConfig | None = None,
    on_build: Callable[[str], None] | None = None,
    prebuilt: bool = True,
) -> TaskAssets:
    """Build what is missing of the task under ``cache_dir/<fingerprint>/`` and return the paths.

    Parts: ``tokenizer/``, ``base/`` (untrained tiny model), ``sft/`` (the SFT policy) and
    ``feedback/<kind>.jsonl``. Each part is written atomically, so an interrupted build leaves only
    complete parts and the next call builds the rest; once all exist a call only checks paths.
    ``on_build(part)`` is called before each part is built (for progress reporting and tests).
    Where nothing of the task is cached yet and alignlab ships this very task (``prebuilt``,
    alignlab.task.prebuilt), it is unpacked instead of built (``on_build("prebuilt")``), unless the
    environment sets ``ALIGNLAB_NO_PREBUILT_TASK`` (to measure the build).
    """
    config = config or TaskConfig()
    unknown = [k for k in config.feedback_kinds if k not in FEEDBACK_KINDS]
    if unknown:
        raise UserInputError(
            f"task config: feedback_kinds {unknown} unknown; expected some of {FEEDBACK_KINDS}"
        )
    assets = task_paths(cache_dir, seed=seed, config=config)
    root = assets.root
    if prebuilt and not os.environ.get("ALIGNLAB_NO_PREBUILT_TASK") and not root.exists():
        from alignlab.task.prebuilt import archive_path, unpack

        archive = archive_path(root.name.removeprefix("task-"))
        if archive.is_file():
            if on_build is not None:
                on_build("prebuilt")
            unpack(archive, root)
    (root / "feedback").mkdir(parents=True, exist_ok=True)
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
