"""The reference log-probs cache that DPO and KTO trials share (``cache_reference: true``, on in sweeps).

The reference policy's log-probs of each train row depend only on the reference model, the rows and
the tokenisation, never on the trial's hyperparameters. The first trial lets TRL compute them
(``precompute_ref_log_probs=True``) and they are stored under studies/cache/reflogps/, keyed by a
content hash of the reference weights, the tokenizer, the rows and the TRL fields that change the
tokenised rows. Later trials (in any process) skip the reference forward passes: their tokenised
train set gets the stored values as TRL's reference columns. Values are looked up per row by its token
ids, so rows TRL drops or reorders cannot misalign them. A :class:`Layout` names, per trainer, the
columns that identify a row and the columns TRL reads the reference log-probs from.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alignlab.paths import cache_dir, write_atomic
from alignlab.run.algorithms.common import trl_class
from alignlab.run.algorithms.parts import Built, Models, Setup

CacheOutcome = Literal["hit", "miss"]


@dataclass(frozen=True)
class Layout:
    """How one trainer's tokenised train set holds its rows and their reference log-probs."""

    name: str
    """The cache files' prefix (``dpo``, ``kto``)."""
    keys: tuple[str, ...]
    """Token-id columns that identify a row (only those present in the data set are used)."""
    values: tuple[str, ...]
    """Columns TRL fills with the reference log-probs and reads back (only those it computes)."""
    tokenisation_fields: tuple[str, ...]
    """TRL config fields that change the tokenised rows or their truncation (part of the cache key)."""


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


def cache_key(layout: Layout, model_dir: Path, tokenizer_dir: Path, rows_fingerprint: str, args: Any) -> str:
    """The cache key: reference weights, tokenizer, rows and the TRL fields that change tokenisation."""
    parts = {
        "model": folder_fingerprint(str(model_dir)),
        "tokenizer": folder_fingerprint(str(tokenizer_dir)),
        "rows": rows_fingerprint,
        **{name: str(getattr(args, name, None)) for name in layout.tokenisation_fields},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def cache_path(layout: Layout, key: str) -> Path:
    return cache_dir() / "reflogps" / f"{layout.name}-{key}.json"


def _row_keys(dataset: Any, layout: Layout) -> list[str]:
    columns = [dataset[c] for c in layout.keys if c in dataset.column_names]
    return [hashlib.sha1(json.dumps(list(ids)).encode()).hexdigest() for ids in zip(*columns, strict=True)]


def load(layout: Layout, key: str) -> tuple[list[str], dict[str, list[float]]] | None:
    """The stored value columns and rows, or None (no file, or a file in another format)."""
    path = cache_path(layout, key)
    if not path.is_file():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(stored, dict) or "columns" not in stored or "rows" not in stored:
        return None
    return list(stored["columns"]), dict(stored["rows"])


def store_from(dataset: Any, layout: Layout, key: str) -> None:
    """Store the reference log-probs TRL added to a tokenised train set, atomically."""
    values = [c for c in layout.values if c in dataset.column_names]
    table = {
        row: [float(v) for v in vals]
        for row, *vals in zip(_row_keys(dataset, layout), *(dataset[c] for c in values), strict=True)
    }
    write_atomic(cache_path(layout, key), json.dumps({"columns": values, "rows": table}))


def attach(dataset: Any, layout: Layout, columns: list[str], table: dict[str, list[float]]) -> Any | None:
    """The tokenised train set with the stored columns added; None if any row is missing from the table."""
    keys = _row_keys(dataset, layout)
    if any(k not in table for k in keys):
        return None
    for i, column in enumerate(columns):
        dataset = dataset.add_column(column, [table[k][i] for k in keys])
    return dataset


def build_with_cached_reference(
    build: Callable[[Any], Any], args: Any, layout: Layout, key: str, *, expected: Callable[[Any], list[str]]
) -> tuple[Any, CacheOutcome]:
    """Build a trainer with ``build(args)``, its reference log-probs taken from the cache if there.

    On a hit the trainer is built without TRL's precompute pass and gets the stored columns (TRL then
    reads them from each batch instead of running the reference); ``expected(trainer)`` lists the
    columns this trainer needs (KTO's KL column only when it computes the KL term), so a file with
    others is a miss. On a miss TRL precomputes them (``precompute_ref_log_probs=True``) and they are
    stored for the next trial. With LoRA the reference is the base with the adapter off either way;
    without LoRA a hit still holds TRL's frozen reference copy in memory (built before the cache can be
    attached).
    """
    stored = load(layout, key)
    if stored is not None:
        columns, table = stored
        args.precompute_ref_log_probs = False
        trainer = build(args)
        attached = (
            attach(trainer.train_dataset, layout, columns, table) if columns == expected(trainer) else None
        )
        if attached is not None:
            trainer.train_dataset = attached
            trainer.precompute_ref_logps = True
            return trainer, "hit"
        # A row is missing (a stale or foreign file under this key): compute them with TRL's own pass
        # on this trainer (building a second one would wrap the PEFT model twice).
        batch_size = args.precompute_ref_batch_size or args.per_device_train_batch_size
        trainer.train_dataset = trainer._precompute_ref_logps(trainer.train_dataset, "train", batch_size)
        trainer.precompute_ref_logps = True
        store_from(trainer.train_dataset, layout, key)
        return trainer, "miss"
    args.precompute_ref_log_probs = True
    trainer = build(args)
    store_from(trainer.train_dataset, layout, key)
    return trainer, "miss"


def cached_reference_trainer(
    path: str, layout: Layout, *, expected: Callable[[Any], list[str]] | None = None
) -> Callable[[Setup, Models], Built]:
    """A ``make_trainer``: the TRL trainer at ``path`` (DPOTrainer, KTOTrainer) on the training rows, the
    reference the base with the adapter disabled (``ref_model=None``); with ``cache_reference`` its
    reference log-probs come from the cache (``expected(trainer)``: the columns it reads, default all of
    ``layout.values``). Tags the run ``reference_logps`` = off | miss | hit."""
    trainer_class = trl_class(path)

    def make_trainer(setup: Setup, models: Models) -> Built:
        from datasets import Dataset

        def build(trl_args: Any) -> Any:
            return trainer_class()(
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
        key = cache_key(layout, setup.model_dir, setup.tokenizer_dir, setup.data_fingerprint, setup.args)
        columns = expected or (lambda _: list(layout.values))
        trainer, outcome = build_with_cached_reference(build, setup.args, layout, key, expected=columns)
        return Built(trainer, {"reference_logps": outcome})

    return make_trainer
