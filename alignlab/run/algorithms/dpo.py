"""DPO (Rafailov et al. 2023) and its loss variants (IPO, hinge, robust, ...) with TRL's DPOTrainer.

With LoRA the reference is the base with the adapter disabled (``ref_model=None``): one copy of the
base weights in memory. ``loss_type`` is a list in trl 1.12 (``[sigmoid]``; ``[sigmoid, sft]`` is RPO);
TRL's DPOConfig turns a single string into that list itself.

The reference log-probs cache (``cache_reference: true``, on in sweeps): the reference policy's
log-probs of each train pair depend only on the reference model, the data and the tokenisation, never
on the trial's hyperparameters. The first trial lets TRL compute them (``precompute_ref_log_probs=True``)
and they are stored under studies/cache/reflogps/, keyed by a content hash of the reference weights,
the tokenizer, the rows and the length settings. Later trials (in any process) skip the reference
forward passes: their tokenised train set gets the stored values as TRL's ``ref_chosen_logps`` /
``ref_rejected_logps`` columns. Values are looked up per pair by its token ids, so rows TRL drops or
reorders cannot misalign them. The run is tagged ``alignlab.reference_logps`` = off | miss | hit.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from alignlab.paths import cache_dir, write_atomic
from alignlab.run.algorithms.interface import Built, Models, Setup

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings, RunConfig
    from alignlab.run.evaluation import EvalReport

TRAIN_KIND = "pairwise"
PEFT_TASK_TYPE = "CAUSAL_LM"
NEEDS_REWARD_MODEL = False
PARAMS: Mapping[str, str] = {}
#: From the help text of trl 1.12.0 DPOConfig.loss_type (TRL checks it only at the first loss call).
CHOICES: Mapping[str, tuple[str, ...]] = {
    "loss_type": (
        "sigmoid",
        "hinge",
        "ipo",
        "exo_pair",
        "nca_pair",
        "robust",
        "bco_pair",
        "sppo_hard",
        "aot",
        "aot_unpaired",
        "apo_zero",
        "apo_down",
        "discopop",
        "sft",
        "sigmoid_norm",
    ),
}


def config_class() -> type:
    from trl import DPOConfig

    return DPOConfig


def trl_settings(config: RunConfig) -> dict[str, Any]:
    return {}


def load_models(model_dir: Path, reward_dir: Path | None, tokenizer: Any) -> Models:
    from alignlab.models import load_causal_lm

    return Models(policy=load_causal_lm(model_dir, device="cpu"))


def callbacks(config: RunConfig, args: Any) -> list[Any]:
    return []


def make_trainer(setup: Setup, models: Models) -> Built:
    """The DPOTrainer; with ``cache_reference`` its reference log-probs come from the on-disk cache."""
    from datasets import Dataset
    from trl import DPOTrainer

    def build(trl_args: Any) -> Any:
        return DPOTrainer(
            model=models.policy,
            ref_model=None,
            args=trl_args,
            train_dataset=Dataset.from_list(setup.rows),
            processing_class=setup.tokenizer,
            peft_config=setup.peft_config,
            callbacks=setup.callbacks,
        )

    if not setup.config.cache_reference:
        return Built(build(setup.args), {"reference_logps": "off"})
    key = cache_key(setup.model_dir, setup.tokenizer_dir, setup.data_fingerprint, setup.args)
    trainer, outcome = build_with_cached_reference(build, setup.args, key)
    return Built(trainer, {"reference_logps": outcome})


def policy_of(trainer: Any) -> Any:
    return trainer.model


def evaluate(
    trainer: Any, models: Models, setup: Setup, data: RunData, settings: EvalSettings, memo: dict[str, Any]
) -> EvalReport:
    from alignlab.run.evaluation import evaluate_trained_policy

    return evaluate_trained_policy(trainer.model, trainer, models, setup, data, settings, memo)


def stop_pruned(control: Any) -> None:
    control.should_training_stop = True


# ---- the reference log-probs cache ---------------------------------------------------------------

#: TRL fields that change the tokenised pairs (and so the log-probs).
TOKENISATION_FIELDS = ("max_length", "truncation_mode", "padding_free", "use_logits_to_keep", "ld_alpha")


@functools.lru_cache(maxsize=16)
def folder_fingerprint(folder: str) -> str:
    """A content hash of a model folder's weight and config files (computed once per process)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.suffix in (".safetensors", ".bin", ".json") and path.is_file():
            digest.update(path.name.encode())
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def cache_key(model_dir: Path, tokenizer_dir: Path, rows_fingerprint: str, args: Any) -> str:
    """The cache key: reference weights, tokenizer, rows and the TRL fields that change tokenisation."""
    parts = {
        "model": folder_fingerprint(str(model_dir)),
        "tokenizer": folder_fingerprint(str(tokenizer_dir)),
        "rows": rows_fingerprint,
        **{name: str(getattr(args, name, None)) for name in TOKENISATION_FIELDS},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def cache_path(key: str) -> Path:
    return cache_dir() / "reflogps" / f"dpo-{key}.json"


def pair_key(prompt_ids: list[int], chosen_ids: list[int], rejected_ids: list[int]) -> str:
    return hashlib.sha1(json.dumps([prompt_ids, chosen_ids, rejected_ids]).encode()).hexdigest()


def load(key: str) -> dict[str, list[float]] | None:
    path = cache_path(key)
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def store_from(dataset: Any, key: str) -> None:
    """Store the ref log-probs TRL added to a tokenised train set, atomically."""
    table = {
        pair_key(p, c, r): [float(rc), float(rr)]
        for p, c, r, rc, rr in zip(
            dataset["prompt_ids"],
            dataset["chosen_ids"],
            dataset["rejected_ids"],
            dataset["ref_chosen_logps"],
            dataset["ref_rejected_logps"],
            strict=True,
        )
    }
    write_atomic(cache_path(key), json.dumps(table))


def attach(dataset: Any, table: dict[str, list[float]]) -> Any | None:
    """The tokenised train set with the stored columns added; None if any pair is missing from the table."""
    keys = [
        pair_key(p, c, r)
        for p, c, r in zip(dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"], strict=True)
    ]
    if any(k not in table for k in keys):
        return None
    dataset = dataset.add_column("ref_chosen_logps", [table[k][0] for k in keys])
    return dataset.add_column("ref_rejected_logps", [table[k][1] for k in keys])


CacheOutcome = Literal["hit", "miss"]


def build_with_cached_reference(build: Callable[[Any], Any], args: Any, key: str) -> tuple[Any, CacheOutcome]:
    """Build a DPOTrainer with ``build(args)``, its reference log-probs taken from the cache if there.

    On a hit the trainer is built without TRL's precompute pass and gets the stored columns (TRL then
    reads ``ref_chosen_logps``/``ref_rejected_logps`` from each batch instead of running the reference).
    On a miss TRL precomputes them (``precompute_ref_log_probs=True``) and they are stored for the next
    trial. With LoRA the reference is the base with the adapter off either way; without LoRA a hit still
    holds TRL's frozen reference copy in memory (it is built before the cache can be attached).
    """
    table = load(key)
    if table is not None:
        args.precompute_ref_log_probs = False
        trainer = build(args)
        attached = attach(trainer.train_dataset, table)
        if attached is not None:
            trainer.train_dataset = attached
            trainer.precompute_ref_logps = True
            return trainer, "hit"
        # A pair is missing (a stale or foreign file under this key): compute them with TRL's own pass
        # on this trainer (building a second one would wrap the PEFT model twice).
        batch_size = args.precompute_ref_batch_size or args.per_device_train_batch_size
        trainer.train_dataset = trainer._precompute_ref_logps(trainer.train_dataset, "train", batch_size)
        trainer.precompute_ref_logps = True
        store_from(trainer.train_dataset, key)
        return trainer, "miss"
    args.precompute_ref_log_probs = True
    trainer = build(args)
    store_from(trainer.train_dataset, key)
    return trainer, "miss"
